"""The dashboard's data access over a real (SQLite) store: changes since a seq, the queue, actions, health."""

from __future__ import annotations

import time

from dashboard.data import (
    STATE_FAULT, STATE_OK, STATE_UNKNOWN, STATE_WARNING, AlertFilters, DataSource, classify_state,
)


def _source(kit) -> DataSource:
    return DataSource.from_settings(kit.settings)


def test_classify_state_by_state_and_active_faults():
    assert classify_state("on") == STATE_OK
    assert classify_state("off", []) == STATE_OK
    assert classify_state("on", ["lamp_failure"]) == STATE_FAULT
    assert classify_state("on", ["lamp_dimming_failure"]) == STATE_WARNING
    assert classify_state("flashing") == STATE_WARNING
    assert classify_state("offline") == STATE_FAULT
    assert classify_state("unavailable") == STATE_UNKNOWN
    assert classify_state("on", ["comm_loss"]) == STATE_UNKNOWN
    assert classify_state(None) == STATE_UNKNOWN
    # the store keeps the processor's record: only the active rules count, not the flapping history
    assert classify_state("on", {"active": {}, "toggles": {"lamp_failure": [1, 2]}}) == STATE_OK
    assert classify_state("on", {"active": {"lamp_failure": ["x"]}, "toggles": {}}) == STATE_FAULT


def test_changes_since_zero_sends_only_what_is_not_nominal_then_only_changes(store_kit):
    store_kit.states([("LP-000001", "light", "on", []), ("LP-000002", "light", "on", ["lamp_failure"]),
                      ("WS-01", "weather", "ok", [])], {"WS-01": {"temperature_c": 2.25, "road_temperature_c": -1.0}})
    source = _source(store_kit)
    first = source.changes_since(0)
    assert first.states == {"LP-000002": STATE_FAULT, "WS-01": STATE_OK}
    assert first.values["WS-01"] == {"s": STATE_OK, "t": 2.2, "r": -1.0} or first.values["WS-01"]["t"] in (2.2, 2.3)
    assert source.changes_since(first.seq).states == {}
    store_kit.states([("LP-000002", "light", "on", ["lamp_failure"]), ("LP-000001", "light", "on", [])])
    same = source.changes_since(first.seq)
    assert same.states == {} and same.seq > first.seq  # readings that leave the colours as they were
    store_kit.states([("LP-000002", "light", "on", [])])
    later = source.changes_since(first.seq)
    assert later.states == {"LP-000002": STATE_OK} and later.seq > first.seq


def test_queue_sorted_by_severity_then_deadline_and_filtered(store_kit):
    ids = store_kit.alerts([
        {"asset_id": "LP-000001", "severity": "minor", "due_in_s": 100},
        {"asset_id": "LP-000002", "severity": "critical", "due_in_s": 5000},
        {"asset_id": "LP-000003", "severity": "critical", "due_in_s": 50, "commune_code": "21166"},
        {"asset_id": "SIG-001", "severity": "major", "domain": "traffic", "due_in_s": 10},
    ])
    source = _source(store_kit)
    assert [a["id"] for a in source.open_alerts()] == [ids[2], ids[1], ids[3], ids[0]]
    assert [a["id"] for a in source.open_alerts(AlertFilters.of(domains=["traffic"]))] == [ids[3]]
    assert [a["id"] for a in source.open_alerts(AlertFilters.of(communes=["21166"]))] == [ids[2]]
    assert [a["id"] for a in source.open_alerts(AlertFilters.of(severities=["minor"]))] == [ids[0]]
    assert source.severity_counts() == {"critical": 2, "major": 1, "minor": 1, "info": 0}
    store_kit.alerts([{"asset_id": "LP-000004", "parent_id": ids[1]}, {"asset_id": "LP-000005", "parent_id": ids[1]}])
    queue = source.open_alerts()
    assert len(queue) == 4 and next(a for a in queue if a["id"] == ids[1])["children"] == 2


def test_actions_follow_the_store_lifecycle_and_are_audited(store_kit):
    ids = store_kit.alerts([{"asset_id": "LP-000001"}, {"asset_id": "LP-000002"}])
    source = _source(store_kit)
    version = source.alerts_version()
    result = source.acknowledge([str(i) for i in ids], "op-1")
    assert result.done == tuple(ids) and not result.refused
    assert source.alerts_version() != version
    again = source.acknowledge([ids[0]], "op-1")
    assert again.done == () and again.refused == ((ids[0], "state:acknowledged"),)
    assert source.assign([ids[0]], "lighting", "op-1").done == (ids[0],)
    assert source.close([ids[0]], "op-1", "done").refused  # close needs resolved first
    assert source.resolve([ids[0]], "op-1", "lamp replaced").done == (ids[0],)
    assert source.close([ids[0]], "op-1", "checked").done == (ids[0],)
    assert store_kit.store.alert(ids[0])["state"] == "closed"
    actions = [row["action"] for row in store_kit.store.audit(target=f"alert:{ids[0]}")]
    assert actions == ["alert.close", "alert.resolve", "alert.assign", "alert.acknowledge"]
    assert [a["id"] for a in source.open_alerts(AlertFilters.of(states=["acknowledged"]))] == [ids[1]]


def test_health_reports_the_last_sign_of_life(store_kit):
    source = _source(store_kit)
    assert source.health().store_ok and source.health().last_activity_ms is None
    store_kit.heartbeat()
    health = source.health()
    assert health.age_s() < 5 and health.feeds[0]["topic"] == "live.lighting.telemetry"


def test_unreachable_store_reads_as_unavailable_not_calm(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    source = DataSource(f"sqlite:///{blocker}/sub/x.db")
    health = source.health()
    assert not health.store_ok
    assert source.open_alerts() == [] and source.changes_since(5).seq == 5
    assert source.acknowledge([1], "op").refused == ((1, "store"),)


def test_history_and_linked_reports(store_kit):
    now = int(time.time() * 1000)
    from streams.store import BatchWrite

    store_kit.store.apply_batch(BatchWrite(group_id="t", intervals=[
        {"asset_id": "LP-000009", "start_ts": now - 7200_000, "end_ts": now - 3600_000, "state": "on"}],
        asset_rows=[{"asset_id": "LP-000009", "kind": "light", "state": "fault", "attributes": {}, "faults": None,
                     "last_changed": now - 3600_000, "last_updated": now, "last_seen": now}]))
    source = _source(store_kit)
    history = source.asset_history("LP-000009", now - 86400_000)
    assert [h["code"] for h in history] == [STATE_OK, STATE_FAULT]  # the current one from the asset's state
    assert [(h["start"], h["end"]) for h in history] == [(now - 7200_000, now - 3600_000), (now - 3600_000, None)]
    (alert_id,) = store_kit.alerts([{"asset_id": "LP-000009"}])
    store_kit.store.apply_batch(BatchWrite(group_id="t", reports=[{
        "report_id": "R-1", "category": "street_light_out", "source": "app", "status": "open", "lat": 47.32,
        "lon": 5.04, "requested_ts": now, "updated_ts": now, "alert_id": alert_id, "fused": True}]))
    assert [r["report_id"] for r in source.linked_reports("LP-000009")] == ["R-1"]
    assert [r["report_id"] for r in source.open_reports()] == ["R-1"]
