"""The recording folder without a broker: manifest, rolling segments, checksums, snapshots, ts rewriting."""

import json

import orjson
import pyarrow.parquet as pq
import pytest

from streams.recording import MANIFEST, Recording, RecordingError, RecordingWriter, RollPolicy
from streams.replayer import find_ts, rewrite_ts


def test_manifest_lists_topics_counts_range_versions_and_checksums(make_recording, kit):
    records = kit.synthetic_records(10, 100)
    folder = make_recording(records, topics=["live.weather.observations"])
    rec = Recording.open(folder)
    m = rec.manifest
    assert m.complete and m.format == "vigie-recording" and m.format_version == 1
    assert m.tool_version and m.created_at.endswith("Z")
    assert set(m.topics) == {"live.lighting.telemetry", "live.cameras.health", "live.weather.observations"}
    assert m.counts["live.weather.observations"] == 0
    assert m.events == len(records)
    assert (m.start_ms, m.end_ms) == (kit.T0, kit.T0 + 10_000)
    assert m.event_versions == {"camera.health": {"1": 50}, "lamp.telemetry": {"1": 51}}
    assert all(len(s.sha256) == 64 and s.records for s in m.segments)
    on_disk = json.loads((folder / MANIFEST).read_text())
    assert on_disk["duration_s"] == 10.0


def test_segments_roll_so_memory_stays_bounded(tmp_path, kit):
    records = kit.synthetic_records(60, 20)
    writer = RecordingWriter(tmp_path / "r", roll=RollPolicy(max_records=100))
    for r in records:
        writer.append(r.topic, r.partition, r.offset, r.ts, r.key, r.value, r.headers)
        assert writer.buffered <= 2 * 100  # two topics, each rolled at 100
    writer.close()
    assert writer.max_buffered <= 200
    segments = writer.manifest.segments
    assert len(segments) >= len(records) // 100
    assert all(s.records <= 100 for s in segments)
    assert sum(s.records for s in segments) == len(records)


def test_memory_is_bounded_over_all_topics_too(tmp_path, kit):
    writer = RecordingWriter(tmp_path / "r", roll=RollPolicy(max_buffered_bytes=20_000))
    for r in kit.synthetic_records(30, 10):
        writer.append(r.topic, r.partition, r.offset, r.ts, r.key, r.value, r.headers)
        assert writer.buffered_bytes < 20_000
    writer.close()
    assert writer.buffered_bytes == 0 and len(writer.manifest.segments) > 10


def test_segments_roll_by_age(tmp_path, kit):
    now = [0.0]
    writer = RecordingWriter(tmp_path / "r", roll=RollPolicy(max_age_s=5), clock=lambda: now[0])
    for i, r in enumerate(kit.synthetic_records(10, 100)):
        now[0] = i * 0.1
        writer.append(r.topic, r.partition, r.offset, r.ts, r.key, r.value, r.headers)
        writer.roll_due()
    assert len(writer.manifest.segments) >= 2  # written while recording, not only at close
    assert not writer.manifest.complete
    assert Recording.open(tmp_path / "r").manifest.events == sum(s.records for s in writer.manifest.segments)
    writer.close()


def test_records_come_back_in_time_order_with_bytes_and_headers(make_recording, kit):
    records = kit.synthetic_records(5, 50)
    shuffled = records[1::2] + records[0::2]
    folder = make_recording(shuffled, roll=RollPolicy(max_records=17))
    got = list(Recording.open(folder).iter_records())
    assert got == sorted(records, key=lambda r: r.ts)
    assert [r.ts for r in Recording.open(folder).iter_records(kit.T0 + 2_500)] == [
        r.ts for r in records if r.ts >= kit.T0 + 2_500]


def test_a_tampered_segment_gives_a_clear_error(make_recording, kit):
    folder = make_recording(kit.synthetic_records(5, 50))
    segment = next(folder.glob("segments/*/*.parquet"))
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=r"fails its checksum"):
        Recording.open(folder)
    segment.unlink()
    with pytest.raises(RecordingError, match=r"missing"):
        Recording.open(folder)


