"""The debrief end to end: a test acts as trainee on a session's store while the replay runs at 100x."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.debrief import ack_points
from streams.store import open_store
from streams.training import SessionManager

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]
SPEED = 100


def test_debrief_of_a_trainee_on_a_session(settings, make_recording, kit, name, tmp_path):
    # TCAM-001 offline from 30 s to 600 s (minor, P3), TCAM-002 and TCAM-003 tampered at 60 s and 90 s (major, P2)
    faults = {"TCAM-001": (30, "offline", 600), "TCAM-002": (60, "tamper"), "TCAM-003": (90, "tamper")}
    manager = SessionManager(settings)
    manager.start(recording=make_recording(kit.camera_records(1500, faults)), name=name, speed=SPEED)
    store = open_store(settings, f"train-{name}")
    try:
        by_asset = lambda: {a["asset_id"]: a for a in store.alerts()}
        first = kit.wait_for(lambda: by_asset().get("TCAM-001"), 20, 0.05, "the first alert")
        store.acknowledge(first["id"], "trainee1")
        store.assign(first["id"], "north", "trainee1")
        kit.wait_for(lambda: manager.info(name).position_s >= 90 + 1200, 30, 0.05, "20 scenario minutes")
        third = by_asset()["TCAM-003"]
        store.acknowledge(third["id"], "trainee1")
        kit.wait_for(lambda: manager.info(name).status == "finished", 30, what="the end of the replay")
    finally:
        manager.stop_all()

    debrief = manager.debrief(name)
    alerts = {a.asset_id: a for a in debrief.alerts}
    assert sorted(alerts) == ["TCAM-001", "TCAM-002", "TCAM-003"] and len(debrief.alerts) == 3
    one, two, three = alerts["TCAM-001"], alerts["TCAM-002"], alerts["TCAM-003"]
    # response times on the scenario clock are the replay-clock ones times the speed
    assert one.outcome == "handled" and one.handled_by == "trainee1" and one.assigned_by == "trainee1"
    assert one.ack_s == pytest.approx(one.ack_replay_s * SPEED, rel=0.25)
    # the camera came back at 600 s: the processor resolved the alert, made safe 570 s after its opening
    assert one.resolved_by == "system" and one.safe_s == pytest.approx(570, rel=0.25)
    assert one.ack_on_time and one.contract_on_time and one.points == 1.0
    assert three.outcome == "handled" and not three.ack_on_time and 1100 < three.ack_s < 1500
    assert three.ack_s == pytest.approx(three.ack_replay_s * SPEED, rel=0.25)
    assert three.contract_on_time is None and three.points == pytest.approx(ack_points(three.ack_s, 900), abs=1e-4)
    assert two.outcome == "missed" and two.handled_by is None and two.points == 0.0
    assert [a.alert_id for a in debrief.missed] == [two.alert_id]
    (trainee,) = debrief.trainees
    assert (trainee.actor, trainee.handled, trainee.acknowledged, trainee.assigned, trainee.resolved) == \
        ("trainee1", 2, 2, 1, 0)
    assert trainee.score == round(100 * (1.0 + three.points) / 3) and debrief.score == trainee.score

    env = {**os.environ, "KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIE_DATA_DIR": str(settings.data_dir),
           "VIGIE_DATABASE_URL": "", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "debrief"
    done = subprocess.run([sys.executable, "-m", "dashboard.cli", "train", "debrief", name, "--out", str(out),
                           "--json"], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["missed"] == [two.alert_id] and printed["trainees"][0]["score"] == trainee.score
    assert sorted(p.name for p in out.iterdir()) == ["alerts.csv", "debrief.json", "trainees.csv"]
