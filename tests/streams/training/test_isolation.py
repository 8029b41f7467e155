"""Hard isolation: a replay never writes to a live topic, whatever the recording says."""

import json

import pytest

from streams.recording import MANIFEST, Record, Recording, RecordingError, RecordingWriter
from streams.replayer import IsolationError, Replayer, ReplaySink, target_topic
from streams.schemas import now_ms
from streams.topics import namespace_topics

LIVE_TOPICS = [name for name, _ in namespace_topics("live")]


def test_the_sink_refuses_live_and_foreign_topics(fake_sink, session):
    with pytest.raises(IsolationError, match="only to a training namespace"):
        ReplaySink(fake_sink.producer, "live")
    for topic in ("live.lighting.telemetry", "live.alerts.events", "live.anything"):
        with pytest.raises(IsolationError, match="refusing to write to the live topic"):
            fake_sink.send(topic, b"{}", b"k", None, 0, now_ms())
    with pytest.raises(IsolationError, match=rf"only to train-{session}\.\* topics"):
        fake_sink.send("train-someoneelse.lighting.telemetry", b"{}", b"k", None, 0, now_ms())
    assert fake_sink.producer.sent == []


def test_topics_map_into_the_session_namespace():
    assert target_topic("live.lighting.telemetry", "train-a") == "train-a.lighting.telemetry"
    assert target_topic("train-b.cameras.health", "train-a") == "train-a.cameras.health"
    with pytest.raises(IsolationError):
        target_topic("live.lighting.telemetry", "live")


def _crafted(folder, topic, value=b'{"ts":1764000000000}'):
    with RecordingWriter(folder) as writer:
        writer.append(topic, 0, 0, 1_764_000_000_000, b"k", value)
    return folder


@pytest.mark.parametrize("topic", [
    "lighting.telemetry", "live", "live.lighting", "x.live.lighting.telemetry", "live.lighting.telemetry.x",
    "live.nowhere.telemetry", "LIVE.lighting.telemetry", "live..telemetry", "train-x.lighting.nonsense",
])
def test_a_recording_naming_odd_topics_is_refused_before_anything_is_sent(tmp_path, fake_sink, session, topic):
    folder = _crafted(tmp_path / "odd", topic)
    with pytest.raises(RecordingError, match="cannot be replayed"):
        Replayer(folder, session=session, sink=fake_sink)
    assert fake_sink.producer.sent == []


def test_a_tampered_target_table_is_refused_at_play(make_recording, kit, fake_sink, session):
    replayer = Replayer(make_recording(kit.synthetic_records(1, 100)), session=session, sink=fake_sink)
    replayer.targets["live.lighting.telemetry"] = "live.lighting.telemetry"
    with pytest.raises(IsolationError, match="live topic"):
        replayer.play()
    assert fake_sink.producer.sent == []


@pytest.mark.parametrize("name", ["live.x", "", "../live", "Live"])
def test_a_session_name_cannot_lead_out_of_the_training_namespace(make_recording, kit, name):
    with pytest.raises(ValueError, match="invalid session name"):
        Replayer(make_recording(kit.synthetic_records(1, 100)), session=name)


def test_replays_of_crafted_recordings_never_reach_live_topics(embedded_broker, tmp_path, make_recording, kit,
                                                                session):
    since = now_ms()
    # A manifest that says cameras.health over rows that say live.alerts.events: refused when read.
    forged = _crafted(tmp_path / "forged", "live.cameras.health")
    manifest = json.loads((forged / MANIFEST).read_text())
    manifest["topics"] = ["live.alerts.events"]
    for seg in manifest["segments"]:
        seg["topic"] = "live.alerts.events"
    (forged / MANIFEST).write_text(json.dumps(manifest))
    replayer = Replayer(forged, session=session, bootstrap=embedded_broker.bootstrap, speed=None,
                        derived=True).play()
    assert replayer.wait(10)
    assert replayer.progress().state == "error" and "holds records of" in replayer.progress().error

    # A genuine recording of every live topic, replayed: all of it lands in the session, none in live.
    records = [Record(since + i, topic, 0, i, b"%s-%d" % (session.encode(), i), b'{"ts":%d}' % (since + i), None)
               for i, topic in enumerate(LIVE_TOPICS)]
    replayer = Replayer(make_recording(records), session=session, bootstrap=embedded_broker.bootstrap,
                        speed=None, derived=True).play()
    assert replayer.wait(10) and replayer.progress().sent == len(LIVE_TOPICS)
    replayer.stop()
    session_topics = [name for name, _ in namespace_topics(f"train-{session}")]
    assert len(kit.read_topics(embedded_broker.bootstrap, session_topics, expected=len(records))) == len(records)
    live = kit.read_topics(embedded_broker.bootstrap, LIVE_TOPICS, idle_s=0.5)
    assert not [m for m in live if m.key and m.key.startswith(session.encode())]
    assert Recording.open(tmp_path / "forged", verify=False).topics == ["live.alerts.events"]


def test_the_bulk_path_refuses_live_topics_too(embedded_broker, session):
    from streams.replayer import BulkPublisher

    bulk = BulkPublisher(embedded_broker.bootstrap)
    try:
        with pytest.raises(IsolationError, match="live topic"):
            bulk.publish({("live.lighting.telemetry", 0): [(now_ms(), b"k", b'{"ts":1}', None)]})
    finally:
        bulk.close()
