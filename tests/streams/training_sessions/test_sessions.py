"""Training sessions end to end on the embedded broker: own processor and store, isolation, control, cleanup."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from kafka import TopicPartition

from streams.kafka import make_consumer
from streams.store import open_store, store_location
from streams.topics import namespace_topics
from streams.training import SessionExists, SessionManager
from streams.training_state import pid_alive

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[3]


def _ends(bootstrap: str, namespace: str) -> dict:
    consumer = make_consumer(bootstrap)
    try:
        tps = [TopicPartition(t, p) for t, _ in namespace_topics(namespace)
               for p in (consumer.partitions_for_topic(t) or ())]
        return consumer.end_offsets(tps)
    finally:
        consumer.close()


def _processes_of(namespace: str) -> list[int]:
    """Pids of processes on this machine whose command line names the namespace."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if namespace.encode() in cmd and state != "Z":
                pids.append(int(entry))
    return pids


def vigie(settings, *args: str) -> subprocess.CompletedProcess:
    """Run the `vigie` command line in another process, on the test's broker and data folder."""
    env = {**os.environ, "KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIE_DATA_DIR": str(settings.data_dir),
           "VIGIE_DATABASE_URL": "", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dashboard.cli", *args], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _events(settings, namespace: str) -> int:
    summary = open_store(settings, namespace).status_summary()
    return summary["events_processed"] + summary["dead_letters"]


def test_two_sessions_fill_their_own_stores_isolated_from_each_other_and_live(settings, make_recording, kit,
                                                                              embedded_broker):
    live_before = _ends(embedded_broker.bootstrap, "live")
    manager = SessionManager(settings)
    cams = make_recording(kit.camera_records(300, {"TCAM-001": (30, "offline")}))
    a = manager.start(scenario="cabinet-outage", hours=0.05, name="outage", speed=None)
    b = manager.start(recording=cams, name="cams", speed=50)
    try:
        assert (settings.data_dir / "recordings" / "cabinet-outage" / "manifest.json").exists()
        assert {i.name for i in manager.sessions(running_only=True)} == {"outage", "cams"}
        with pytest.raises(SessionExists, match="already running"):
            manager.start(recording=cams, name="cams")
        expected_a = sum(n for t, n in a.replayer.recording.manifest.counts.items() if t in a.replayer.topics)
        kit.wait_for(lambda: _events(settings, "train-outage") >= expected_a, 60, what="outage store filled")
        kit.wait_for(lambda: _events(settings, "train-cams") >= 11 * 5, 30, what="cams store filled")
        store_b = open_store(settings, "train-cams")
        assert {s["asset_id"] for s in store_b.asset_states()} == {"TCAM-001", "TCAM-002", "TCAM-003", "TCAM-004",
                                                                   "TLP-1"}
        assert [x["asset_id"] for x in store_b.alerts()] == ["TCAM-001"]
        assets_a = {s["asset_id"] for s in open_store(settings, "train-outage").asset_states()}
        assert len(assets_a) > 1000 and not assets_a & {"TCAM-001", "TLP-1"}
        assert len({store_location(settings, ns)[0] for ns in ("live", "train-outage", "train-cams")}) == 3
        assert not (settings.data_dir / "vigie.db").exists()  # the live store was never opened
        assert _ends(embedded_broker.bootstrap, "live") == live_before
        pids = [a.processor.pid, b.processor.pid]
    finally:
        manager.stop_all()
    assert not any(pid_alive(p) for p in pids)
    assert not _processes_of("train-outage") and not _processes_of("train-cams")
    assert [i.status for i in manager.sessions()] and all(i.status == "stopped" for i in manager.sessions())
    with pytest.raises(SessionExists, match="ran before"):
        manager.start(recording=cams, name="cams")


def test_pause_seek_and_stop_through_the_control_path_of_another_process(settings, make_recording, kit, name):
    owner = SessionManager(settings)
    recording = make_recording(kit.camera_records(1200, {}))
    # started from a short-lived thread, as a web request would: the processor must outlive it
    starter = threading.Thread(target=lambda: owner.start(recording=recording, name=name, speed=10))
    starter.start()
    starter.join()
    session = owner.owned(name)
    try:
        kit.wait_for(lambda: owner.info(name).position_s > 5, 20, what="replay under way")
        assert session.processor.poll() is None
        done = vigie(settings, "train", "pause", name)
        assert done.returncode == 0, done.stderr
        info = owner.info(name)
        assert info.status == "paused"
        kit.wait_for(lambda: session.progress().state == "paused", 5)
        held = owner.info(name).position_s
        kit.wait_for(lambda: owner.info(name).state["heartbeat_ms"] > info.state["heartbeat_ms"] + 600, 5)
        assert owner.info(name).position_s == pytest.approx(held, abs=0.01)

        remote = SessionManager(settings)  # owns nothing: goes through the session's request queue
        assert remote.owned(name) is None
        assert remote.seek(name, 600)["ok"]
        info = remote.info(name)
        assert info.position_s == pytest.approx(600, abs=1) and info.state["seeks"] == 1 and info.status == "paused"
        assert remote.jump(name, -60)["ok"] and remote.info(name).position_s == pytest.approx(540, abs=1)
        assert remote.set_speed(name, 20)["ok"] and remote.info(name).speed == 20
        refused = remote.set_speed(name, -1)
        assert not refused["ok"] and "out of range" in refused["error"]

        listed = vigie(settings, "train", "list", "--json")
        assert [s["name"] for s in json.loads(listed.stdout)] == [name]
        assert json.loads(listed.stdout)[0]["status"] == "paused"
        processor = session.processor.pid
        done = vigie(settings, "train", "stop", name)
        assert done.returncode == 0, done.stderr
        assert session.wait_stopped(10)
    finally:
        owner.stop_all()
    assert not pid_alive(processor) and not _processes_of(f"train-{name}")
    assert owner.info(name).status == "stopped"
    seeks = [p for p in owner.info(name).state["timeline"] if abs(p["position_s"] - p["before_s"]) > 1]
    assert [round(p["position_s"]) for p in seeks] == [600, 540]


def test_a_session_whose_processor_dies_stops_and_says_why(settings, make_recording, kit, name):
    manager = SessionManager(settings)
    session = manager.start(recording=make_recording(kit.camera_records(600, {})), name=name, speed=10)
    try:
        os.kill(session.processor.pid, 9)
        assert session.wait_stopped(10)
        info = manager.info(name)
        assert info.status == "error" and "processor exited with code -9" in info.error and not info.running
        assert not manager.pause(name)["ok"]
    finally:
        manager.stop_all()
