"""Alert lifecycle in the store: open → acknowledged → in progress → resolved → closed, escalation, audit."""

from __future__ import annotations

import pytest

from streams.rules import load_rules
from streams.rules_engine import AlertEngine
from streams.schemas import SignalStatus
from streams.store import AlertNotFound, BatchWrite, InvalidTransition

T = 1_750_000_000_000
MIN = 60_000


def flush(engine, store):
    out = engine.drain()
    return store.apply_batch(BatchWrite(
        group_id="g", asset_rows=out.asset_rows(), intervals=list(out.intervals.values()),
        new_alerts=out.alert_inserts(), alert_updates=out.alert_updates(), transitions=out.transitions,
        resolutions=out.resolutions, energy=out.energy_rows(), reports=list(out.reports.values())))


@pytest.fixture
def engine(store):
    return AlertEngine(load_rules(), alert_ids=lambda: store.reserve_alert_ids(1)[0])


def test_full_lifecycle_with_transitions_and_audit(store, engine):
    engine.apply(SignalStatus(asset_id="SIG-001", ts=T, mode="flashing"), "traffic.status")
    flush(engine, store)
    [alert] = store.open_alerts()
    assert (alert["rule"], alert["state"], alert["severity"], alert["priority"]) == (
        "crossroads_degraded", "open", "major", "P1")
    assert alert["due_ts"] == T + 2 * 3_600_000
    aid = alert["id"]
    assert store.acknowledge(aid, "alice", "seen", ts=T + MIN)["state"] == "acknowledged"
    after = store.assign(aid, "signals-team-2", "alice", "on the way", ts=T + 2 * MIN)
    assert (after["state"], after["assigned_team"]) == ("in_progress", "signals-team-2")
    assert store.interventions(aid, open_only=True)[0]["team"] == "signals-team-2"
    assert store.resolve(aid, "bob", "controller reset", ts=T + 30 * MIN)["state"] == "resolved"
    assert store.interventions(aid, open_only=True) == []
    assert store.close(aid, "carol", ts=T + 31 * MIN)["closed_by"] == "carol"
    history = store.alert_history(aid)
    assert [(h["action"], h["to_state"], h["actor"]) for h in history] == [
        ("open", "open", "system"), ("acknowledge", "acknowledged", "alice"),
        ("assign", "in_progress", "alice"), ("resolve", "resolved", "bob"), ("close", "closed", "carol")]
    assert [h["ts"] - T for h in history] == [0, MIN, 2 * MIN, 30 * MIN, 31 * MIN]
    audit = store.audit(target=f"alert:{aid}")
    assert [a["action"] for a in reversed(audit)] == [
        "alert.open", "alert.acknowledge", "alert.assign", "alert.resolve", "alert.close"]
    assert {a["actor"] for a in audit} == {"system", "alice", "bob", "carol"}
    assert store.open_alerts() == []
    # Seq grows with every change, so readers see each step.
    assert store.changes_since(history[-2]["seq"]).alerts[0]["state"] == "closed"


def test_invalid_actions_are_refused_with_a_reason(store, engine):
    engine.apply(SignalStatus(asset_id="SIG-002", ts=T, mode="dark"), "traffic.status")
    flush(engine, store)
    aid = store.open_alerts()[0]["id"]
    with pytest.raises(InvalidTransition, match="cannot close alert .* it is open"):
        store.close(aid, "alice")
    with pytest.raises(ValueError, match="actor"):
        store.acknowledge(aid, "")
    with pytest.raises(AlertNotFound):
        store.acknowledge(999_999, "alice")
    store.acknowledge(aid, "alice")
    with pytest.raises(InvalidTransition):
        store.acknowledge(aid, "alice")
    assert [h["action"] for h in store.alert_history(aid)] == ["open", "acknowledge"]


def test_escalation_and_automatic_resolution_reach_the_store(store, engine):
    engine.apply(SignalStatus(asset_id="SIG-003", ts=T, mode="dark"), "traffic.status")
    flush(engine, store)
    engine.tick(T + 16 * MIN)
    flush(engine, store)
    alert = store.open_alerts()[0]
    assert alert["escalated"] and alert["severity"] == "critical"
    assert [h["action"] for h in store.alert_history(alert["id"])] == ["open", "escalate"]
    engine.apply(SignalStatus(asset_id="SIG-003", ts=T + 20 * MIN, mode="normal"), "traffic.status")
    flush(engine, store)
    done = store.alert(alert["id"])
    assert (done["state"], done["resolved_by"], done["resolved_ts"]) == ("resolved", "system", T + 20 * MIN)
    assert store.asset_state("SIG-003")["state"] == "normal"
    intervals = store.state_intervals("SIG-003")
    assert [(i["state"], i["end_ts"]) for i in intervals] == [("dark", T + 20 * MIN), ("normal", None)]


def test_operator_changes_reach_the_engine(store, engine):
    engine.apply(SignalStatus(asset_id="SIG-004", ts=T, mode="dark"), "traffic.status")
    flush(engine, store)
    aid = store.open_alerts()[0]["id"]
    store.acknowledge(aid, "alice")
    engine.merge_external(store.alerts_changed_since(0))
    engine.tick(T + 60 * MIN)
    flush(engine, store)
    assert not store.alert(aid)["escalated"]
    store.resolve(aid, "alice")
    engine.merge_external(store.alerts_changed_since(0))
    engine.apply(SignalStatus(asset_id="SIG-004", ts=T + 61 * MIN, mode="normal"), "traffic.status")
    flush(engine, store)
    assert [h["actor"] for h in store.alert_history(aid)] == ["system", "alice", "alice"]
