"""`vigie command` and `vigie assets`: every refusal in one line with exit code 2, a send obeyed by the simulator."""

from __future__ import annotations

import argparse
import io
import json
import threading
from datetime import date, time

import pytest

from connectors.dijon.inventory import Inventory, build_inventory
from connectors.dijon.runner import Runner
from connectors.dijon.sim_base import local_ms
from connectors.dijon.simulator import Simulator
from streams import assets_cmd, command_cmd
from streams.config import Settings
from streams.kafka import ensure_topics
from streams.store import open_store
from streams.store.inventory import load_inventory_into

NS = "train-cmdcli"
COMMUNE = "21270"  # Flavignerot: 160 lamps, under the second-operator threshold


@pytest.fixture(scope="module")
def inv() -> Inventory:
    full = build_inventory(42)
    a = full.assets
    keep = (a["commune_code"] == COMMUNE) & a["kind"].isin(["light", "cabinet"])
    keep |= a["kind"].isin(["signal", "weather"])
    return Inventory(communes=full.communes, assets=a[keep].reset_index(drop=True), lines=full.lines, seed=42)


PASSWORD = "correct horse battery"


def add_users(settings, monkeypatch) -> None:
    """alice and bob (trainees: they command in this training namespace), mia (manager: may not command)."""
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from streams.store.accounts import Accounts

    accounts = Accounts.from_settings(settings, hasher=PasswordHasher.from_parameters(CHEAPEST))
    for name, role in (("alice", "trainee"), ("bob", "trainee"), ("mia", "manager")):
        accounts.add_user(name, role, PASSWORD, by="test")
    monkeypatch.setenv("VIGIE_PASSWORD", PASSWORD)
    monkeypatch.setenv("VIGIE_CONFIRM_PASSWORD", PASSWORD)


@pytest.fixture
def settings(tmp_path, inv, monkeypatch):
    s = Settings(data_dir=tmp_path, namespace=NS, kafka_bootstrap="127.0.0.1:9")
    load_inventory_into(open_store(s, NS), inv)
    add_users(s, monkeypatch)
    return s


def cli(module, argv, settings):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv), settings)


BASE = ["--user", "alice", "--reason", "test", "--minutes", "60"]
REFUSALS = [
    (["dim", "--commune", COMMUNE, "--level", "50", "--user", "mia"], "'mia' (manager) does not hold the right"),
    (["dim", "--commune", COMMUNE, "--level", "50", "--user", "eve"], "wrong user name or password for 'eve'"),
    (["flash", "--signal", "SIG-001", "--confirmed-by", "mia"], "'mia' (manager) does not hold the right"),
    (["dim", "--commune", COMMUNE, "--level", "150"], "between 0 and 100"),
    (["dim", "--commune", COMMUNE], "between 0 and 100"),
    (["dim", "--lamp", "LP-NOPE", "--level", "50"], "unknown target(s): LP-NOPE"),
    (["dim", "--commune", "99999", "--level", "50"], "unknown target(s): commune:99999"),
    (["dim", "--commune", COMMUNE, "--level", "50", "--minutes", "0"], "the duration must be between"),
    (["flash", "--signal", "SIG-001"], "a second operator must confirm"),
    (["flash", "--signal", "SIG-001", "--confirmed-by", "alice"], "must be someone else"),
    (["flash", "--commune", COMMUNE, "--confirmed-by", "bob"], "traffic signals only"),
    (["dim", "--signal", "SIG-001", "--level", "20", "--confirmed-by", "bob"], "not to traffic signals"),
    (["switch", "--commune", COMMUNE], "switch needs --state on or --state off"),
    (["dim", "--level", "50"], "name the targets"),
    (["dim", "--commune", COMMUNE, "--level", "50", "--target-namespace", "live"],
     "a training session cannot command live equipment"),
]


@pytest.mark.parametrize("argv, message", REFUSALS)
def test_refusals_are_one_line_with_exit_code_2(settings, capsys, argv, message):
    assert cli(command_cmd, [*BASE, *argv], settings) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and message in err, err
    assert not open_store(settings, NS).commands()


