"""The operational store on SQLite and PostgreSQL: migrations, batch writes with offsets, reads, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from streams.store import MIGRATIONS, BatchWrite, Migration, Store, migrate
from streams.store.inventory import asset_rows, commune_rows
from streams.store.migrations import applied_versions

T = 1_750_000_000_000


def state_row(asset_id, state="on", ts=T, kind="light"):
    return {"asset_id": asset_id, "kind": kind, "state": state, "attributes": {"level": 70.0}, "faults": None,
            "last_changed": ts, "last_updated": ts, "last_seen": ts}


def alert_row(alert_id, rule="lamp_failure", asset="LP-000001", severity="minor", **extra):
    row = {"id": alert_id, "rule": rule, "asset_id": asset, "domain": "lighting", "severity": severity,
           "priority": "P3", "state": "open", "title": "Lamp failure", "opened_ts": T, "last_ts": T,
           "due_ts": T + 72 * 3_600_000, "count": 1, "parent_id": None, "flapping": False, "escalated": False,
           "lat": 47.32, "lon": 5.04, "commune_code": "21231", "details": {"value": "lampFailure"}}
    row.update(extra)
    return row


def opening(alert_id, severity="minor"):
    return {"alert_id": alert_id, "action": "open", "from_state": None, "to_state": "open", "severity": severity,
            "ts": T, "actor": "system", "comment": None}


def test_migrations_are_recorded_and_idempotent(store):
    with store.engine.connect() as conn:
        assert applied_versions(conn) == {m.version for m in MIGRATIONS}
    assert migrate(store.engine) == []


def test_a_later_migration_upgrades_an_existing_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = Store.from_url(url)
    seen = []

    def add_note(conn):
        conn.exec_driver_sql("ALTER TABLE reports ADD COLUMN note TEXT")
        seen.append(True)

    upgraded = migrate(first.engine, (*MIGRATIONS, Migration(99, "add a note to reports", add_note)))
    assert upgraded == [99] and seen == [True]
    assert migrate(first.engine, (*MIGRATIONS, Migration(99, "add a note to reports", add_note))) == []


def test_migration_4_keeps_closed_intervals_and_moves_the_current_one_to_the_asset_state(store):
    # a store written before version 4: the current interval stored as an open row beside the asset's state
    store.apply_batch(BatchWrite(group_id="g", asset_rows=[state_row("LP-1", "fault", T + 5)]))
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO state_intervals (asset_id, start_ts, end_ts, state) VALUES "
                          "('LP-1', :a, :b, 'on'), ('LP-1', :b, NULL, 'fault'), ('LP-9', :a, NULL, 'on')"),
                     {"a": T - 9, "b": T})
        conn.execute(text("DELETE FROM schema_migrations WHERE version = 4"))
    assert migrate(store.engine) == [4]
    assert [(i["start_ts"], i["end_ts"], i["state"]) for i in store.state_intervals("LP-1")] == [
        (T - 9, T, "on"), (T, None, "fault")]  # the open row's start is the asset's last_changed now
    assert store.asset_states()[0]["last_changed"] == T
    # an open row of an asset with no state is all there is of its interval: it stays
    assert [(i["start_ts"], i["end_ts"]) for i in store.state_intervals("LP-9")] == [(T - 9, None)]


def test_inventory_rows_round_trip(store, small_inventory):
    assert store.upsert_assets(asset_rows(small_inventory.assets)) == len(small_inventory.assets)
    store.upsert_communes(commune_rows(small_inventory.communes))
    lamps = store.inventory("light")
    assert len(lamps) == 80 and lamps[0]["cabinet_id"] == "CAB-0001" and lamps[0]["period_s"] == 900
    assert lamps[0]["attributes"]["lamp_type"] == "LED"
    assert store.communes()[0]["name"] == "Dijon"
    assert store.count_assets() == len(small_inventory.assets)


def test_batch_writes_state_alerts_energy_health_and_offsets_together(store):
    batch = BatchWrite(
        group_id="g", offsets={("live.lighting.telemetry", 0): 10, ("live.lighting.telemetry", 1): 7},
        asset_rows=[state_row("LP-1"), state_row("LP-2", "fault")],
        intervals=[{"asset_id": "LP-2", "start_ts": T - 60_000, "end_ts": T, "state": "on"}],
        new_alerts=[alert_row(1, asset="LP-2")], transitions=[opening(1)],
        energy=[{"cabinet_id": "CAB-1", "hour_ts": T, "kwh": 1.5, "lamp_kwh": 1.2, "readings": 3}],
        health=[{"topic": "live.lighting.telemetry", "events": 17, "rate": 4.0, "lag": 3, "last_event_ts": T,
                 "dead_letters": 1}],
        reports=[{"report_id": "R-1", "category": "pothole", "source": "app", "status": "open", "lat": 47.3,
                  "lon": 5.0, "description": "", "address": None, "external_id": None, "asset_ref": None,
                  "requested_ts": T, "updated_ts": T, "alert_id": None, "fused": False}],
    )
    seq = store.apply_batch(batch)
    assert seq == store.current_seq() >= 1
    assert store.load_offsets("g") == {("live.lighting.telemetry", 0): 10, ("live.lighting.telemetry", 1): 7}
    # The same cabinet-hour again adds up; offsets move on.
    store.apply_batch(BatchWrite(group_id="g", offsets={("live.lighting.telemetry", 0): 20},
                                 energy=[{"cabinet_id": "CAB-1", "hour_ts": T, "kwh": 0.5, "lamp_kwh": 0.3,
                                          "readings": 1}]))
    assert store.energy_totals() == pytest.approx({"kwh": 2.0, "lamp_kwh": 1.5})
    assert store.load_offsets("g")[("live.lighting.telemetry", 0)] == 20
    changes = store.changes_since(0)
    assert {a["asset_id"] for a in changes.assets} == {"LP-1", "LP-2"}
    assert [a["id"] for a in changes.alerts] == [1]
    assert store.changes_since(changes.seq).assets == []
    summary = store.status_summary()
    assert summary["assets_with_state"] == 2 and summary["open_alerts_by_severity"]["minor"] == 1
    assert (summary["events_processed"], summary["dead_letters"], summary["lag"]) == (17, 1, 3)
    assert store.reports()[0]["report_id"] == "R-1"
    # closed intervals as written, then the current one: the asset's state since last_changed
    assert [(i["start_ts"], i["end_ts"], i["state"]) for i in store.state_intervals("LP-2")] == [
        (T - 60_000, T, "on"), (T, None, "fault")]


def test_a_batch_of_thousands_of_rows_lands_whole_and_updates_in_place(store):
    # more rows than one multi-row statement holds (500 on SQLite), and a remainder
    rows = [state_row(f"LP-{i}") for i in range(1234)]
    intervals = [{"asset_id": f"LP-{i}", "start_ts": T - 1, "end_ts": T, "state": "off"} for i in range(1234)]
    energy = [{"cabinet_id": f"CAB-{i % 600}", "hour_ts": T, "kwh": 1.0, "lamp_kwh": 0.5, "readings": 1}
              for i in range(600)]
    first = store.apply_batch(BatchWrite(group_id="g", asset_rows=rows, intervals=intervals, energy=energy))
    again = [{**state_row(f"LP-{i}", "fault", T + 1), "last_seen": T + i} for i in range(0, 1234, 3)]
    closed = [{"asset_id": f"LP-{i}", "start_ts": T, "end_ts": T + 1, "state": "on"} for i in range(0, 1234, 3)]
    second = store.apply_batch(BatchWrite(group_id="g", asset_rows=again, intervals=closed, energy=energy))
    states = {s["asset_id"]: s for s in store.asset_states()}
    assert len(states) == 1234
    assert all(states[f"LP-{i}"]["state"] == ("fault" if i % 3 == 0 else "on") for i in range(1234))
    assert all(states[f"LP-{i}"]["seq"] == (second if i % 3 == 0 else first) for i in range(1234))
    assert states["LP-1233"]["last_seen"] == T + 1233
    assert [(i["start_ts"], i["end_ts"]) for i in store.state_intervals("LP-3")] == [
        (T - 1, T), (T, T + 1), (T + 1, None)]
    assert [(i["start_ts"], i["end_ts"]) for i in store.state_intervals("LP-4")] == [(T - 1, T), (T, None)]
    assert store.energy_totals() == pytest.approx({"kwh": 1200.0, "lamp_kwh": 600.0})
    assert len(store.changes_since(first).assets) == len(again)


def test_a_failed_batch_leaves_nothing_behind(store):
    store.apply_batch(BatchWrite(group_id="g", offsets={("t", 0): 5}, new_alerts=[alert_row(1)]))
    bad = BatchWrite(group_id="g", offsets={("t", 0): 9}, asset_rows=[state_row("LP-9")],
                     new_alerts=[alert_row(1)])  # duplicate key: the transaction fails
    with pytest.raises(Exception):
        store.apply_batch(bad)
    assert store.load_offsets("g") == {("t", 0): 5}
    assert store.asset_state("LP-9") is None
    store.apply_batch(BatchWrite(group_id="g", offsets={("t", 0): 9}, asset_rows=[state_row("LP-9")]))
    assert store.asset_state("LP-9")["state"] == "on"  # the next batch lands (on PostgreSQL, COPY again)


def test_system_resolution_is_guarded_and_audited(store):
    store.apply_batch(BatchWrite(group_id="g", new_alerts=[alert_row(1), alert_row(2, asset="LP-2")],
                                 transitions=[opening(1), opening(2)]))
    store.acknowledge(2, "alice")
    store.resolve(2, "alice", "fixed")
    resolutions = [{"id": i, "ts": T + 60_000, "actor": "system", "from_state": "open", "severity": "minor",
                    "comment": "condition cleared"} for i in (1, 2)]
    store.apply_batch(BatchWrite(group_id="g", resolutions=resolutions))
    assert store.alert(1)["state"] == "resolved" and store.alert(1)["resolved_by"] == "system"
    assert store.alert(2)["resolved_by"] == "alice"  # already resolved by a person: untouched
    assert [t["action"] for t in store.alert_history(2)] == ["open", "acknowledge", "resolve"]
    published = store.transitions_since(0)
    assert [(t["alert_id"], t["to_state"]) for t in published][-1] == (1, "resolved")


def test_audit_log_is_append_only(store):
    store.record_audit("bob", "command.dim", "cabinet:CAB-1", {"level": 50})
    assert store.audit(actor="bob")[0]["detail"] == {"level": 50}
    with pytest.raises(Exception):
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    with pytest.raises(Exception):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log"))
    assert store.audit(actor="bob")


def test_alert_ids_are_reserved_in_blocks(store):
    first = store.reserve_alert_ids(10)
    second = store.reserve_alert_ids(10)
    assert list(first) == list(range(1, 11)) and second.start == 11


def test_one_engine_per_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    assert Store.from_url(url).engine is Store.from_url(url).engine
    with Store.from_url(url).engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_status_command_prints_the_summary_as_json(tmp_path, capsys):
    import argparse
    import json

    from streams import status_cmd
    from streams.config import Settings

    settings = Settings(data_dir=tmp_path)
    store = Store.from_url(settings.store_url)
    store.apply_batch(BatchWrite(group_id="g", asset_rows=[state_row("LP-1"), state_row("CAM-1", "offline")],
                                 new_alerts=[alert_row(1, severity="major")], transitions=[opening(1, "major")],
                                 health=[{"topic": "live.lighting.telemetry", "events": 5, "rate": 1.0, "lag": 2,
                                          "last_event_ts": T, "dead_letters": 1}]))
    assert status_cmd.run(argparse.Namespace(namespace=None, json=True), settings) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["assets_with_state"] == 2 and out["open_alerts_by_severity"]["major"] == 1
    assert (out["events_processed"], out["dead_letters"], out["lag"], out["namespace"]) == (5, 1, 2, "live")
    assert status_cmd.run(argparse.Namespace(namespace=None, json=False), settings) == 0
    assert "open alerts: 1" in capsys.readouterr().out
