"""The Open311 loop: de-duplication by service_request_id, updates, saved state, health, and resolutions posted back."""

from __future__ import annotations

import threading

import pytest

from connectors.feed import Backoff, FeedUnavailable
from connectors.open311.client import Open311Client
from connectors.open311.run import Open311Connector
from streams.schemas import AlertTransition


def _connector(city, sent, now, tmp_path=None, **kwargs):
    client = Open311Client(city.url, page_size=3, retries=1, sleep=lambda s: None,
                           backoff=lambda: Backoff(1.0, jitter=0.0), status_url=city.base + "/status")
    state = tmp_path / "open311_state.json" if tmp_path else None
    return Open311Connector(client, sent.append, state_path=state, clock=lambda: now, **kwargs)


def test_a_poll_sends_new_reports_once(city, now):
    sent: list = []
    connector = _connector(city, sent, now)
    report = connector.poll_once()
    assert (report.read, len(report.sent), len(report.rejected)) == (8, 4, 4)
    assert [e.asset_id for e in sent] == ["open311-DJ-2026-000101", "open311-DJ-2026-000102",
                                          "open311-DJ-2026-000103", "open311-DJ-2026-000104"]
    again = connector.poll_once()
    assert len(again.sent) == 0 and again.unchanged == 4
    assert connector.health()["state"] == "up" and connector.health()["rejected"] == 8


def test_an_update_is_sent_again(city, dijon_rows, now):
    sent: list = []
    connector = _connector(city, sent, now)
    connector.poll_once()
    dijon_rows[0].update(status="closed", updated_datetime="2026-11-20T21:30:00+01:00", status_notes="Lampe changée")
    report = connector.poll_once()
    assert [(e.external_id, e.status) for e in report.sent] == [("DJ-2026-000101", "closed")]
    assert sent[-1].asset_id == sent[0].asset_id  # the same report, updated


def test_state_survives_a_restart(city, now, tmp_path):
    first: list = []
    _connector(city, first, now, tmp_path).poll_once()
    second: list = []
    connector = _connector(city, second, now + 300, tmp_path)
    assert connector.window(int((now + 300) * 1000))[0] == int(now * 1000) - 600_000
    connector.poll_once()
    assert len(first) == 4 and second == []


def test_a_dead_server_marks_the_feed_down_and_the_loop_keeps_going(city, now):
    city.mode = "500"
    connector = _connector(city, [], now)
    for _ in range(3):
        with pytest.raises(FeedUnavailable):
            connector.poll_once()
    health = connector.health()
    assert health["state"] == "down" and health["available"] is False and "HTTP 500" in health["reason"]
    assert connector.run(interval_s=0.01, stop=threading.Event(), once=True) == 1
    city.mode = "ok"
    assert connector.run(interval_s=0.01, stop=threading.Event(), once=True) == 0
    assert connector.health()["state"] == "up"


def test_the_loop_backs_off_until_stopped(city, now):
    city.mode = "garbage"
    connector = _connector(city, [], now)
    stop = threading.Event()
    waits: list = []

    class Recording(Backoff):
        def next(self):
            delay = super().next()
            waits.append(delay)
            if len(waits) == 3:
                stop.set()
            return 0.0

    connector.run(interval_s=60, stop=stop, backoff=Recording(1.0, jitter=0.0))
    assert waits == [1.0, 2.0, 4.0]


def _transition(state: str, asset_id: str = "open311-DJ-2026-000101") -> AlertTransition:
    return AlertTransition(asset_id=asset_id, ts=1795208800000, alert_id="AL-1", rule="citizen_report",
                           state=state, severity="minor", domain="incidents", title="Lampadaire éteint")


def test_a_resolved_alert_is_posted_back(city, now):
    connector = _connector(city, [], now)
    assert connector.on_alert(_transition("acknowledged")) is False
    assert connector.on_alert(_transition("resolved", asset_id="LP-000001")) is False
    assert connector.on_alert(_transition("resolved")) is True
    (post,) = city.posts
    assert post["service_request_id"] == "DJ-2026-000101" and post["status"] == "closed"
    assert post["status_notes"].startswith("Resolved in the control room")
    assert post["updated_datetime"] == "2026-11-20T21:06:40Z"
