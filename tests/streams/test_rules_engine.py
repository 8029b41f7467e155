"""The alert engine without Kafka or a database: de-duplication, clearing, flapping, topology, fusion, timers."""

from __future__ import annotations

import pytest

from streams.rules import load_rules
from streams.rules_engine import AlertEngine
from streams.schemas import (
    CabinetMetering,
    CameraHealth,
    IncidentReport,
    LampFault,
    LampTelemetry,
    SignalStatus,
    WeatherObservation,
)
from streams.store.inventory import asset_rows

T = 1_750_000_000_000
MIN = 60_000
RULES = load_rules()


@pytest.fixture
def engine(small_inventory):
    return AlertEngine(RULES, inventory=asset_rows(small_inventory.assets))


def lamp_row(inv, i=0):
    return inv.assets[inv.assets["kind"] == "light"].iloc[i]


def fault(asset, active, ts, kind="lampFailure", cabinet=None):
    return LampFault(asset_id=asset, ts=ts, fault=kind, active=active, cabinet_id=cabinet)


def telemetry(asset, ts, energy=100.0, status="ok", power_state="on"):
    return LampTelemetry(asset_id=asset, ts=ts, power_state=power_state, level=100.0, power_w=30.0,
                         energy_wh=energy, status=status)


def metering(cab, ts, ok=True, energy=10.0):
    return CabinetMetering(asset_id=cab, ts=ts, energy_kwh=energy, active_power_kw=1.0 if ok else 0.0,
                           working_mode="automatic", supply_ok=ok, lamps_on=40 if ok else 0, lamps_total=40)


def active_rules(engine):
    return {(a.rule, a.asset_id) for a in engine.active.values()}


def test_fault_opens_one_alert_counts_occurrences_and_clear_resolves(engine):
    engine.apply(fault("LP-000001", True, T), "lighting.faults")
    engine.apply(fault("LP-000001", True, T + MIN), "lighting.faults")
    engine.apply(fault("LP-000001", True, T + 2 * MIN), "lighting.faults")
    out = engine.drain()
    assert len(out.new_alerts) == 1
    alert = next(iter(out.new_alerts.values()))
    assert (alert.rule, alert.count, alert.state, alert.priority) == ("lamp_failure", 3, "open", "P3")
    assert alert.due_ts == T + 72 * 3_600_000
    assert alert.lat is not None and alert.commune_code == "21231"
    assert [t["action"] for t in out.transitions] == ["open"]
    assert engine.records["LP-000001"].state == "fault"
    engine.apply(fault("LP-000001", False, T + 3 * MIN), "lighting.faults")
    out = engine.drain()
    assert [(r["id"], r["actor"]) for r in out.resolutions] == [(alert.id, "system")]
    assert ("lamp_failure", "LP-000001") not in engine.active
    assert engine.records["LP-000001"].state != "fault"


def test_state_intervals_follow_state_changes(engine):
    engine.apply(telemetry("LP-000002", T, power_state="on"), "lighting.telemetry")
    engine.apply(telemetry("LP-000002", T + MIN, power_state="low"), "lighting.telemetry")
    engine.apply(fault("LP-000002", True, T + 2 * MIN), "lighting.faults")
    out = engine.drain()
    rows = sorted(out.intervals.values(), key=lambda r: r["start_ts"])
    assert [(r["start_ts"] - T, r["end_ts"] - T, r["state"]) for r in rows] == [(0, MIN, "on"), (MIN, 2 * MIN, "low")]
    # the current interval is not written twice: it is the asset's state since last_changed
    (row,) = out.asset_rows()
    assert (row["state"], row["last_changed"] - T) == ("fault", 2 * MIN)


def test_an_event_older_than_the_current_interval_changes_the_state_from_its_start(engine):
    engine.apply(telemetry("LP-000002", T, power_state="on"), "lighting.telemetry")
    engine.apply(telemetry("LP-000002", T + 2 * MIN, power_state="low"), "lighting.telemetry")
    engine.apply(telemetry("LP-000002", T + MIN, power_state="off"), "lighting.telemetry")  # late
    out = engine.drain()
    assert [(r["start_ts"] - T, r["end_ts"] - T, r["state"]) for r in out.intervals.values()] == [(0, 2 * MIN, "on")]
    (row,) = out.asset_rows()
    assert (row["state"], row["last_changed"] - T) == ("off", 2 * MIN)  # no interval goes back in time


