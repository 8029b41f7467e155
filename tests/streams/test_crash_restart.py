"""Exactly-once effect: SIGKILL `vigie process` mid-stream, restart it, and find the store of a clean run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.bench import synthetic_inventory, synthetic_stream
from streams.config import Settings
from streams.kafka import ensure_topics, make_producer
from streams.store import open_store
from streams.store.inventory import load_inventory_into

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]


def _process(bootstrap: str, data_dir: Path, namespace: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VIGIE_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(ROOT), "VIGIE_DATABASE_URL": "",
           # commits every 50 ms behind the logs: many writes in flight to be killed in the middle of
           "VIGIE_COMMIT_INTERVAL_S": "0.05"}
    log = open(data_dir / "process.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "dashboard.cli", "process", "--namespace", namespace,
                             "--batch", "500", *extra], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _events_in(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COALESCE(SUM(events + dead_letters), 0) FROM stream_health").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _snapshot(settings: Settings, namespace: str) -> dict:
    store = open_store(settings, namespace)
    summary = store.status_summary()
    energy = store.energy()
    alerts = store.alerts()
    parents = {a["id"]: a for a in alerts}
    return {
        "events": summary["events_processed"],
        "dead_letters": summary["dead_letters"],
        "by_topic": {t["topic"]: (t["events"], t["dead_letters"], t["last_event_ts"]) for t in summary["topics"]},
        "states": {s["asset_id"]: (s["state"], s["last_seen"], s["attributes"] and s["attributes"].get("energy_wh"))
                   for s in store.asset_states()},
        "energy": {(e["cabinet_id"], e["hour_ts"]): (round(e["kwh"], 6), round(e["lamp_kwh"], 6), e["readings"])
                   for e in energy},
        "energy_total": {k: round(v, 6) for k, v in store.energy_totals().items()},
        "alerts": sorted((a["rule"], a["asset_id"], a["state"], a["severity"], a["count"], a["escalated"],
                          a["opened_ts"], a["resolved_ts"],
                          parents[a["parent_id"]]["asset_id"] if a["parent_id"] else None) for a in alerts),
        "reports": sorted((r["report_id"], r["fused"]) for r in store.reports()),
        "intervals": len(store.state_intervals()),
        "offsets": store.load_offsets(f"vigie-processor-{namespace}"),
    }


def test_sigkill_mid_stream_then_restart_equals_an_uninterrupted_run(embedded_broker, tmp_path, start_ms):
    inventory = synthetic_inventory(3000, signals=20, cameras=30, weather=3)
    records = synthetic_stream(inventory, start_ms=start_ms, duration_s=4 * 3600, invalid_every=997)
    namespaces = {"crash": "train-crash-a", "clean": "train-crash-b"}
    producer = make_producer(embedded_broker.bootstrap)
    for ns in namespaces.values():
        ensure_topics(embedded_broker.bootstrap, ns)
        for feed, key, value in records:
            producer.send(f"{ns}.{feed}", value=value, key=key)
    producer.flush(timeout=120)
    producer.close()

    settings = {}
    for label, ns in namespaces.items():
        folder = tmp_path / label
        folder.mkdir()
        settings[label] = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=folder, namespace=ns)
        load_inventory_into(open_store(settings[label], ns), inventory)

    crash_dir = tmp_path / "crash"
    db = crash_dir / "vigie-train-crash-a.db"
    victim = _process(embedded_broker.bootstrap, crash_dir, namespaces["crash"])
    clean = _process(embedded_broker.bootstrap, tmp_path / "clean", namespaces["clean"], "--once",
                     "--max-seconds", "240")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and _events_in(db) < len(records) * 0.3:
        assert victim.poll() is None, (crash_dir / "process.log").read_text()
        time.sleep(0.05)
    at_kill = _events_in(db)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert 0 < at_kill < len(records), f"not killed mid-stream ({at_kill} of {len(records)})"

    restarted = _process(embedded_broker.bootstrap, crash_dir, namespaces["crash"], "--once", "--max-seconds", "240")
    assert restarted.wait(timeout=300) == 0, (crash_dir / "process.log").read_text()
    assert clean.wait(timeout=300) == 0, (tmp_path / "clean" / "process.log").read_text()

    crashed = _snapshot(settings["crash"], namespaces["crash"])
    uninterrupted = _snapshot(settings["clean"], namespaces["clean"])
    assert uninterrupted["events"] + uninterrupted["dead_letters"] == len(records)
    assert uninterrupted["energy_total"]["kwh"] > 0 and uninterrupted["energy_total"]["lamp_kwh"] > 0
    rules = {a[0] for a in uninterrupted["alerts"]}
    assert rules >= {"cabinet_supply_loss", "lamp_supply_loss", "comm_loss", "lamp_defect", "camera_fault",
                     "crossroads_degraded", "wind_gusts"}
    assert any(a[-1] for a in uninterrupted["alerts"]), "topology: some alerts have a parent"
    assert any(a[5] for a in uninterrupted["alerts"]), "escalation happened"
    assert any(fused for _, fused in uninterrupted["reports"]), "fusion happened"
    rename = {namespaces["crash"]: namespaces["clean"]}
    crashed["by_topic"] = {rename.get(t.split(".", 1)[0], "") + "." + t.split(".", 1)[1]: v
                           for t, v in crashed["by_topic"].items()}
    crashed["offsets"] = {(namespaces["clean"] + "." + t.split(".", 1)[1], p): o
                          for (t, p), o in crashed["offsets"].items()}
    crashed["alerts"] = [tuple(namespaces["clean"] + "." + x.split(".", 1)[1]
                               if isinstance(x, str) and x.startswith(namespaces["crash"] + ".") else x for x in a)
                         for a in crashed["alerts"]]
    crashed["alerts"].sort()
    for key in uninterrupted:
        assert crashed[key] == uninterrupted[key], key
