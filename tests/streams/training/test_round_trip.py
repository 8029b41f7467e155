"""Record from the live topics, replay into a training session: values byte-identical but for `ts`."""

import os
import subprocess
import sys
import time

import orjson

from streams.kafka import make_producer
from streams.recorder import Recorder
from streams.recording import Recording
from streams.replayer import Replayer, rewrite_ts
from streams.schemas import Validator, now_ms

def _record(bootstrap, folder, namespace, records):
    recorder = Recorder(folder, bootstrap=bootstrap, namespace=namespace,
                        topics=["lighting.telemetry", "cameras.health"]).start()
    producer = make_producer(bootstrap)
    for r in records:
        producer.send(r.topic, value=r.value, key=r.key, headers=r.headers, partition=r.partition, timestamp_ms=r.ts)
    producer.flush()
    producer.close()
    deadline = time.monotonic() + 10
    while recorder.progress().events < len(records):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    recorder.stop()
    return Recording.open(folder)


def test_record_then_replay_round_trip(embedded_broker, tmp_path, kit, session, source_ns):
    start = now_ms() + 50
    records = kit.moved(kit.synthetic_records(0.4, 1, t0=start), source_ns)
    recording = _record(embedded_broker.bootstrap, tmp_path / "rec", source_ns, records)
    assert recording.manifest.events == len(records)

    before = now_ms()
    replayer = Replayer(recording, session=session, bootstrap=embedded_broker.bootstrap, speed=None).play()
    assert replayer.wait(20)
    replayer.stop()
    after = now_ms()
    targets = [f"train-{session}.lighting.telemetry", f"train-{session}.cameras.health"]
    replayed = kit.read_topics(embedded_broker.bootstrap, targets, expected=len(records))
    assert len(replayed) == len(records)

    by_key = {}
    for r in sorted(records, key=lambda r: r.ts):
        by_key.setdefault((r.topic.split(".", 1)[1], r.partition), []).append(r)
    validator = Validator()
    for m in sorted(replayed, key=lambda m: (m.topic, m.partition, m.offset)):
        original = by_key[(m.topic.split(".", 1)[1], m.partition)].pop(0)
        assert m.key == original.key
        new, old = orjson.loads(m.value), orjson.loads(original.value)
        assert new.pop("ts") == m.timestamp and before <= m.timestamp <= after
        old.pop("ts")
        assert new == old  # every other field, decoded
        assert rewrite_ts(m.value, original.ts) == original.value  # and every other byte
        assert m.partition == original.partition and (m.headers or None) == original.headers
        validator.decode(m.value)  # a replayed event is a valid event of now
    assert all(not left for left in by_key.values())


def test_seek_rebuilds_the_state_in_the_training_topics(embedded_broker, make_recording, kit, session):
    records = kit.synthetic_records(60, 100)
    replayer = Replayer(make_recording(records), session=session, bootstrap=embedded_broker.bootstrap)
    replayer.play(paused=True)
    took = replayer.seek(45)
    assert took < 1.0
    targets = [f"train-{session}.lighting.telemetry", f"train-{session}.cameras.health"]
    state = kit.read_topics(embedded_broker.bootstrap, targets, expected=8)
    point = kit.T0 + 45_000
    expected = {}
    for r in records:
        if r.ts < point:
            expected[(r.topic.split(".", 1)[1], r.key)] = r
    got = {(m.topic.split(".", 1)[1], m.key): m for m in state}
    assert got.keys() == expected.keys()
    for k, m in got.items():
        assert rewrite_ts(m.value, expected[k].ts) == expected[k].value
        assert (m.headers or None) == expected[k].headers and m.partition == expected[k].partition
        assert m.timestamp == orjson.loads(m.value)["ts"]
    replayer.stop()
    assert kit.read_topics(embedded_broker.bootstrap, targets, idle_s=0.3).__len__() == 8


def test_vigie_replay_command(embedded_broker, make_recording, kit, session):
    folder = make_recording(kit.synthetic_records(30, 100))
    env = {**os.environ, "KAFKA_BOOTSTRAP": embedded_broker.bootstrap}
    cli = [sys.executable, "-m", "dashboard.cli", "replay"]
    done = subprocess.run([*cli, str(folder), "--session", session, "--speed", "60", "--from", "0:10",
                           "--progress-every", "0.1"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"replaying {folder} into train-{session}.*" in done.stdout
    assert "finished" in done.stdout.splitlines()[-1]
    targets = [f"train-{session}.lighting.telemetry", f"train-{session}.cameras.health"]
    assert len(kit.read_topics(embedded_broker.bootstrap, targets, expected=8 + 201)) == 8 + 201

    wrong = subprocess.run([*cli, str(folder.parent), "--session", session], capture_output=True, text=True,
                           env=env, timeout=60)
    assert wrong.returncode == 2 and "is not a recording: it has no manifest.json" in wrong.stderr
    bad = subprocess.run([*cli, str(folder), "--session", "Live Room"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 2 and "invalid session name" in bad.stderr