def test_energy_is_the_difference_of_meters_per_cabinet_and_hour(engine, small_inventory):
    lamp = lamp_row(small_inventory)
    engine.apply(telemetry(lamp.asset_id, T, energy=1000.0), "lighting.telemetry")
    engine.apply(telemetry(lamp.asset_id, T + 15 * MIN, energy=1010.0), "lighting.telemetry")
    engine.apply(telemetry(lamp.asset_id, T + 30 * MIN, energy=1025.0), "lighting.telemetry")
    engine.apply(metering(lamp.cabinet_id, T, energy=50.0), "lighting.cabinets")
    engine.apply(metering(lamp.cabinet_id, T + 5 * MIN, energy=50.5), "lighting.cabinets")
    out = engine.drain()
    rows = out.energy_rows()
    assert sum(r["lamp_kwh"] for r in rows) == pytest.approx(0.025)
    assert sum(r["kwh"] for r in rows) == pytest.approx(0.5)
    assert {r["cabinet_id"] for r in rows} == {lamp.cabinet_id}


def test_flapping_keeps_one_alert_open_then_settles(engine):
    ts = T
    for i in range(8):
        engine.apply(fault("LP-000003", i % 2 == 0, ts), "lighting.faults")
        ts += MIN
    out = engine.drain()
    opened = [t for t in out.transitions
              if t["action"] == "open" and out.new_alerts[t["alert_id"]].rule == "lamp_failure"]
    # raise, clear (resolved), raise, clear: the 4th toggle in the window marks flapping; no more alerts after.
    assert len(opened) == 2
    alert = engine.active[("lamp_failure", "LP-000003")]
    assert alert.flapping and alert.details["pending_clear_ts"] == ts - MIN
    engine.tick(ts + 5 * MIN)
    assert ("lamp_failure", "LP-000003") in engine.active
    engine.tick(ts + 11 * MIN)
    out = engine.drain()
    assert [r["comment"] for r in out.resolutions if r["id"] == alert.id] == ["stable again after flapping"]
    assert ("lamp_failure", "LP-000003") not in engine.active


def test_cabinet_supply_loss_absorbs_its_lamps_in_either_order(engine, small_inventory):
    lamps = small_inventory.assets[small_inventory.assets["kind"] == "light"]
    cab = lamps.iloc[0].cabinet_id
    mine = list(lamps[lamps["cabinet_id"] == cab]["asset_id"])
    engine.apply(fault(mine[0], True, T, "supplyLoss", cab), "lighting.faults")  # before the cabinet says so
    engine.apply(metering(cab, T + 1000, ok=False), "lighting.cabinets")
    for lamp in mine[1:]:
        engine.apply(fault(lamp, True, T + 2000, "supplyLoss", cab), "lighting.faults")
    parent = engine.active[("cabinet_supply_loss", cab)]
    children = [a for a in engine.active.values() if a.rule == "lamp_supply_loss"]
    assert len(children) == len(mine)
    assert all(c.parent_id == parent.id for c in children)
    assert parent.details["absorbed"] == len(mine)
    assert engine.records[cab].state == "fault"
    engine.drain()
    engine.apply(metering(cab, T + 10 * MIN, ok=True), "lighting.cabinets")
    out = engine.drain()
    assert {r["id"] for r in out.resolutions} == {parent.id, *(c.id for c in children)}
    assert not [a for a in engine.active.values() if a.rule.endswith("supply_loss")]


def test_street_light_out_report_fuses_into_a_nearby_lamp_fault(engine, small_inventory):
    lamp = lamp_row(small_inventory, 5)
    engine.apply(fault(lamp.asset_id, True, T), "lighting.faults")
    alert = engine.active[("lamp_failure", lamp.asset_id)]
    near = IncidentReport(asset_id="R-1", ts=T + MIN, category="street_light_out", lat=lamp.lat + 0.0002,
                          lon=lamp.lon, source="app")  # about 22 m
    engine.apply(near, "incidents.reports")
    assert alert.count == 2 and alert.details["reports"] == ["R-1"]
    assert ("citizen_report", "R-1") not in engine.active
    far = IncidentReport(asset_id="R-2", ts=T + MIN, category="street_light_out", lat=lamp.lat + 0.002,
                         lon=lamp.lon + 0.01, source="app")
    engine.apply(far, "incidents.reports")
    own = engine.active[("citizen_report", "R-2")]
    assert (own.priority, own.due_ts) == ("P3", T + MIN + 72 * 3_600_000)
    out = engine.drain()
    assert out.reports["R-1"]["fused"] and out.reports["R-1"]["alert_id"] == alert.id
    assert out.reports["R-2"]["alert_id"] == own.id
    assert "fuse" in [t["action"] for t in out.transitions]
    closed = IncidentReport(asset_id="R-2", ts=T + 2 * MIN, category="street_light_out", lat=own.lat, lon=own.lon,
                            source="app", status="closed")
    engine.apply(closed, "incidents.reports")
    assert ("citizen_report", "R-2") not in engine.active


