"""Command safety checks: every refusal, and what a valid command looks like."""

import pandas as pd
import pytest

from streams.commands import CommandPolicy, CommandRefused, prepare_command, select_targets

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
