"""Command safety checks: every refusal, and what a valid command looks like."""

import pandas as pd
import pytest

from streams.commands import CommandPolicy, CommandRefused, prepare_command, select_area, select_targets

NOW = 1795600000000
ASSETS = pd.DataFrame(
    [("LP-%06d" % i, "light", "21231" if i <= 600 else "21166", "CAB-%04d" % (1 + i // 40)) for i in range(1, 701)]
    + [("CAB-%04d" % c, "cabinet", "21231", None) for c in range(1, 19)]
    + [("SIG-001", "signal", "21231", None)],
    columns=["asset_id", "kind", "commune_code", "cabinet_id"],
)


def command(selection, **kw):
    args = dict(action="dim", level=50, minutes=60, user="alice", role="operator", reason="test", now_ms=NOW)
    args.update(kw)
    return prepare_command(selection, **args)


def refused(selection, **kw) -> str:
    with pytest.raises(CommandRefused) as info:
        command(selection, **kw)
    return info.value.reason


def test_selection_expands_cabinets_and_communes():
    cab = select_targets(ASSETS, cabinets=["CAB-0002"])
    assert cab.count == 40 and cab.targets == ("CAB-0002",) and cab.scope == "CAB-0002"
    commune = select_targets(ASSETS, commune="21166")
    assert commune.count == 100 and commune.targets == ("commune:21166",)
    mixed = select_targets(ASSETS, lamps=["LP-000001"], cabinets=["CAB-0001"])
    assert mixed.count == 39 and mixed.scope == "selection:2"  # LP-000001 is one of CAB-0001's 39 lamps


def test_a_valid_dim_command():
    event = command(select_targets(ASSETS, commune="21166"))
    assert event.action == "dim" and event.level == 50
    assert event.expires_at == NOW + 3_600_000 and event.targets == ["commune:21166"]
    assert event.user == "alice" and event.reason == "test"


def test_every_refusal():
    small = select_targets(ASSETS, cabinets=["CAB-0003"])
    assert "training session" in refused(small, origin_namespace="train-a", target_namespace="live")
    assert "role 'manager'" in refused(small, role="manager")
    assert "needs a reason" in refused(small, reason="  ")
    assert "unknown target" in refused(select_targets(ASSETS, lamps=["LP-999999"]))
    assert "unknown target" in refused(select_targets(ASSETS, commune="99999"))
    assert "between 0 and 100" in refused(small, level=150)
    assert "between 0 and 100" in refused(small, level=None)
    assert "takes no level" in refused(small, action="switch_off")
    assert "duration" in refused(small, minutes=0)
    assert "duration" in refused(small, minutes=3 * 24 * 60)
    assert "rate limit" in refused(small, recent_by_user=10)
    assert "traffic signals only" in refused(small, action="flash", level=None)
    sig = select_targets(ASSETS, signals=["SIG-001"])
    assert "not to traffic signals" in refused(sig)
    assert "second operator" in refused(sig, action="flash", level=None)
    assert "someone else" in refused(sig, action="flash", level=None, confirmed_by="alice")
    big = select_targets(ASSETS, commune="21231")
    assert big.count == 600 and "second operator" in refused(big)
    assert "may not confirm" in refused(big, confirmed_by="bob", confirmer_role="manager")
    assert "may not confirm" in refused(big, confirmed_by="bob")  # a name alone confirms nothing
    assert "role 'trainee'" in refused(small, role="trainee")  # trainees command in training rooms only
    assert "role 'operator'" in refused(small, role="operator", origin_namespace="train-a", target_namespace="train-a")


def test_confirmed_commands_pass_and_policy_is_configurable():
    big = select_targets(ASSETS, commune="21231")
    assert command(big, confirmed_by="bob", confirmer_role="supervisor").confirmed_by == "bob"
    assert command(big, policy=CommandPolicy(confirm_lamps_over=1000)).confirmed_by is None
    flash = command(select_targets(ASSETS, signals=["SIG-001"]), action="flash", level=None, confirmed_by="bob",
                    confirmer_role="operator")
    assert flash.action == "flash"
    training = command(big, role="trainee", confirmed_by="bob", confirmer_role="trainee", origin_namespace="train-a",
                       target_namespace="train-a")
    assert training.targets == ["commune:21231"]


# -- a drawn area --------------------------------------------------------------------------------

# a 30 x 30 grid of lamps 0.001° apart from (5.0, 47.3), and two crossroads
GRID = pd.DataFrame(
    [("LP-%06d" % (i * 30 + j), "light", 5.0 + 0.001 * i, 47.3 + 0.001 * j) for i in range(30) for j in range(30)]
    + [("SIG-001", "signal", 5.0105, 47.3105), ("SIG-002", "signal", 5.025, 47.325)],
    columns=["asset_id", "kind", "lon", "lat"],
)


def _box(lon0, lat0, lon1, lat1) -> dict:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"type": "rectangle"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}]}


