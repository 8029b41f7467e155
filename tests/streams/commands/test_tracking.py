"""Command tracking: the commands table, acks updating it in the batch, and the timeout alert."""

from __future__ import annotations

import time

import pytest

from streams.commands import prepare_command, select_targets
from streams.config import Settings
from streams.kafka import EventProducer, ensure_topics
from streams.processor import Processor
from streams.rules import load_rules
from streams.rules_engine import COMMAND_TIMEOUT_RULE, AlertEngine
from streams.schemas import CommandAck, now_ms
from streams.store import BatchWrite, Store
from streams.store.inventory import load_inventory_into


def _request(inventory, *, user="alice", ts=None):
    assets = inventory.assets if hasattr(inventory, "assets") else inventory
    lamp = assets.loc[assets["kind"] == "light", "asset_id"].iloc[0]
    selection = select_targets(assets, lamps=[lamp])
    return selection, prepare_command(selection, action="dim", level=50, minutes=60, user=user, role="operator",
                                      reason="test", now_ms=ts or now_ms())


def _ack(command_id, status, ts, applied=0):
    return CommandAck(asset_id="LP-1", ts=ts, command_id=command_id, status=status, applied=applied)


def test_record_command_writes_the_row_and_its_audit(store, small_inventory):
    selection, request = _request(small_inventory)
    store.record_command(request, scope=selection.scope, count=selection.count, namespace="live", role="operator")
    row = store.command(request.command_id)
    assert row["status"] == "pending" and row["level"] == 50 and row["targets"] == list(request.targets)
    assert row["count"] == 1 and row["user"] == "alice" and row["expires_at"] == request.expires_at
    [audit] = store.audit(actor="alice")
    assert audit["action"] == "command.dim" and audit["detail"]["command_id"] == request.command_id
    assert store.count_commands("alice", request.ts - 1000) == 1 and store.count_commands("bob", 0) == 0
    assert [c["command_id"] for c in store.commands(status="pending")] == [request.command_id]


def test_acks_update_the_status_in_the_batch_and_never_go_back(store, small_inventory):
    selection, request = _request(small_inventory)
    store.record_command(request, scope=selection.scope, count=1, namespace="live")
    engine = AlertEngine(load_rules())
    ts = request.ts + 500
    for status in ("accepted", "done"):
        engine.apply(_ack(request.command_id, status, ts, applied=1 if status == "done" else 0), "commands.acks")
    engine.apply(_ack(request.command_id, "accepted", ts + 10), "commands.acks")  # late duplicate
    out = engine.drain()
    store.apply_batch(BatchWrite(group_id="g", command_updates=out.command_updates))
    row = store.command(request.command_id)
    assert row["status"] == "done" and row["applied"] == 1 and row["ack_ts"] == ts


def test_a_command_not_acknowledged_in_time_times_out_with_a_major_alert(store, small_inventory):
    selection, request = _request(small_inventory, ts=now_ms() - 60_000)
    store.record_command(request, scope=selection.scope, count=1, namespace="live")
    engine = AlertEngine(load_rules(), inventory=store.inventory())
    engine.command_timeouts(store.unacknowledged_commands(now_ms() - 30_000), 30)
    out = engine.drain()
    store.apply_batch(BatchWrite(group_id="g", new_alerts=out.alert_inserts(), transitions=out.transitions,
                                 command_updates=out.command_updates))
    assert store.command(request.command_id)["status"] == "timed_out"
    [alert] = store.open_alerts(rule=COMMAND_TIMEOUT_RULE)
    assert alert["severity"] == "major" and alert["asset_id"] == request.command_id
    # a late final ack still tells the truth and resolves the alert
    engine.apply(_ack(request.command_id, "done", now_ms(), applied=1), "commands.acks")
    out = engine.drain()
    store.apply_batch(BatchWrite(group_id="g", resolutions=out.resolutions, command_updates=out.command_updates))
    assert store.command(request.command_id)["status"] == "done"
    assert not store.open_alerts(rule=COMMAND_TIMEOUT_RULE)


@pytest.mark.kafka
def test_the_processor_tracks_acks_and_times_out_silent_commands(embedded_broker, tmp_path, small_inventory):
    ns = f"train-cmdtrack-{int(time.time())}"
    ensure_topics(embedded_broker.bootstrap, ns)
    store = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    load_inventory_into(store, small_inventory)
    answered_sel, answered = _request(small_inventory)
    silent_sel, silent = _request(small_inventory, user="bob", ts=now_ms() - 5_000)
    for sel, req in ((answered_sel, answered), (silent_sel, silent)):
        store.record_command(req, scope=sel.scope, count=1, namespace=ns)
    producer = EventProducer.connect(embedded_broker.bootstrap, ns)
    producer.send(_ack(answered.command_id, "accepted", now_ms()))
    producer.send(_ack(answered.command_id, "done", now_ms(), applied=1))
    producer.close()
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path, namespace=ns)
    proc = Processor(settings, store=store, idle_tick_s=0.5, command_timeout_s=2)

    def finished():
        return (store.command(answered.command_id)["status"] == "done"
                and bool(store.open_alerts(rule=COMMAND_TIMEOUT_RULE)))
    try:
        proc.run(max_seconds=30, should_stop=finished)
    finally:
        proc.close()
    assert store.command(answered.command_id)["applied"] == 1
    assert store.command(silent.command_id)["status"] == "timed_out"
    [alert] = store.open_alerts(rule=COMMAND_TIMEOUT_RULE)
    assert alert["asset_id"] == silent.command_id
