"""Replay pacing and control, over a fake producer: timing at 1x and 10x, pause, resume, speed, loop, fast.

Tolerances leave room for a loaded machine (two cores shared with a broker and other work).
"""

import time

import orjson
import pytest

from streams.recording import Recording
from streams.replayer import Replayer


def _sends(sink):
    return [(at, topic, kw["timestamp_ms"], orjson.loads(kw["value"])["ts"]) for at, topic, kw in sink.producer.sent]


@pytest.mark.parametrize("speed, span_s, every_ms", [(1.0, 2.0, 100), (10.0, 20.0, 500)])
def test_replay_keeps_relative_timing_scaled_by_speed(make_recording, kit, fake_sink, session, speed, span_s, every_ms):
    records = kit.synthetic_records(span_s, every_ms)
    replayer = Replayer(make_recording(records), session=session, speed=speed, sink=fake_sink)
    started = time.time()
    replayer.play()
    assert replayer.wait(span_s / speed + 5)
    sends = _sends(fake_sink)
    assert len(sends) == len(records)
    for (at, topic, kafka_ts, value_ts), original in zip(sends, records):
        due = started + (original.ts - records[0].ts) / 1000 / speed
        assert -0.01 < at - due < 0.15, f"sent {at - due:+.3f} s from its due time"
        assert kafka_ts == value_ts
        assert abs(value_ts / 1000 - due) < 0.05  # replay time is the due time, not the send time
        assert topic == original.topic.replace("live.", f"train-{session}.")
    assert abs(sends[-1][0] - started - span_s / speed) < 0.25
    assert replayer.progress().state == "finished" and replayer.progress().fraction == 1.0
    replayer.stop()


def test_pause_holds_everything_and_resume_goes_on(make_recording, kit, fake_sink, session):
    records = kit.synthetic_records(2.0, 100)
    replayer = Replayer(make_recording(records), session=session, speed=1.0, sink=fake_sink).play()
    time.sleep(0.8)
    replayer.pause()
    held = len(fake_sink.producer.sent)
    position = replayer.progress().position_s
    assert replayer.progress().state == "paused" and 0.4 < position < 1.0
    time.sleep(0.6)
    assert len(fake_sink.producer.sent) == held
    assert replayer.progress().position_s == position
    replayer.resume()
    assert replayer.wait(5)
    sends = _sends(fake_sink)
    assert len(sends) == len(records)
    assert [s[3] for s in sends] == sorted(s[3] for s in sends)
    gap = (sends[held][2] - sends[held - 1][2]) / 1000
    assert 0.6 <= gap < 1.2  # the pause shows in replay time; the recorded 0.1 s gap follows it
    replayer.stop()


def test_speed_changes_from_the_current_moment(make_recording, kit, fake_sink, session):
    records = kit.synthetic_records(4.0, 100)
    replayer = Replayer(make_recording(records), session=session, speed=1.0, sink=fake_sink)
    started = time.time()
    replayer.play()
    time.sleep(1.0)
    replayer.set_speed(6.0)
    assert replayer.wait(5)
    assert abs(time.time() - started - (1.0 + 3.0 / 6.0)) < 0.35
    with pytest.raises(ValueError, match="out of range"):
        replayer.set_speed(0)
    replayer.stop()


def test_fast_replay_goes_as_fast_as_it_can_with_nondecreasing_replay_time(make_recording, kit, fake_sink, session):
    records = kit.synthetic_records(3600, 500)
    replayer = Replayer(make_recording(records), session=session, speed=None, sink=fake_sink)
    started = time.time()
    replayer.play()
    assert replayer.wait(20)
    assert time.time() - started < 5
    stamps = [kw["timestamp_ms"] for _, _, kw in fake_sink.producer.sent]
    assert len(stamps) == len(records) and stamps == sorted(stamps)
    assert replayer.progress().speed is None and "fast" in replayer.progress().line()


def test_loop_starts_again_with_replay_time_going_forward(make_recording, kit, fake_sink, session):
    records = kit.synthetic_records(0.3, 100)
    replayer = Replayer(make_recording(records), session=session, speed=10.0, loop=True, sink=fake_sink).play()
    deadline = time.monotonic() + 5
    while replayer.progress().loops < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not replayer.wait(0)
    progress = replayer.stop()
    assert progress.state == "stopped" and progress.loops >= 3
    stamps = [kw["timestamp_ms"] for _, _, kw in fake_sink.producer.sent]
    assert len(stamps) >= 3 * len(records)
    assert stamps == sorted(stamps)


def test_seek_while_paused_publishes_the_state_and_stays_paused(make_recording, kit, fake_sink, session):
    records = kit.synthetic_records(60, 100)
    replayer = Replayer(make_recording(records), session=session, speed=1.0, sink=fake_sink).play(paused=True)
    took = replayer.seek(30)
    assert took is not None and took < 1.0
    progress = replayer.progress()
    assert progress.state == "paused" and progress.position_s == 30.0 and progress.snapshot_events == 8
    assert len(fake_sink.producer.sent) == 8
    now = time.time() * 1000
    assert all(now - 31_000 < kw["timestamp_ms"] <= now for _, _, kw in fake_sink.producer.sent)
    replayer.set_speed(None)
    replayer.resume()
    assert replayer.wait(5)
    assert len(fake_sink.producer.sent) == 8 + sum(r.ts >= kit.T0 + 30_000 for r in records)
    replayer.seek(10)  # back after the end: the state at 10 s, then it plays on
    assert replayer.wait(5)
    assert replayer.progress().seeks == 2


def test_start_offset_and_out_of_range_seek_are_clamped(make_recording, kit, fake_sink, session):
    folder = make_recording(kit.synthetic_records(10, 100))
    replayer = Replayer(Recording.open(folder), session=session, speed=None, start_s=5, sink=fake_sink).play()
    assert replayer.wait(5)
    assert replayer.progress().seeks == 1 and replayer.progress().snapshot_events == 8
    replayer.seek(-3)
    assert replayer.progress().snapshot_events == 0
    replayer.seek(1e9)
    assert replayer.wait(5) and replayer.progress().position_s == pytest.approx(10.0, abs=0.01)
    replayer.stop()


def test_an_empty_recording_plays_to_its_end_and_seeks(make_recording, fake_sink, session):
    replayer = Replayer(make_recording([], topics=["live.cameras.health"]), session=session, sink=fake_sink).play()
    assert replayer.wait(5) and replayer.progress().sent == 0
    assert replayer.seek(10) is not None and replayer.progress().snapshot_events == 0
    replayer.stop()


def test_only_field_topics_replay_unless_derived_ones_are_asked_for(make_recording, kit, fake_sink, session):
    from streams.recording import Record

    records = kit.synthetic_records(1, 100) + [
        Record(kit.T0 + 5, "live.alerts.events", 0, 0, b"A-1", b'{"ts":1}', None),
        Record(kit.T0 + 6, "live.commands.requests", 0, 0, b"C-1", b'{"ts":1}', None)]
    folder = make_recording(records)
    replayer = Replayer(folder, session=session, speed=None, sink=fake_sink).play()
    assert replayer.wait(5)
    assert {topic.split(".", 1)[1] for _, topic, _ in fake_sink.producer.sent} == {
        "lighting.telemetry", "cameras.health"}
    assert replayer.stop().sent == len(records) - 2
    assert Replayer(folder, session=session, derived=True).topics == Recording.open(folder).topics
