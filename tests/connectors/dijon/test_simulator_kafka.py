"""Integration tests of the simulator's runner and command line against the embedded broker."""

from __future__ import annotations

import argparse
import io
import threading
import time as walltime
from collections import defaultdict
from datetime import date, time

import pytest

from connectors.dijon import simulate_cmd
from connectors.dijon.inventory import Inventory, build_inventory
from connectors.dijon.runner import Runner, measure_top_speed
from connectors.dijon.scenarios import SCENARIOS
from connectors.dijon.sim_base import HOUR_MS, MINUTE_MS, local_ms
from connectors.dijon.simulator import Simulator
from streams.broker import EmbeddedBroker, free_port
from streams.config import Settings
from streams.kafka import EventProducer, make_consumer
from streams.schemas import CommandAck, CommandRequest, Validator, now_ms
from streams.topics import topic_name

pytestmark = pytest.mark.kafka

NS = "train-simtest"
SOURCES = ("lighting.telemetry", "lighting.cabinets", "traffic.status", "traffic.priority", "cameras.health",
           "weather.observations", "incidents.reports")
DAY = date(2025, 1, 14)


@pytest.fixture(scope="module")
def broker():
    server = EmbeddedBroker(free_port()).start(namespaces=("live", NS))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def inv() -> Inventory:
    full = build_inventory(42)
    a = full.assets
    cabs = a.loc[a["kind"] == "cabinet", "asset_id"].iloc[:6]
    rank = a.groupby("kind").cumcount()
    keep = a["kind"].isin(["weather", "signal"]) | a["asset_id"].isin(cabs) | a["cabinet_id"].isin(cabs)
    keep |= (a["kind"] == "camera") & (rank < 20)
    return Inventory(communes=full.communes, assets=a[keep].reset_index(drop=True), lines=full.lines, seed=42)


def read_all(bootstrap: str, topics: list[str], *, until, timeout_s: float = 20.0) -> dict[str, list[bytes]]:
    consumer = make_consumer(bootstrap, topics)
    got: dict[str, list[bytes]] = defaultdict(list)
    deadline = walltime.monotonic() + timeout_s
    try:
        while walltime.monotonic() < deadline and not until(got):
            for tp, records in consumer.poll(timeout_ms=500).items():
                got[tp.topic] += [r.value for r in records]
    finally:
        consumer.close()
    return got


def test_the_runner_produces_every_source_topic_and_acknowledges_commands(broker, inv):
    start = local_ms(DAY, time(10, 0))
    sim = Simulator(inv, seed=1, start_ms=start)
    out = io.StringIO()
    runner = Runner(sim, bootstrap=broker.bootstrap, namespace=NS, speed=600, duration_s=4, step_s=0.25,
                    status_every_s=2, out=out)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    assert runner.ready.wait(20), out.getvalue()
    producer = EventProducer.connect(broker.bootstrap, NS)
    wall = now_ms()
    producer.send(CommandRequest(asset_id="CAB-0001", ts=wall, command_id="it-1", action="dim", targets=["CAB-0001"],
                                 expires_at=wall + HOUR_MS, user="it", reason="integration test", level=50))
    producer.send(CommandRequest(asset_id="LP-999999", ts=wall, command_id="it-2", action="switch_on",
                                 targets=["LP-999999"], expires_at=wall + HOUR_MS, user="it", reason="bad target"))
    producer.close()
    thread.join(40)
    assert not thread.is_alive()
    summary = runner.summary
    assert summary.commands == 2 and summary.speed > 300, out.getvalue()
    assert "ev/s" in out.getvalue() and "lighting.telemetry" in out.getvalue()

    topics = [topic_name(NS, *suffix.split(".")) for suffix in SOURCES]
    acks_topic = topic_name(NS, "commands", "acks")
    got = read_all(broker.bootstrap, topics + [acks_topic],
                   until=lambda g: all(g[t] for t in topics) and len(g[acks_topic]) >= 3)
    validator = Validator()
    for topic in topics:
        assert got[topic], f"nothing arrived on {topic}"
        events, errors = validator.decode_batch(got[topic])
        assert not errors, (topic, errors[:3])
    acks = [a for a in validator.decode_batch(got[acks_topic])[0] if isinstance(a, CommandAck)]
    statuses = {(a.command_id, a.status): a for a in acks}
    assert ("it-1", "accepted") in statuses and statuses[("it-1", "done")].applied == len(inv.lamps_of("CAB-0001"))
    assert statuses[("it-2", "rejected")].detail.startswith("unknown target")


def test_measure_top_speed_reports_generation_and_production(broker, inv):
    result = measure_top_speed(inv, 0.5, bootstrap=broker.bootstrap, namespace=NS)
    assert result["events"] > 0 and result["events_per_s_generated"] > result["events_per_s_encoded"] > 0
    assert result["speed_factor"] > 100 and result["events_per_s_produced"] > 0


def test_simulate_command_end_to_end(broker, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    simulate_cmd.add_arguments(parser)
    settings = Settings(kafka_bootstrap=broker.bootstrap, data_dir=tmp_path)
    args = parser.parse_args(["--speed", "60", "--duration", "2", "--namespace", NS, "--scenario", "storm-night"])
    assert simulate_cmd.run(args, settings) == 0
    err = capsys.readouterr().err
    assert "inventory built and saved" in err and "scenario storm-night" in err and "done:" in err
    assert (tmp_path / "inventory").is_dir()


def test_simulate_command_errors_are_one_line_with_exit_code_2(capsys, monkeypatch):
    monkeypatch.setattr(simulate_cmd, "BROKER_WAIT_S", 1.0)
    parser = argparse.ArgumentParser()
    simulate_cmd.add_arguments(parser)
    nobody = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    for flags, message in ((["--scenario", "tornado"], "unknown scenario 'tornado' (known: storm-night"),
                           (["--start", "yesterday"], "bad --start 'yesterday'"),
                           (["--namespace", "Live"], "invalid namespace"),
                           ([], "no Kafka broker answered")):
        assert simulate_cmd.run(parser.parse_args(flags), nobody) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_default_start_keeps_the_clock_behind_the_wall():
    now = local_ms(DAY, time(15, 0))
    assert simulate_cmd.default_start(now, 1.0, None, None) == (now, None)
    assert simulate_cmd.default_start(now, 60.0, 600, None) == (now - 600 * 60 * 1000, None)
    assert simulate_cmd.default_start(now, 60.0, None, None)[0] == now - 24 * HOUR_MS
    start, onset = simulate_cmd.default_start(now, 60.0, 600, SCENARIOS["storm-night"])
    assert onset - start == 15 * MINUTE_MS and onset == local_ms(date(2025, 1, 13), time(20, 0))
    assert start + 600 * 60 * 1000 <= now
    assert simulate_cmd.parse_start("2025-01-14T16:00") == local_ms(DAY, time(16, 0))