def test_a_wrong_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(RecordingError, match="does not exist"):
        Recording.open(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordingError, match="is a file"):
        Recording.open(tmp_path / "file")
    with pytest.raises(RecordingError, match="has no manifest.json"):
        Recording.open(tmp_path)
    (tmp_path / MANIFEST).write_text('{"name": "something else"}')
    with pytest.raises(RecordingError, match="not a Vigie recording manifest"):
        Recording.open(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": "vigie-recording", "format_version": 99}')
    with pytest.raises(RecordingError, match="format version 99"):
        Recording.open(tmp_path)
    (tmp_path / MANIFEST).write_text("not json")
    with pytest.raises(RecordingError, match="not valid JSON"):
        Recording.open(tmp_path)


def test_a_manifest_cannot_point_outside_its_folder(make_recording, kit):
    folder = make_recording(kit.synthetic_records(2, 100))
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["segments"][0]["path"] = "../../etc/passwd"
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(RecordingError, match="outside the recording"):
        Recording.open(folder)


def test_a_writer_refuses_a_folder_holding_a_recording(make_recording, kit):
    folder = make_recording(kit.synthetic_records(1, 100))
    with pytest.raises(RecordingError, match="already holds a recording"):
        RecordingWriter(folder)


def test_a_segment_whose_rows_name_another_topic_is_refused(make_recording, kit):
    folder = make_recording(kit.synthetic_records(2, 100))
    rec = Recording.open(folder)
    seg = rec.segments("live.cameras.health")[0]
    table = pq.read_table(folder / seg.path)
    forged = table.set_column(0, "topic", [["live.alerts.events"] * len(table)])
    pq.write_table(forged.cast(table.schema), folder / seg.path)
    with pytest.raises(RecordingError, match="holds records of"):
        list(Recording.open(folder, verify=False).iter_records())


def test_snapshot_is_the_last_record_of_each_key_before_the_point(make_recording, kit):
    records = kit.synthetic_records(30, 100)
    folder = make_recording(records, roll=RollPolicy(max_records=40))
    point = kit.T0 + 12_345
    expected = {}
    for r in records:
        if r.ts < point:
            expected[(r.topic, r.key)] = r
    snap = Recording.open(folder).snapshot(point)
    assert {(r.topic, r.key): r for r in snap} == expected
    assert len(snap) == len(expected) == 5 + 3
    assert [r.ts for r in snap] == sorted(r.ts for r in snap)
    assert Recording.open(folder).snapshot(kit.T0) == []


def test_rewrite_ts_changes_only_the_top_level_ts_digits(kit):
    raw = kit.lamp("LP-000001", kit.T0)
    moved = rewrite_ts(raw, kit.T0 + 86_400_000)
    assert orjson.loads(moved)["ts"] == kit.T0 + 86_400_000
    assert rewrite_ts(moved, kit.T0) == raw
    assert rewrite_ts(raw, kit.T0) is raw  # a zero shift leaves the bytes untouched


@pytest.mark.parametrize("raw, expected", [
    (b'{"a":{"ts":1},"ts":2}', b'{"a":{"ts":1},"ts":9}'),
    (b'{"a":"\\"ts\\":1","ts":2}', b'{"a":"\\"ts\\":1","ts":9}'),
    (b'{"note":"ts","ts" : 2 }', b'{"note":"ts","ts" : 9 }'),
    (b'{"list":[{"ts":1}],"x":1}', b'{"list":[{"ts":1}],"x":1}'),
    (b'{"ts":1.5}', b'{"ts":1.5}'),
    (b'[{"ts":1}]', b'[{"ts":1}]'),
    (b"not json", b"not json"),
])
def test_rewrite_ts_finds_only_a_top_level_integer_ts(raw, expected):
    assert rewrite_ts(raw, 9) == expected
    assert (find_ts(raw) is None) == (raw == expected)


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 4097, 70_001])
def test_crc32c_matches_kafka_python(size):
    import os

    from kafka.record.util import calc_crc32c

    from streams.replayer import crc32c

    data = os.urandom(size)
    assert crc32c(data) == calc_crc32c(memoryview(data))
    assert crc32c(b"123456789") == 0xE3069283