def test_pothole_report_is_a_p2_alert(engine):
    engine.apply(IncidentReport(asset_id="R-9", ts=T, category="pothole", lat=47.32, lon=5.04, source="citizen"),
                 "incidents.reports")
    alert = engine.active[("citizen_report", "R-9")]
    assert (alert.priority, alert.due_ts, alert.domain) == ("P2", T + 24 * 3_600_000, "incidents")


def _all_feeds(engine, ts, skip=()):
    """One event on every watched feed, so feeds are not down."""
    if "cameras.health" not in skip:
        engine.apply(CameraHealth(asset_id="CAM-001", ts=ts, state="online"), "cameras.health")
    engine.apply(SignalStatus(asset_id="SIG-001", ts=ts, mode="normal"), "traffic.status")
    engine.apply(metering("CAB-0001", ts), "lighting.cabinets")
    engine.apply(telemetry("LP-000001", ts), "lighting.telemetry")
    engine.apply(WeatherObservation(asset_id="WS-001", ts=ts, temperature_c=10.0, road_temperature_c=8.0,
                                    humidity_pct=50.0, wind_speed_ms=2.0, gust_ms=3.0, precipitation_mm_h=0.0),
                 "weather.observations")


def test_communication_loss_after_k_periods_and_recovery(engine):
    _all_feeds(engine, T)
    engine.watch_inventory(T)
    engine.apply(CameraHealth(asset_id="CAM-002", ts=T, state="online"), "cameras.health")
    for minute in range(1, 4):
        _all_feeds(engine, T + minute * MIN)
        engine.tick(T + minute * MIN)
    assert ("comm_loss", "CAM-002") not in engine.active
    _all_feeds(engine, T + 3 * MIN + 1000)
    engine.tick(T + 3 * MIN + 1000)  # 3 x 60 s of silence
    lost = engine.active[("comm_loss", "CAM-002")]
    assert lost.domain == "cameras" and engine.records["CAM-002"].state == "offline"
    # Signals never seen at all are lost too, counted from the start.
    assert ("comm_loss", "SIG-002") in engine.active
    assert ("comm_loss", "SIG-001") not in engine.active
    engine.apply(CameraHealth(asset_id="CAM-002", ts=T + 4 * MIN, state="online"), "cameras.health")
    assert ("comm_loss", "CAM-002") not in engine.active
    assert engine.records["CAM-002"].state == "online"


def test_a_silent_feed_raises_one_feed_down_alert_and_no_comm_loss_flood(engine):
    _all_feeds(engine, T)
    engine.watch_inventory(T)
    for minute in range(1, 8):
        _all_feeds(engine, T + minute * MIN, skip=("cameras.health",))
        engine.tick(T + minute * MIN)
    assert ("feed_down", "live.cameras.health") in engine.active
    assert not [a for a in engine.active.values() if a.rule == "comm_loss" and a.asset_id.startswith("CAM")]
    assert len([a for a in engine.active.values() if a.rule == "feed_down"]) == 1
    engine.apply(CameraHealth(asset_id="CAM-001", ts=T + 8 * MIN, state="online"), "cameras.health")
    assert ("feed_down", "live.cameras.health") not in engine.active


def test_unacknowledged_critical_alert_escalates_once(engine):
    engine.apply(SignalStatus(asset_id="SIG-001", ts=T, mode="dark"), "traffic.status")
    alert = engine.active[("crossroads_degraded", "SIG-001")]
    assert alert.severity == "critical" and not alert.escalated
    engine.tick(T + 14 * MIN)
    assert not alert.escalated
    engine.tick(T + 16 * MIN)
    assert alert.escalated
    engine.tick(T + 30 * MIN)
    out = engine.drain()
    escalations = [t for t in out.transitions if t["action"] == "escalate" and t["alert_id"] == alert.id]
    assert len(escalations) == 1 and escalations[0]["ts"] == T + 15 * MIN