def test_a_wrong_password_is_refused_and_audited(settings, capsys, monkeypatch):
    monkeypatch.setenv("VIGIE_PASSWORD", "not the password")
    assert cli(command_cmd, [*BASE, "dim", "--commune", COMMUNE, "--level", "50"], settings) == 2
    assert "wrong user name or password for 'alice'" in capsys.readouterr().err
    assert open_store(settings, "live").audit(actor="alice")[0]["action"] == "login.failed"
    assert not open_store(settings, NS).commands()


def test_an_empty_reason_is_refused(settings, capsys):
    assert cli(command_cmd, ["dim", "--commune", COMMUNE, "--level", "5", "--user", "alice", "--reason", " "],
               settings) == 2
    assert "a command needs a reason" in capsys.readouterr().err


def test_the_rate_limit_counts_the_users_commands_in_the_store(settings, capsys, inv):
    from streams.commands import prepare_command, select_targets
    from streams.schemas import now_ms

    store = open_store(settings, NS)
    sel = select_targets(inv.assets, commune=COMMUNE)
    for _ in range(10):
        req = prepare_command(sel, action="dim", level=40, minutes=5, user="alice", role="operator", reason="r",
                              now_ms=now_ms())
        store.record_command(req, scope=sel.scope, count=sel.count, namespace=NS)
    assert cli(command_cmd, ["dim", "--commune", COMMUNE, "--level", "50", *BASE], settings) == 2
    assert "rate limit: alice sent 10 commands" in capsys.readouterr().err


@pytest.mark.kafka
def test_a_command_is_sent_obeyed_by_the_simulator_and_waited_for(embedded_broker, tmp_path, inv, capsys,
                                                                  monkeypatch):
    ensure_topics(embedded_broker.bootstrap, NS)
    settings = Settings(data_dir=tmp_path, namespace=NS, kafka_bootstrap=embedded_broker.bootstrap)
    store = open_store(settings, NS)
    load_inventory_into(store, inv)
    add_users(settings, monkeypatch)
    sim = Simulator(inv, seed=3, start_ms=local_ms(date(2025, 1, 14), time(21, 0)))
    runner = Runner(sim, bootstrap=embedded_broker.bootstrap, namespace=NS, speed=60, duration_s=30, step_s=0.25,
                    out=io.StringIO())
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert runner.ready.wait(20)
        code = cli(command_cmd, ["dim", "--commune", COMMUNE, "--level", "50", "--wait", "20", *BASE], settings)
        out = capsys.readouterr().out
        lamps = int((inv.assets["kind"] == "light").sum())
        assert code == 0 and f"done: applied to {lamps}" in out, out
    finally:
        runner.stop()
        thread.join(20)
    frame = sim.lamp_frame()
    [row] = store.commands()
    assert row["status"] == "pending" and row["count"] == lamps  # the processor, not the CLI, tracks the acks
    assert store.audit(actor="alice")[0]["action"] == "command.dim"
    ok = frame[frame["fault"] == ""]
    assert ok["override"].all() and (ok["level"] <= 50).all() and (ok["level"] > 0).any()


def test_assets_json_lists_the_live_state(settings, capsys, inv):
    from streams.rules import load_rules
    from streams.rules_engine import AlertEngine
    from streams.schemas import LampTelemetry, now_ms
    from streams.store import BatchWrite

    store = open_store(settings, NS)
    lamp = inv.assets.loc[inv.assets["kind"] == "light", "asset_id"].iloc[0]
    engine = AlertEngine(load_rules(), inventory=store.inventory())
    engine.apply(LampTelemetry(asset_id=lamp, ts=now_ms(), power_state="low", level=50, power_w=21.5, energy_wh=10),
                 "lighting.telemetry")
    store.apply_batch(BatchWrite(group_id="g", asset_rows=engine.drain().asset_rows()))
    assert cli(assets_cmd, ["--commune", COMMUNE, "--kind", "light", "--json"], settings) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == int((inv.assets["kind"] == "light").sum())
    by_id = {r["asset_id"]: r for r in rows}
    assert by_id[lamp]["level"] == 50 and by_id[lamp]["power_w"] == 21.5 and by_id[lamp]["state"] == "low"
    assert all(r["kind"] == "light" and r["commune_code"] == COMMUNE for r in rows)
    assert cli(assets_cmd, ["--kind", "signal", "--json"], settings) == 0
    assert {r["kind"] for r in json.loads(capsys.readouterr().out)} == {"signal"}
