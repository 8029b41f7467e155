"""The alert engine over the Dijon simulator's cabinet-outage scenario, on the real inventory (no Kafka)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from streams.rules import load_rules
from streams.rules_engine import AlertEngine
from streams.schemas import EVENT_TYPES
from streams.store.inventory import asset_rows
from streams.topics import event_topic

dijon = pytest.importorskip("connectors.dijon.simulator")
inventory_mod = pytest.importorskip("connectors.dijon.inventory")


def test_a_cabinet_outage_raises_one_alert_per_cabinet_not_one_per_lamp():
    inventory = inventory_mod.build_inventory(seed=42)
    start = (int(time.time() * 1000) - 86_400_000) // 3_600_000 * 3_600_000
    sim = dijon.Simulator(inventory, seed=3, start_ms=start, scenario="cabinet-outage",
                          scenario_at_ms=start + 10 * 60_000)
    engine = AlertEngine(load_rules(), inventory=asset_rows(inventory.assets))
    kinds = [t.__struct_config__.tag for t in EVENT_TYPES]
    feeds = {kind: event_topic("live", kind).split(".", 1)[1] for kind in kinds}
    clock = start
    while clock < start + 90 * 60_000:
        clock += 60_000
        for event in sim.advance(clock):
            if not engine.start_ts:
                engine.watch_inventory(event.ts)
            engine.apply(event, feeds[event.kind])
    roots = [a for a in engine.active.values() if a.parent_id is None]
    children = [a for a in engine.active.values() if a.parent_id is not None]
    by_rule = Counter(a.rule for a in roots)
    assert by_rule["cabinet_supply_loss"] >= 1
    assert len(children) > 10 * by_rule["cabinet_supply_loss"]  # the lamps behind are absorbed, not flooded
    assert {engine.by_id[c.parent_id].rule for c in children} == {"cabinet_supply_loss"}
    assert by_rule["comm_loss"] == 0 and by_rule["lamp_supply_loss"] == 0
    assert by_rule["feed_down"] == 0
