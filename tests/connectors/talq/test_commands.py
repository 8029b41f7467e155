"""Our dim/switch commands posted to a local TALQ system, and every answer turned into a command ack."""

from __future__ import annotations

import pytest

from connectors.feed import Backoff
from connectors.talq.client import TalqClient
from connectors.talq.run import TalqConnector
from streams.broker import free_port
from streams.schemas import CommandRequest

TS = 1795208400000


def _command(action="dim", targets=("LP-000001", "LP-000002", "CAM-001"), expires=3_600_000) -> CommandRequest:
    return CommandRequest(asset_id="CAB-0001", ts=TS, command_id="CMD-9", action=action, targets=list(targets),
                          expires_at=TS + expires, user="op1", reason="test", level=40.0 if action == "dim" else None)


def _connector(url, registry, now, sleeps=None):
    client = TalqClient(url, retries=2, sleep=(sleeps if sleeps is not None else []).append,
                        backoff=lambda: Backoff(1.0, jitter=0.0), timeout=2)
    return TalqConnector(client, lambda e: None, registry=registry, clock=lambda: now)


@pytest.mark.parametrize("mode, status, applied", [("results", "done", 2), ("empty", "accepted", 2),
                                                   ("partial", "accepted", 1), ("400", "rejected", 0)])
def test_answers_become_acks(cms, registry, now, mode, status, applied):
    cms.mode = mode
    ack = _connector(cms.url, registry, now).handle_command(_command())
    assert (ack.status, ack.applied, ack.command_id, ack.asset_id) == (status, applied, "CMD-9", "CAB-0001")
    (posted,) = cms.received
    assert [o["address"] for o in posted["overrides"]] == ["LP-000001", "LP-000002"]  # the camera is not lighting
    assert posted["overrides"][0]["targetLightCommand"] == 40.0


def test_a_dead_endpoint_fails_the_command_after_retries(cms, registry, now):
    cms.mode = "500"
    sleeps: list = []
    connector = _connector(cms.url, registry, now, sleeps)
    ack = connector.handle_command(_command("switch_off"))
    assert ack.status == "failed" and "unavailable" in ack.detail
    assert sleeps == [1.0, 2.0] and len(cms.received) == 3
    assert connector.health()["state"] == "degraded"


def test_nobody_listening(registry, now):
    ack = _connector(f"http://127.0.0.1:{free_port()}/talq", registry, now).handle_command(_command())
    assert ack.status == "failed"


def test_expired_and_foreign_commands(cms, registry, now):
    connector = _connector(cms.url, registry, now)
    expired = connector.handle_command(_command(expires=60_000))
    assert expired.status == "expired" and cms.received == []
    assert connector.handle_command(_command("flash", targets=("SIG-001",))) is None
    assert connector.handle_command(_command(targets=("CAM-001",))) is None


def test_back_to_the_programme_is_refused_at_once_not_left_to_time_out(cms, registry, now):
    ack = _connector(cms.url, registry, now).handle_command(_command("normal"))
    assert ack.status == "rejected" and "expiration" in ack.detail and cms.received == []
