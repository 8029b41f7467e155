"""What the connectors share: health with its log line and callback, backoff, ids, times and lenient JSON."""

from __future__ import annotations

import logging

import pytest

from connectors.feed import (
    Backoff,
    EdgeFilter,
    FeedHealth,
    Rejected,
    classify_incident,
    loads_lenient,
    make_event,
    parse_time_ms,
    safe_asset_id,
)
from streams.schemas import LampFault


def test_health_goes_degraded_then_down_then_up_with_one_log_line_each(caplog):
    changes = []
    health = FeedHealth("open311", down_after=2, clock=lambda: 1795208700.0, on_change=changes.append)
    with caplog.at_level(logging.INFO, logger="connectors.feed"):
        health.failed("HTTP 500")
        health.failed("HTTP 500")
        health.failed("HTTP 500")
        health.ok(3)
    assert [c["state"] for c in changes] == ["degraded", "down", "up"]
    assert [r.getMessage() for r in caplog.records] == [
        "feed=open311 state=degraded reason=HTTP 500", "feed=open311 state=down reason=HTTP 500",
        "feed=open311 state=up reason=-"]
    snapshot = health.snapshot()
    assert snapshot["available"] is True and snapshot["events"] == 3 and snapshot["last_ok"] == "2026-11-20T21:05:00Z"


def test_backoff_doubles_up_to_its_maximum_and_resets():
    backoff = Backoff(1.0, maximum=5.0, jitter=0.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def _fault(active: bool, asset_id: str = "LP-1") -> LampFault:
    return LampFault(asset_id=asset_id, ts=1795208700000, fault="lampFailure", active=active)


def test_edge_filter_passes_changes_once_delivered():
    edges = EdgeFilter()
    batch = [_fault(False), _fault(False), _fault(True), _fault(True), _fault(False)]
    assert [e.active for e in edges.fresh(batch)] == [False, True, False]
    assert len(edges.fresh([_fault(True)])) == 1  # nothing delivered yet: still fresh
    edges.remember([_fault(True)])
    assert edges.fresh([_fault(True)]) == [] and len(edges.fresh([_fault(False), _fault(True, "LP-2")])) == 2


def test_safe_asset_ids():
    assert safe_asset_id("urn:ngsi-ld:Streetlight:LP-000001") == "urn:ngsi-ld:Streetlight:LP-000001"
    odd = safe_asset_id("Rue de la Liberté / n°12")
    assert odd.startswith("Rue-de-la-Libert-") and len(odd) <= 64 and odd == safe_asset_id("Rue de la Liberté / n°12")
    assert safe_asset_id("a b") != safe_asset_id("a/b")
    assert len(safe_asset_id("x" * 200)) == 64


@pytest.mark.parametrize("value, expected", [
    ("2016-11-30T07:00:00.00Z", 1480489200000),
    ("2010-04-14T06:37:38-08:00", 1271255858000),
    ("2019-06-06T12:06:06", 1559822766000),
    ("2016-12-07T11:10:00/2016-12-07T11:15:00", 1481109300000),
    ({"@type": "DateTime", "@value": "2016-11-30T07:00:00Z"}, 1480489200000),
    (1480489200, 1480489200000),
    ("yesterday", None),
    (None, None),
    (True, None),
])
def test_times(value, expected):
    assert parse_time_ms(value) == expected


def test_lenient_json():
    assert loads_lenient(b'[{"service_code":006, "n": [01, 2]}]') == [{"service_code": "006", "n": ["01", 2]}]
    assert loads_lenient('{"a": 0, "b": -0.5}') == {"a": 0, "b": -0.5}
    with pytest.raises(Rejected, match="malformed JSON"):
        loads_lenient(b"<html>")


def test_make_event_rejects_with_the_reason():
    ok = make_event(LampFault, {"asset_id": "LP-1", "ts": 1795208700000, "fault": "supplyLoss", "active": True,
                                "cabinet_id": None}, now_ms=1795208700000)
    assert ok.cabinet_id is None
    with pytest.raises(Rejected, match="lamp.fault: Invalid enum value 'meltdown'"):
        make_event(LampFault, {"asset_id": "LP-1", "ts": 1795208700000, "fault": "meltdown", "active": True},
                   now_ms=1795208700000)
    with pytest.raises(Rejected, match="in the future"):
        make_event(LampFault, {"asset_id": "LP-1", "ts": 1795208700000 + 3_600_000, "fault": "supplyLoss",
                               "active": True}, now_ms=1795208700000)


@pytest.mark.parametrize("texts, category", [
    (("Éclairage public en panne", "ECL01"), "street_light_out"),
    (("Feux tricolores",), "traffic_light_fault"),
    (("pothole",), "pothole"),
    (("trafficJam", "traffic"), "other"),
    (("Verglas",), "ice"),
])
def test_incident_keywords(texts, category):
    assert classify_incident(*texts) == category
