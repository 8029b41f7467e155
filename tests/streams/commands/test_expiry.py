"""A dim command in the simulator: the lamps follow, the energy drops, and they return to their programme at expiry."""

from __future__ import annotations

from datetime import date, time

from connectors.dijon.inventory import Inventory, build_inventory
from connectors.dijon.sim_base import MINUTE_MS, local_ms
from connectors.dijon.simulator import Simulator
from streams.commands import prepare_command, select_targets
from streams.schemas import LampTelemetry

COMMUNE = "21270"


def test_a_commune_dimmed_to_50_follows_uses_less_energy_then_returns_to_its_programme():
    full = build_inventory(42)
    a = full.assets
    keep = ((a["commune_code"] == COMMUNE) & a["kind"].isin(["light", "cabinet"])) | (a["kind"] == "weather")
    small = Inventory(communes=full.communes, lines=full.lines, seed=42, assets=a[keep].reset_index(drop=True))
    start = local_ms(date(2025, 1, 14), time(17, 30))  # lit at 100 % from dusk until the 22:00 programme
    sim = Simulator(small, seed=7, start_ms=start)

    def lamps():
        return sim.lamp_frame().set_index("asset_id")

    def energy_used(events, ids) -> float:
        """Wh the lamps' meters advanced over the events' readings."""
        seen: dict[str, list[float]] = {}
        for e in events:
            if isinstance(e, LampTelemetry) and e.asset_id in ids:
                seen.setdefault(e.asset_id, []).append(e.energy_wh)
        return sum(max(v) - min(v) for v in seen.values())

    sim.advance(start + 75 * MINUTE_MS)
    before = lamps()
    lit = before.index[(before["fault"] == "") & before["supply_ok"] & (before["level"] == 100)]
    assert len(lit) > 100
    ids = set(lit)
    full_hour = energy_used(sim.advance(sim.clock + 60 * MINUTE_MS), ids)

    at = sim.clock  # 19:45
    selection = select_targets(small.assets, commune=COMMUNE)
    request = prepare_command(selection, action="dim", level=50, minutes=90, user="alice", role="operator",
                              reason="energy test", now_ms=at)
    acks = sim.apply_command(request, at)
    assert [x.status for x in acks] == ["accepted", "done"] and acks[1].applied == selection.count
    dim_hour = energy_used(sim.advance(at + 60 * MINUTE_MS), ids)
    during = lamps().loc[lit]
    assert during["override"].all() and (during["level"] == 50).all()
    assert (during["power_w"] < before.loc[lit, "power_w"]).all()
    assert 0 < dim_hour < 0.7 * full_hour, (dim_hour, full_hour)

    sim.advance(at + 91 * MINUTE_MS)  # 21:16: the override expired, the programme says 100 % until 22:00
    after = lamps().loc[lit]
    assert not after["override"].any() and (after["level"] == 100).all()
