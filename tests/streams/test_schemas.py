"""Event schemas: what they accept, what they refuse and why."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from streams.schemas import (
    EVENT_TYPES, CommandRequest, IncidentReport, InvalidEvent, LampTelemetry, Validator, WeatherObservation, encode,
)

NOW = 1795600000000  # 2026-11-25
V = Validator(max_future_s=600, clock=lambda: NOW / 1000)

GOOD = {
    "lamp.telemetry": dict(asset_id="LP-000001", ts=NOW, power_state="low", level=70, power_w=28.0, energy_wh=1500.0),
    "lamp.fault": dict(asset_id="LP-000001", ts=NOW, fault="lampFailure", active=True, cabinet_id="CAB-0001"),
    "cabinet.metering": dict(asset_id="CAB-0001", ts=NOW, energy_kwh=12.5, active_power_kw=1.2,
                             working_mode="automatic", supply_ok=True, lamps_on=40, lamps_total=40),
    "signal.status": dict(asset_id="SIG-001", ts=NOW, mode="normal"),
    "signal.fault": dict(asset_id="SIG-001", ts=NOW, fault="lampOut", active=True),
    "bus.priority": dict(asset_id="SIG-001", ts=NOW, phase="request", request_id="R1", bus_id="BUS-012", line="L5"),
    "camera.health": dict(asset_id="CAM-001", ts=NOW, state="online"),
    "weather.observation": dict(asset_id="WS-01", ts=NOW, temperature_c=4.5, road_temperature_c=-1.0,
                                humidity_pct=90, wind_speed_ms=3, gust_ms=7, precipitation_mm_h=0),
    "incident.report": dict(asset_id="RPT-1", ts=NOW, category="pothole", lat=47.3213, lon=5.0414, source="citizen"),
    "command.request": dict(asset_id="commune:21231", ts=NOW, command_id="CMD-1", action="dim", level=50,
                            targets=["commune:21231"], expires_at=NOW + 3600000, user="op1", reason="test"),
    "command.ack": dict(asset_id="CAB-0001", ts=NOW, command_id="CMD-1", status="done", applied=40),
    "alert.transition": dict(asset_id="LP-000001", ts=NOW, alert_id="A-1", rule="lamp_failure", state="open",
                             severity="minor", domain="lighting", title="Lampe en panne"),
}


def raw(kind, **changes):
    body = {"kind": kind, **GOOD[kind], **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def reason(data: bytes) -> str:
    with pytest.raises(InvalidEvent) as info:
        V.decode(data)
    return info.value.reason


def test_one_good_example_per_kind_decodes_and_round_trips():
    assert set(GOOD) == {t.__struct_config__.tag for t in EVENT_TYPES}
    for kind in GOOD:
        event = V.decode(raw(kind))
        assert event.kind == kind
        assert V.decode(encode(event)) == event


def test_decoded_events_stay_out_of_the_garbage_collector():
    import gc

    for kind in GOOD:  # a backlog holds hundreds of thousands: the collector must not walk them
        assert not gc.is_tracked(V.decode(raw(kind))), kind


@pytest.mark.parametrize("data, words", [
    (b"{not json", "malformed JSON"),
    (b"", "malformed JSON"),
    (b"[1, 2]", "Expected `object`"),
    (b'{"kind": "lamp.teleport", "asset_id": "x", "ts": 1}', "unknown event kind"),
    (b'{"asset_id": "x", "ts": 1}', "kind"),
])
def test_malformed_input_is_refused_with_a_reason(data, words):
    assert words in reason(data)


def test_missing_field_wrong_type_and_unknown_field():
    assert "missing required field `level`" in reason(raw("lamp.telemetry", level=...))
    assert "Expected `float`, got `str` - at `$.power_w`" in reason(raw("lamp.telemetry", power_w="thirty"))
    assert "unknown field `colour`" in reason(raw("lamp.telemetry", colour="red"))


def test_out_of_range_values():
    assert "$.level" in reason(raw("lamp.telemetry", level=140))
    assert "$.level" in reason(raw("command.request", level=-5))
    assert "$.humidity_pct" in reason(raw("weather.observation", humidity_pct=120))
    assert "gust_ms is below wind_speed_ms" in reason(raw("weather.observation", wind_speed_ms=20, gust_ms=5))


def test_position_outside_the_metropolis():
    assert "outside the metropolis" in reason(raw("incident.report", lat=48.8566, lon=2.3522))  # Paris


def test_timestamps_in_the_future_or_before_the_contract():
    assert "in the future" in reason(raw("camera.health", ts=NOW + 3600 * 1000))
    V.decode(raw("camera.health", ts=NOW + 300 * 1000))  # within the allowed clock skew
    assert "$.ts" in reason(raw("camera.health", ts=1000))


def test_schema_version_and_cross_field_rules():
    assert "unsupported schema version 2" in reason(raw("camera.health", v=2))
    assert "needs a level" in reason(raw("command.request", level=...))
    assert "expires_at is not after ts" in reason(raw("command.request", expires_at=NOW))


def test_decode_batch_separates_good_from_bad():
    oks, errs = V.decode_batch([raw("signal.status"), b"garbage", raw("signal.status", mode="disco")])
    assert [e.kind for e in oks] == ["signal.status"]
    assert [i for i, _ in errs] == [1, 2]
    assert "$.mode" in errs[1][1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_validator(data):
    try:
        V.decode(data)
    except InvalidEvent as exc:
        assert exc.reason


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(GOOD)), key=st.sampled_from(["asset_id", "ts", "level", "lat", "state", "mode"]),
       value=json_values)
def test_random_field_corruption_is_accepted_only_when_valid(kind, key, value):
    body = {"kind": kind, **GOOD[kind], key: value}
    try:
        event = V.decode(json.dumps(body).encode())
    except InvalidEvent as exc:
        assert exc.reason
    else:
        assert V.decode(encode(event)) == event  # what is accepted is a well-formed event


def test_structs_validate_on_construction_paths_too():
    event = LampTelemetry(asset_id="LP-1", ts=NOW, power_state="on", level=100, power_w=40, energy_wh=0)
    assert json.loads(encode(event))["kind"] == "lamp.telemetry"
    assert isinstance(V.decode(raw("incident.report")), IncidentReport)
    assert isinstance(V.decode(raw("weather.observation")), WeatherObservation)
    assert isinstance(V.decode(raw("command.request")), CommandRequest)


def test_ids_are_checked_in_every_id_field_once_per_distinct_id(monkeypatch):
    import streams.schemas as schemas

    v = Validator(max_future_s=600, clock=lambda: NOW / 1000)
    monkeypatch.setattr(schemas, "_WELL_FORMED_IDS_MAX", 4)  # remembered ids are forgotten past a bound
    good = [raw("lamp.telemetry", asset_id=f"LP-{i}", cabinet_id=f"CAB-{i % 2}") for i in range(6)]
    bad = {
        "asset_id 'LP 1'": raw("lamp.telemetry", asset_id="LP 1"),
        "asset_id 'LP-1\\n'": raw("lamp.telemetry", asset_id="LP-1\n"),  # no trailing newline slips through
        "cabinet_id '-CAB'": raw("lamp.fault", cabinet_id="-CAB"),
        "targets 'LP/2'": raw("command.request", targets=["LP-1", "LP/2"]),
        "alert_id '#1'": raw("alert.transition", alert_id="#1"),
    }
    for _ in range(2):  # first sight (checked) and again (remembered, or forgotten and checked again)
        items = v.decode_many([*good, *bad.values()], now=NOW)
        assert [type(i).__name__ for i in items[:6]] == ["LampTelemetry"] * 6
        for words, item in zip(bad, items[6:]):
            assert isinstance(item, str) and words in item and "not a valid id" in item
    assert len(v._ids) <= 4 + 1
    with pytest.raises(InvalidEvent, match="not a valid id"):
        v.decode(raw("camera.health", asset_id="CAM 9"))