def test_an_area_selects_the_lamps_or_the_crossroads_inside_it():
    area = _box(5.0095, 47.3095, 5.0195, 47.3195)  # lamps i, j in 10..19
    lamps = select_area(GRID, area)
    assert lamps.count == 100 and lamps.scope == "area:100" and not lamps.signal_ids
    assert lamps.lamp_ids[0] == "LP-%06d" % (10 * 30 + 10) and lamps.targets == lamps.lamp_ids
    crossroads = select_area(GRID, area, kind="signal")
    assert crossroads.signal_ids == ("SIG-001",) and crossroads.lamp_ids == () and crossroads.scope == "area:1"
    assert command(crossroads, action="flash", level=None, confirmed_by="bob",
                   confirmer_role="operator").targets == ["SIG-001"]
    # a triangle between the grid's diagonals: lamps i, j >= 10 with i + j <= 29
    triangle = {"type": "Polygon", "coordinates": [[[5.0095, 47.3095], [5.0200, 47.3095], [5.0095, 47.3200],
                                                     [5.0095, 47.3095]]]}
    assert select_area(GRID, triangle).count == 55
    # two shapes add up; overlapping ones count each lamp once
    both = _box(5.0095, 47.3095, 5.0195, 47.3195)
    both["features"] += _box(5.0145, 47.3095, 5.0245, 47.3195)["features"]
    assert select_area(GRID, both).count == 150


def test_an_area_is_refused_when_empty_outside_or_too_large():
    assert "empty" in _area_refusal(None)
    assert "empty" in _area_refusal({"type": "FeatureCollection", "features": []})
    assert "empty" in _area_refusal(_box(5.01, 47.31, 5.01, 47.32))  # no surface
    assert "empty" in _area_refusal({"type": "Polygon", "coordinates": "nonsense"})
    assert "outside the metropolis" in _area_refusal(_box(2.3, 48.8, 2.4, 48.9))  # Paris
    assert "over the cap of 50" in _area_refusal(_box(4.9, 47.2, 5.1, 47.4), policy=CommandPolicy(max_area_assets=50))
    nothing = select_area(GRID, _box(5.0101, 47.3101, 5.0104, 47.3104))  # between four lamps
    assert nothing.count == 0 and "reaches no equipment" in refused(nothing)


def test_resume_ends_an_override_on_lamps_or_on_crossroads_not_both():
    assert command(select_targets(ASSETS, commune="21166"), action="normal", level=None).action == "normal"
    signal = select_targets(ASSETS, signals=["SIG-001"])
    assert "second operator" in refused(signal, action="normal", level=None)  # the crossroads rule stays
    mixed = select_targets(ASSETS, lamps=["LP-000001"], signals=["SIG-001"])
    assert "not to both" in refused(mixed, action="normal", level=None, confirmed_by="bob")


def _area_refusal(area, **kw) -> str:
    with pytest.raises(CommandRefused) as info:
        select_area(GRID, area, **kw)
    return info.value.reason