def test_acknowledged_alert_does_not_escalate_and_operator_resolution_is_merged(engine):
    engine.apply(SignalStatus(asset_id="SIG-002", ts=T, mode="flashing"), "traffic.status")
    alert = engine.active[("crossroads_degraded", "SIG-002")]
    engine.merge_external([{**alert.row(), "state": "acknowledged"}])
    engine.tick(T + 2 * 3_600_000)
    assert not alert.escalated
    engine.merge_external([{**alert.row(), "state": "resolved"}])
    assert ("crossroads_degraded", "SIG-002") not in engine.active
    # Still flashing: the next reading raises a new alert.
    engine.apply(SignalStatus(asset_id="SIG-002", ts=T + MIN, mode="flashing"), "traffic.status")
    assert engine.active[("crossroads_degraded", "SIG-002")].id != alert.id


def test_warm_start_restores_conditions_and_alerts(engine, small_inventory):
    engine.apply(SignalStatus(asset_id="SIG-003", ts=T, mode="flashing"), "traffic.status")
    out = engine.drain()
    states = out.asset_rows()
    alerts = out.alert_inserts()
    again = AlertEngine(RULES, inventory=asset_rows(small_inventory.assets), alert_ids=iter(range(100, 200)).__next__)
    again.warm_start(states, alerts)
    again.apply(SignalStatus(asset_id="SIG-003", ts=T + MIN, mode="flashing"), "traffic.status")
    assert again.drain().new_alerts == {}  # the same condition, not a new alert
    again.apply(SignalStatus(asset_id="SIG-003", ts=T + 2 * MIN, mode="normal"), "traffic.status")
    assert [r["id"] for r in again.drain().resolutions] == [alerts[0]["id"]]


def test_a_feed_goes_down_on_the_events_of_the_other_feeds_alone(engine):
    _all_feeds(engine, T)
    engine.watch_inventory(T)
    for minute in range(1, 8):  # no explicit tick: the events passing the timers run them
        _all_feeds(engine, T + minute * MIN, skip=("cameras.health",))
    assert ("feed_down", "live.cameras.health") in engine.active
    assert len([a for a in engine.active.values() if a.rule == "feed_down"]) == 1


def test_apply_many_reports_a_failing_event_and_applies_the_others(engine, engine_bug_on_cam_002):
    events = [CameraHealth(asset_id=a, ts=T + i, state="online")
              for i, a in enumerate(("CAM-001", "CAM-002", "CAM-003"))]
    failed = engine.apply_many([(e, "cameras.health") for e in events])
    assert [(i, str(exc)) for i, exc in failed] == [(1, engine_bug_on_cam_002)]
    assert {"CAM-001", "CAM-003"} <= set(engine.records) and "CAM-002" not in engine.records
    with pytest.raises(RuntimeError, match=engine_bug_on_cam_002):
        engine.apply(events[1], "cameras.health")


def test_an_inventory_asset_keeps_one_timer_when_it_first_reports(engine):
    engine.watch_inventory(T)
    engine.apply(CameraHealth(asset_id="CAM-001", ts=T + MIN, state="online"), "cameras.health")
    timers = [asset for _, asset in engine._timers]
    assert timers.count("CAM-001") == 1 and len(timers) == len(set(timers))


def test_watch_inventory_sets_one_timer_per_watched_asset_in_deadline_order(engine, small_inventory):
    engine.apply(CameraHealth(asset_id="CAM-001", ts=T - 10 * MIN, state="online"), "cameras.health")
    engine.watch_inventory(T)
    watched = {a for a, k in zip(small_inventory.assets["asset_id"], small_inventory.assets["kind"])
               if k in engine._watch}
    popped = [engine._timers.pop() for _ in range(len(engine._timers))]
    assert popped == sorted(popped) and sorted(a for _, a in popped) == sorted(watched)
    deadlines = {a: d for d, a in popped}
    assert deadlines["CAM-001"] == T - 10 * MIN + engine._period_ms("CAM-001", "camera")  # from when it was seen
    assert deadlines["CAM-002"] == T + engine._period_ms("CAM-002", "camera")  # never seen: from the start


def test_asset_records_stay_out_of_the_garbage_collector(engine):
    import gc

    engine.apply(CameraHealth(asset_id="CAM-001", ts=T, state="offline"), "cameras.health")
    rec = engine.records["CAM-001"]
    assert rec.faults  # a record with a condition held: its dicts of lists refer to no record
    assert not gc.is_tracked(rec)
