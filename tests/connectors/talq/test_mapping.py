"""TALQ readings to lamp events, and our lighting commands to TALQ override commands."""

from __future__ import annotations

import pytest

from connectors.feed import Rejected
from connectors.talq.mapping import override_command, readings_of
from connectors.talq.run import TalqConnector
from streams.schemas import CommandRequest, LampFault, LampTelemetry

TS = 1795208400000  # 2026-11-20T21:00:00Z


def _command(action: str, level: float | None = None, targets=("LP-000001", "LP-000002")) -> CommandRequest:
    return CommandRequest(asset_id="CAB-0001", ts=TS, command_id="CMD-1", action=action, targets=list(targets),
                          expires_at=TS + 3_600_000, user="op1", reason="night plan", level=level)


def test_readings_map_to_telemetry_and_changed_flags(registry, readings, now):
    sent = []
    connector = TalqConnector(None, sent.append, registry=registry, clock=lambda: now)
    report = connector.handle_readings(readings)
    telemetry = [e for e in sent if isinstance(e, LampTelemetry)]
    assert [(e.asset_id, e.power_state, e.level, e.power_w, e.energy_wh, e.voltage_v, e.cabinet_id)
            for e in telemetry] == [("LP-000001", "low", 70.0, 27.6, 15234.0, 231.2, "CAB-0001"),
                                    ("LP-000002", "off", 0.0, 0.0, 9876.5, 0.0, "CAB-0001")]
    faults = {(e.asset_id, e.fault, e.active) for e in sent if isinstance(e, LampFault)}
    assert faults == {("LP-000001", "lampFailure", False), ("LP-000001", "dimmingFailure", True),
                      ("LP-000001", "supplyLoss", False), ("LP-000001", "controlGearCommFailure", False),
                      ("LP-000002", "supplyLoss", True)}
    reasons = [r["reason"] for r in report["rejected"]]
    assert "unknown device" in reasons[0]
    assert "power_w" in reasons[1]
    assert "without a device" in reasons[2]
    assert "must be a JSON object" in reasons[3]
    assert report["events"] == len(sent)
    sent.clear()
    connector.handle_readings(readings)
    assert not any(isinstance(e, LampFault) for e in sent)  # flags unchanged: no new fault events


def test_malformed_bodies_are_rejected(registry):
    connector = TalqConnector(None, lambda e: None, registry=registry)
    with pytest.raises(Rejected, match="malformed JSON"):
        connector.handle_body(b"{nope")
    with pytest.raises(Rejected, match="expected TALQ readings"):
        readings_of(42, now_ms=TS)
    assert connector.health()["rejected"] == 1


def test_override_commands():
    dim = override_command(_command("dim", 50.0), ["LP-000001"])
    assert dim["overrides"] == [{"address": "LP-000001", "targetLightCommand": 50.0,
                                 "start": "2026-11-20T21:00:00Z", "expiration": "2026-11-20T22:00:00Z"}]
    assert dim["commandId"] == "CMD-1" and dim["function"] == "LampActuator"
    assert override_command(_command("switch_on"), ["LP-1"])["overrides"][0]["targetLightCommand"] == 100.0
    assert override_command(_command("switch_off"), ["LP-1"])["overrides"][0]["targetLightCommand"] == 0.0
    with pytest.raises(Rejected, match="not a lighting command"):
        override_command(_command("flash"), ["SIG-001"])
