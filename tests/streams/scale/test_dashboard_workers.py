"""Several dashboard workers over one PostgreSQL store serve the same view; an action through one shows in all.

Each worker is its own process with its own `dashboard.data.DataSource` (its own connection
pool, nothing shared in memory), as under `gunicorn -w N "dashboard.app:wsgi_app()"`; the test
drives them over a line protocol on stdin/stdout with what the live tick and the alert pane ask.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from streams.config import Settings
from streams.store import BatchWrite, open_store

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "train-workers"

_WORKER = """
import json, sys
from dashboard.data import DataSource
from streams.config import Settings
data = DataSource.from_settings(Settings.from_env(), sys.argv[1])
for line in sys.stdin:
    ask = json.loads(line)
    if ask["op"] == "tick":
        changes = data.changes_since(ask["seq"])
        out = {"seq": changes.seq, "states": changes.states, "version": data.alerts_version(),
               "alerts": [[a["id"], a["state"], a["severity"], a["children"]] for a in data.open_alerts()]}
    elif ask["op"] == "acknowledge":
        result = data.acknowledge(ask["ids"], ask["actor"])
        out = {"done": list(result.done), "refused": [list(r) for r in result.refused]}
    print(json.dumps(out), flush=True)
"""


class Worker:
    """One dashboard worker process reading the shared store."""

    def __init__(self, database_url: str, folder: Path) -> None:
        env = {**os.environ, "VIGIE_DATABASE_URL": database_url, "VIGIE_DATA_DIR": str(folder),
               "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER, NAMESPACE], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, **request) -> dict:
        """Send one request, return the worker's answer."""
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the worker died"
        return json.loads(line)

    def close(self) -> None:
        """Stop the worker."""
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _seed(store) -> list[int]:
    now = int(time.time() * 1000)
    store.apply_batch(BatchWrite(group_id="test", asset_rows=[
        {"asset_id": f"LP-{i}", "kind": "light", "state": "fault" if i % 3 == 0 else "on", "attributes": {},
         "faults": ["lamp_failure"] if i % 3 == 0 else [], "last_changed": now, "last_updated": now,
         "last_seen": now} for i in range(30)]))
    ids = list(store.reserve_alert_ids(10))
    store.apply_batch(BatchWrite(group_id="test", new_alerts=[
        {"id": alert_id, "rule": "lamp_failure", "asset_id": f"LP-{3 * k}", "domain": "lighting",
         "severity": "major" if k % 2 else "minor", "priority": "P2", "state": "open", "title": "Lamp failure",
         "opened_ts": now - 600_000 + k, "last_ts": now, "due_ts": now + 7_200_000, "parent_id": None, "count": 1,
         "flapping": False, "escalated": False, "commune_code": "21231"} for k, alert_id in enumerate(ids)]))
    return ids


def test_two_workers_serve_the_same_view_and_see_each_others_actions(postgres_url, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, namespace=NAMESPACE)
    store = open_store(settings, NAMESPACE)
    ids = _seed(store)
    workers = [Worker(postgres_url, tmp_path), Worker(postgres_url, tmp_path)]
    try:
        first, second = (w.ask(op="tick", seq=0) for w in workers)
        assert first == second
        assert sorted(a[0] for a in first["alerts"]) == sorted(ids)
        assert len(first["states"]) == 10  # the faulty lamps; nominal ones are not sent from 0

        # An operator acknowledges through the first worker: the second serves the change at its next tick.
        seq = second["seq"]
        assert workers[0].ask(op="acknowledge", ids=ids[:3], actor="op1") == {"done": ids[:3], "refused": []}
        after = [w.ask(op="tick", seq=seq) for w in workers]
        assert after[0] == after[1]
        assert after[1]["version"] != second["version"]
        states = {a[0]: a[1] for a in after[1]["alerts"]}
        assert [states[i] for i in ids[:3]] == ["acknowledged"] * 3
        assert all(states[i] == "open" for i in ids[3:])
        # Acknowledging again through the other worker is refused with the state the first one left.
        again = workers[1].ask(op="acknowledge", ids=ids[:1], actor="op2")
        assert again == {"done": [], "refused": [[ids[0], "state:acknowledged"]]}

        # A processor batch lands: both workers serve the same changes since the same seq.
        now = int(time.time() * 1000)
        store.apply_batch(BatchWrite(group_id="test", asset_rows=[
            {"asset_id": "LP-1", "kind": "light", "state": "fault", "attributes": {}, "faults": ["lamp_failure"],
             "last_changed": now, "last_updated": now, "last_seen": now}]))
        tick = [w.ask(op="tick", seq=after[0]["seq"]) for w in workers]
        assert tick[0] == tick[1] and list(tick[0]["states"]) == ["LP-1"] and tick[0]["seq"] > after[0]["seq"]
    finally:
        for w in workers:
            w.close()
