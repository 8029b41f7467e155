"""The recorder against the embedded broker: what it records, how it rolls, how it stops."""

import os
import signal
import subprocess
import sys
import time

import pytest

from streams.kafka import make_producer
from streams.recorder import Recorder, RecorderError, resolve_topics
from streams.recording import Recording, RollPolicy
from streams.schemas import now_ms


def _produce(bootstrap, records):
    producer = make_producer(bootstrap)
    for r in records:
        producer.send(r.topic, value=r.value, key=r.key, headers=r.headers, partition=r.partition, timestamp_ms=r.ts)
    producer.flush()
    producer.close()


def _wait_events(recorder, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while recorder.progress().events < n:
        assert time.monotonic() < deadline, f"only {recorder.progress().events} of {n} events recorded"
        time.sleep(0.05)


def test_resolve_topics_defaults_to_the_whole_catalog_and_accepts_short_names():
    assert "live.lighting.telemetry" in resolve_topics(None)
    assert resolve_topics(["lighting.telemetry", "live.cameras.health"]) == [
        "live.lighting.telemetry", "live.cameras.health"]
    with pytest.raises(RecorderError, match="not in the catalog"):
        resolve_topics(["lighting.nonsense"])


def test_recorder_keeps_records_byte_for_byte_and_rolls_segments(embedded_broker, tmp_path, kit, source_ns):
    recorder = Recorder(tmp_path / "rec", bootstrap=embedded_broker.bootstrap, namespace=source_ns,
                        topics=["lighting.telemetry", "cameras.health"], roll=RollPolicy(max_records=50)).start()
    records = kit.moved(kit.synthetic_records(0.5, 1, t0=now_ms()), source_ns)
    _produce(embedded_broker.bootstrap, records)
    _wait_events(recorder, len(records))
    assert recorder.writer.max_buffered <= 2 * 50
    assert recorder.progress().state == "recording"
    manifest = recorder.stop()
    progress = recorder.progress()
    assert progress.state == "stopped" and progress.events == len(records) and progress.bytes > 0
    assert "events" in progress.line()
    assert manifest.complete and manifest.events == len(records)
    assert len(manifest.segments) >= len(records) // 50
    got = list(Recording.open(tmp_path / "rec").iter_records())
    assert sorted((r.topic, r.partition, r.ts, r.key, r.value, r.headers) for r in got) == sorted(
        (r.topic, r.partition, r.ts, r.key, r.value, r.headers) for r in records)


def test_recorder_stops_at_its_duration_with_a_valid_manifest(embedded_broker, tmp_path):
    recorder = Recorder(tmp_path / "rec", bootstrap=embedded_broker.bootstrap, duration_s=0.5).start()
    assert recorder.wait(5)
    assert recorder.progress().state == "stopped"
    recording = Recording.open(tmp_path / "rec")
    assert recording.manifest.complete and len(recording.topics) >= 12


def test_recorder_refuses_topics_that_do_not_exist(embedded_broker, tmp_path):
    with pytest.raises(RecorderError, match="none of the topics"):
        Recorder(tmp_path / "rec", bootstrap=embedded_broker.bootstrap, namespace="train-nosuchsession").start()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_vigie_record_stops_cleanly_on_a_signal(embedded_broker, tmp_path, kit, how, source_ns):
    out = tmp_path / "cli"
    env = {**os.environ, "KAFKA_BOOTSTRAP": embedded_broker.bootstrap}
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "record", "--out", str(out), "--topics",
                             "cameras.health", "--namespace", source_ns, "--progress-every", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = proc.stdout.readline()
    assert "recording 1 topics" in first, first + proc.stderr.read()
    cameras = kit.moved([r for r in kit.synthetic_records(0.1, 2, t0=now_ms()) if r.topic == "live.cameras.health"],
                        source_ns)
    _produce(embedded_broker.bootstrap, cameras)
    time.sleep(1.0)
    proc.send_signal(how)
    out_text, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"recording complete: {len(cameras)} events" in out_text
    assert Recording.open(out).manifest.complete


def test_vigie_record_stops_at_its_duration(embedded_broker, tmp_path):
    env = {**os.environ, "KAFKA_BOOTSTRAP": embedded_broker.bootstrap}
    done = subprocess.run([sys.executable, "-m", "dashboard.cli", "record", "--out", str(tmp_path / "d"),
                           "--duration", "1", "--progress-every", "0.3"], capture_output=True, text=True, env=env,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert "recording 13 topics" in done.stdout and "recording complete" in done.stdout
    assert " events · " in done.stdout  # the progress lines
    assert Recording.open(tmp_path / "d").manifest.complete
    again = subprocess.run([sys.executable, "-m", "dashboard.cli", "record", "--out", str(tmp_path / "d")],
                           capture_output=True, text=True, env=env, timeout=30)
    assert again.returncode == 2 and "already holds a recording" in again.stderr
