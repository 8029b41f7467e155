"""Two `vigie process` in one consumer group over PostgreSQL: one SIGKILLed mid-stream, the other takes over.

The store they share must equal the store of one uninterrupted processor over the same stream:
every event counted once (per topic, per asset, energy readings and sums), the same alerts with the
same parents (light points share their cabinet's partition, as `EventProducer` places them), the
same fused reports, and offsets at the ends of the logs. A processor fenced off by the group
(exit code 3) is restarted, as the deployment's restart policy does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from streams.bench import synthetic_inventory, synthetic_stream
from streams.config import Settings
from streams.kafka import ensure_topics, make_producer, partition_key, partition_of
from streams.store import open_store
from streams.store.inventory import load_inventory_into
from streams.topics import source_topics

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]
FENCED = 3  # `vigie process` exit code when another processor of the group took a partition it wrote
_PARTITION_LINE = re.compile(rb"reading (\d+) partitions")


def _process(bootstrap: str, database_url: str, folder: Path, name: str, namespace: str,
             *extra: str) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VIGIE_DATA_DIR": str(folder),
           "PYTHONPATH": str(ROOT), "VIGIE_DATABASE_URL": database_url,
           "VIGIE_COMMIT_INTERVAL_S": "0.05"}  # many commits behind the logs: killed between two of them
    log = open(folder / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "dashboard.cli", "process", "--namespace", namespace,
                             "--batch", "500", *extra], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _partition(key: bytes, value: bytes) -> int:
    try:
        cabinet = orjson.loads(value).get("cabinet_id")
    except orjson.JSONDecodeError:
        cabinet = None
    return partition_of(partition_key(key.decode(), cabinet), 3)


def _snapshot(settings: Settings, namespace: str) -> dict:
    store = open_store(settings, namespace)
    summary = store.status_summary()
    alerts = store.alerts()
    parents = {a["id"]: a["asset_id"] for a in alerts}
    rename = (lambda v: v.split(".", 1)[1] if isinstance(v, str) and v.startswith(namespace + ".") else v)
    return {
        "events": summary["events_processed"],
        "dead_letters": summary["dead_letters"],
        "by_topic": {t["topic"].split(".", 1)[1]: (t["events"], t["dead_letters"]) for t in summary["topics"]},
        "states": {s["asset_id"]: (s["state"], s["last_seen"], s["attributes"] and s["attributes"].get("energy_wh"))
                   for s in store.asset_states()},
        "energy": {(e["cabinet_id"], e["hour_ts"]): (round(e["kwh"], 6), round(e["lamp_kwh"], 6), e["readings"])
                   for e in store.energy()},
        "energy_total": {k: round(v, 6) for k, v in store.energy_totals().items()},
        "alerts": sorted((a["rule"], rename(a["asset_id"]), a["opened_ts"]) for a in alerts),
        "alert_states": sorted((a["rule"], rename(a["asset_id"]), a["opened_ts"], a["state"], a["severity"],
                                a["count"], a["escalated"], a["resolved_ts"], parents.get(a["parent_id"]))
                              for a in alerts),
        "reports": sorted((r["report_id"], r["fused"]) for r in store.reports()),
        "offsets": {(t.split(".", 1)[1], p): o
                    for (t, p), o in store.load_offsets(f"vigie-processor-{namespace}").items()},
    }


def _events_in(settings: Settings, namespace: str) -> int:
    summary = open_store(settings, namespace).status_summary()
    return summary["events_processed"] + summary["dead_letters"]


def _offsets(settings: Settings, namespace: str) -> dict:
    return {(t.split(".", 1)[1], p): o
            for (t, p), o in open_store(settings, namespace).load_offsets(f"vigie-processor-{namespace}").items()}


def _pairs(shared: list[tuple], single: list[tuple]) -> list[str]:
    """Alerts (rule, asset, opened_ts) whose later fields differ: shared store vs single processor."""
    mine = {a[:3]: a[3:] for a in shared}
    theirs = {a[:3]: a[3:] for a in single}
    return [f"{k}: {mine.get(k)} != {theirs.get(k)}" for k in sorted(set(mine) | set(theirs))
            if mine.get(k) != theirs.get(k)]


def _partitions_read(log: Path) -> list[int]:
    return [int(n) for n in _PARTITION_LINE.findall(log.read_bytes())] if log.exists() else []


@pytest.mark.timeout(900)
def test_two_processors_share_the_partitions_and_one_takes_over_from_a_killed_one(
        embedded_broker, postgres_url, tmp_path, start_ms):
    inventory = synthetic_inventory(2000, signals=20, cameras=30, weather=3)
    records = synthetic_stream(inventory, start_ms=start_ms, duration_s=4 * 3600, invalid_every=997)
    namespaces = {"pair": "train-pair-a", "single": "train-pair-b"}
    partitions = [_partition(key, value) for _, key, value in records]  # as EventProducer places them
    producer = make_producer(embedded_broker.bootstrap)
    for ns in namespaces.values():
        ensure_topics(embedded_broker.bootstrap, ns)
        for (feed, key, value), partition in zip(records, partitions):
            producer.send(f"{ns}.{feed}", value=value, key=key, partition=partition)
    producer.flush(timeout=120)
    producer.close()

    settings = {}
    for label, ns in namespaces.items():
        settings[label] = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path,
                                   database_url=postgres_url, namespace=ns)
        load_inventory_into(open_store(settings[label], ns), inventory)

    bootstrap = embedded_broker.bootstrap
    pair = namespaces["pair"]
    total = len(source_topics(pair)) * 3
    procs = {name: _process(bootstrap, postgres_url, tmp_path, name, pair) for name in ("p1", "p2")}
    single = _process(bootstrap, postgres_url, tmp_path, "single", namespaces["single"], "--once",
                      "--max-seconds", "400")
    restarts = 0

    def supervise() -> None:
        """Restart a processor fenced off by the group (what the deployment's restart policy does)."""
        nonlocal restarts
        for name, proc in procs.items():
            code = proc.poll()
            if code == FENCED:
                restarts += 1
                procs[name] = _process(bootstrap, postgres_url, tmp_path, name, pair)
            else:
                assert code is None, (tmp_path / f"{name}.log").read_text()

    # Both processors read part of the partitions, and the pair is mid-stream: kill one.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        supervise()
        shares = [_partitions_read(tmp_path / f"{name}.log") for name in procs]
        split = all(s and s[-1] < total for s in shares)
        if split and _events_in(settings["pair"], pair) >= len(records) * 0.3:
            break
        time.sleep(0.2)
    at_kill = _events_in(settings["pair"], pair)
    assert all(s and s[-1] < total for s in shares), f"the partitions were not shared: {shares}"
    procs["p1"].send_signal(signal.SIGKILL)
    procs["p1"].wait()
    del procs["p1"]
    assert 0 < at_kill < len(records), f"not killed mid-stream ({at_kill} of {len(records)})"

    # The survivor takes the killed one's partitions (after the session timeout) and reads them to the end.
    assert single.wait(timeout=400) == 0, (tmp_path / "single.log").read_text()
    uninterrupted = _snapshot(settings["single"], namespaces["single"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        supervise()
        # the killed one's partitions may already be read to their end: wait for the takeover itself too
        # (the group hands them over when the dead member's session times out)
        taken_over = (_partitions_read(tmp_path / "p2.log") or [0])[-1] == total
        if taken_over and _offsets(settings["pair"], pair) == uninterrupted["offsets"]:
            break
        time.sleep(0.5)
    survivor = procs["p2"]
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=60) in (0, FENCED), (tmp_path / "p2.log").read_text()
    assert _partitions_read(tmp_path / "p2.log")[-1] == total, "the survivor did not take over every partition"

    shared = _snapshot(settings["pair"], pair)
    assert uninterrupted["events"] + uninterrupted["dead_letters"] == len(records)
    assert sum(uninterrupted["offsets"].values()) == len(records)  # every log read to its end
    assert shared["offsets"] == uninterrupted["offsets"], "offsets are not at the ends of the logs"
    assert any(a[-1] for a in uninterrupted["alert_states"]), "topology: some alerts have a parent"
    assert any(fused for _, fused in uninterrupted["reports"]), "fusion happened"
    for key in ("events", "dead_letters", "by_topic", "energy", "energy_total", "reports"):
        assert shared[key] == uninterrupted[key], (key, f"fenced restarts: {restarts}")
    assert {a: s[1:] for a, s in shared["states"].items()} == {a: s[1:] for a, s in uninterrupted["states"].items()}
    differ = {
        "states": {a: (s, uninterrupted["states"].get(a)) for a, s in shared["states"].items()
                   if s != uninterrupted["states"].get(a)},
        "alerts": (sorted(set(shared["alerts"]) - set(uninterrupted["alerts"])),
                   sorted(set(uninterrupted["alerts"]) - set(shared["alerts"]))),
        "alert_states": _pairs(shared["alert_states"], uninterrupted["alert_states"]),
    }
    (tmp_path / "differences.txt").write_text(repr(differ))
    assert not differ["states"] and differ["alerts"] == ([], []) and not differ["alert_states"], differ
