"""The recording folder shared by the recorder and the replayer: layout, manifest, writing and reading.

A recording is a folder::

    manifest.json                           format, time range, counts, schema versions, checksums
    segments/<topic>/<seq:06d>.parquet      the records of one topic, sorted by Kafka timestamp

Each segment holds the columns of `SEGMENT_SCHEMA`: the record's original topic, partition,
offset, Kafka timestamp (epoch ms), key and value bytes exactly as consumed, and headers. The
manifest is rewritten atomically after every segment, so a recording cut short still opens.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KeyIndex",
    "MANIFEST",
    "SEGMENT_SCHEMA",
    "Manifest",
    "Record",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "RollPolicy",
    "SegmentInfo",
    "headers_of",
    "write_recording",
]

FORMAT = "vigie-recording"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SEGMENTS_DIR = "segments"
ROW_GROUP_ROWS = 8192  # small enough that a seek reads only the parts of a segment it needs

SEGMENT_SCHEMA = pa.schema([
    pa.field("topic", pa.string(), nullable=False),
    pa.field("partition", pa.int32(), nullable=False),
    pa.field("offset", pa.int64(), nullable=False),
    pa.field("timestamp_ms", pa.int64(), nullable=False),
    pa.field("key", pa.binary()),
    pa.field("value", pa.binary()),
    pa.field("headers", pa.list_(pa.struct([("key", pa.string()), ("value", pa.binary())]))),
])
_READ_COLUMNS = ["partition", "offset", "timestamp_ms", "key", "value", "headers"]


class RecordingError(ValueError):
    """A recording folder that cannot be written or read: missing, malformed or tampered with."""


class Record(NamedTuple):
    """One recorded Kafka record; `ts` is its Kafka timestamp in epoch ms."""

    ts: int
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None


@dataclass(frozen=True)
class RollPolicy:
    """When a topic's buffered records become a segment: whichever limit is reached first."""

    max_records: int = 100_000
    max_bytes: int = 16 * 1024 * 1024
    max_age_s: float = 300.0
    max_buffered_bytes: int = 64 * 1024 * 1024  # over every topic: past it, the largest topic rolls


@dataclass(frozen=True)
class SegmentInfo:
    """One Parquet segment as listed in the manifest."""

    path: str
    topic: str
    records: int
    bytes: int
    sha256: str
    start_ms: int
    end_ms: int


@dataclass
class Manifest:
    """The recording's table of contents (`manifest.json`)."""

    created_at: str
    tool_version: str
    namespace: str | None = None
    complete: bool = False
    topics: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    start_ms: int | None = None
    end_ms: int | None = None
    event_versions: dict[str, dict[str, int]] = field(default_factory=dict)
    segments: list[SegmentInfo] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def duration_s(self) -> float:
        """Span of the recording between its first and last record timestamps."""
        if self.start_ms is None or self.end_ms is None:
            return 0.0
        return (self.end_ms - self.start_ms) / 1000

    @property
    def events(self) -> int:
        """Number of records over every topic."""
        return sum(self.counts.values())

    def to_json(self) -> bytes:
        """The manifest as indented JSON."""
        data = asdict(self)
        data["duration_s"] = self.duration_s
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: Path) -> "Manifest":
        """Parse and check a manifest, raising RecordingError with what is wrong."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise RecordingError(f"{where} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecordingError(f"{where} is not a Vigie recording manifest (no \"format\": \"{FORMAT}\")")
        if data.get("format_version") != FORMAT_VERSION:
            raise RecordingError(
                f"{where} has format version {data.get('format_version')!r}; this Vigie reads version {FORMAT_VERSION}"
            )
        data.pop("duration_s", None)
        try:
            segments = [SegmentInfo(**s) for s in data.pop("segments", [])]
            return cls(**data, segments=segments)
        except TypeError as exc:
            raise RecordingError(f"{where} has unexpected or missing fields: {exc}") from None


def _tool_version() -> str:
    try:
        return metadata.version("vigie")
    except metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _Head(msgspec.Struct):
    kind: str = "?"
    v: int = 1


_head_decoder = msgspec.json.Decoder(_Head)


class _TopicBuffer:
    """Columns of one topic's records not yet written to a segment."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget the buffered records (they are in a segment now)."""
        self.partition: list[int] = []
        self.offset: list[int] = []
        self.ts: list[int] = []
        self.key: list[bytes | None] = []
        self.value: list[bytes | None] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []
        self.bytes = 0
        self.since = 0.0

    def __len__(self) -> int:
        return len(self.ts)


class RecordingWriter:
    """Writes records into a recording folder, one rolling Parquet segment per topic, with bounded memory."""

    def __init__(self, folder: str | Path, *, namespace: str | None = None, roll: RollPolicy = RollPolicy(),
                 meta: dict | None = None, clock=time.monotonic) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise RecordingError(f"{self.folder} exists and is not a folder")
        if (self.folder / MANIFEST).exists() or (self.folder / SEGMENTS_DIR).exists():
            raise RecordingError(f"{self.folder} already holds a recording: choose an empty or new folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.roll = roll
        self._clock = clock
        self._buffers: dict[str, _TopicBuffer] = {}
        self._seq: dict[str, int] = {}
        self.buffered = 0
        self.buffered_bytes = 0
        self.max_buffered = 0
        self.bytes_written = 0
        self.manifest = Manifest(
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            tool_version=_tool_version(),
            namespace=namespace,
            meta=dict(meta or {}),
        )
        self._versions: dict[str, dict[int, int]] = {}
        self._write_manifest()


    def add_topic(self, topic: str) -> None:
        """Declare a recorded topic, so it is listed even if it carries no record."""
        if topic not in self._buffers:
            self._buffers[topic] = _TopicBuffer()
            self._seq[topic] = 0
            self.manifest.topics.append(topic)
            self.manifest.counts.setdefault(topic, 0)

    def append(self, topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes | None,
               value: bytes | None, headers: list[tuple[str, bytes]] | None = None) -> None:
        """Buffer one record; write its topic's segment when the roll policy says so."""
        buf = self._buffers.get(topic)
        if buf is None:
            self.add_topic(topic)
            buf = self._buffers[topic]
        if not buf.ts:
            buf.since = self._clock()
        buf.partition.append(partition)
        buf.offset.append(offset)
        buf.ts.append(timestamp_ms)
        buf.key.append(key)
        buf.value.append(value)
        buf.headers.append(headers or None)
        size = (len(value) if value else 0) + (len(key) if key else 0) + 32
        buf.bytes += size
        self.buffered_bytes += size
        self.buffered += 1
        if self.buffered > self.max_buffered:
            self.max_buffered = self.buffered
        if value:
            self._count_version(value)
        if len(buf.ts) >= self.roll.max_records or buf.bytes >= self.roll.max_bytes:
            self.flush_topic(topic)
        elif self.buffered_bytes >= self.roll.max_buffered_bytes:
            self.flush_topic(max(self._buffers, key=lambda t: self._buffers[t].bytes))

    def _count_version(self, value: bytes) -> None:
        try:
            head = _head_decoder.decode(value)
            kind, version = head.kind, head.v
        except (msgspec.DecodeError, msgspec.ValidationError):
            kind, version = "?", 0
        versions = self._versions.setdefault(kind, {})
        versions[version] = versions.get(version, 0) + 1

    def roll_due(self) -> None:
        """Write the segments of topics whose oldest buffered record is older than the policy allows."""
        now = self._clock()
        for topic, buf in self._buffers.items():
            if buf.ts and now - buf.since >= self.roll.max_age_s:
                self.flush_topic(topic)

    def flush_topic(self, topic: str) -> SegmentInfo | None:
        """Write one topic's buffered records as a segment and update the manifest."""
        buf = self._buffers[topic]
        if not buf.ts:
            return None
        order = sorted(range(len(buf.ts)), key=buf.ts.__getitem__)
        pick = lambda column: [column[i] for i in order]  # noqa: E731
        table = pa.Table.from_pydict({
            "topic": [topic] * len(order),
            "partition": pick(buf.partition),
            "offset": pick(buf.offset),
            "timestamp_ms": pick(buf.ts),
            "key": pick(buf.key),
            "value": pick(buf.value),
            "headers": [[{"key": k, "value": v} for k, v in h] if h else None for h in pick(buf.headers)],
        }, schema=SEGMENT_SCHEMA)
        self._seq[topic] += 1
        rel = f"{SEGMENTS_DIR}/{topic}/{self._seq[topic]:06d}.parquet"
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, compression="zstd", use_dictionary=["topic", "key"],
                       row_group_size=ROW_GROUP_ROWS)
        os.replace(tmp, path)
        info = SegmentInfo(path=rel, topic=topic, records=len(order), bytes=path.stat().st_size,
                           sha256=_sha256(path), start_ms=table["timestamp_ms"][0].as_py(),
                           end_ms=table["timestamp_ms"][-1].as_py())
        m = self.manifest
        m.segments.append(info)
        m.counts[topic] = m.counts.get(topic, 0) + info.records
        m.start_ms = info.start_ms if m.start_ms is None else min(m.start_ms, info.start_ms)
        m.end_ms = info.end_ms if m.end_ms is None else max(m.end_ms, info.end_ms)
        m.event_versions = {k: {str(v): n for v, n in sorted(vs.items())} for k, vs in sorted(self._versions.items())}
        self.bytes_written += info.bytes
        self.buffered -= len(order)
        self.buffered_bytes -= buf.bytes
        buf.clear()
        self._write_manifest()
        return info

    def flush(self) -> None:
        """Write every topic's buffered records."""
        for topic in list(self._buffers):
            self.flush_topic(topic)

    def close(self) -> Manifest:
        """Write what is buffered and mark the manifest complete."""
        self.flush()
        self.manifest.complete = True
        self._write_manifest()
        return self.manifest

    def _write_manifest(self) -> None:
        _write_atomic(self.folder / MANIFEST, self.manifest.to_json())

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_topic(table: pa.Table | pa.RecordBatch, seg: SegmentInfo) -> None:
    found = pc.unique(table["topic"]).to_pylist()
    if any(t != seg.topic for t in found):
        raise RecordingError(f"segment {seg.path} holds records of {found}, but the manifest says {seg.topic!r}")


def headers_of(column: pa.ChunkedArray | pa.Array) -> list[list[tuple[str, bytes]] | None]:
    """A headers column as Kafka header lists (None where a record has none)."""
    if column.null_count == len(column):
        return [None] * len(column)
    return [[(h["key"], h["value"]) for h in hs] if hs else None for hs in column.to_pylist()]


class Recording:
    """A recording folder opened for reading: its manifest, its verified segments, its records in time order."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = folder
        self.manifest = manifest
        self._by_topic: dict[str, list[SegmentInfo]] = {t: [] for t in manifest.topics}
        self._index: KeyIndex | None = None
        self._index_lock = threading.Lock()
        for seg in manifest.segments:
            self._by_topic.setdefault(seg.topic, []).append(seg)

    @classmethod
    def open(cls, folder: str | Path, *, verify: bool = True) -> "Recording":
        """Open a recording folder; with `verify`, check every segment's size and sha256 against the manifest."""
        folder = Path(folder)
        if not folder.exists():
            raise RecordingError(f"no recording at {folder}: the folder does not exist")
        if not folder.is_dir():
            raise RecordingError(f"{folder} is a file, not a recording folder")
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise RecordingError(f"{folder} is not a recording: it has no {MANIFEST} (was it made by `vigie record`?)")
        manifest = Manifest.from_json(manifest_path.read_bytes(), manifest_path)
        root = folder.resolve()
        for seg in manifest.segments:
            path = (folder / seg.path).resolve()
            if not path.is_relative_to(root) or not seg.path.startswith(f"{SEGMENTS_DIR}/"):
                raise RecordingError(f"{manifest_path} names a segment outside the recording: {seg.path!r}")
            if seg.topic not in manifest.topics:
                raise RecordingError(f"{manifest_path} lists segment {seg.path} of topic {seg.topic!r}, "
                                     "which is not among its topics")
            if not path.is_file():
                raise RecordingError(f"segment {seg.path} listed in the manifest is missing from {folder}")
            if verify:
                size = path.stat().st_size
                if size != seg.bytes or _sha256(path) != seg.sha256:
                    raise RecordingError(f"segment {seg.path} of {folder} fails its checksum: "
                                         "the file was changed or damaged after recording")
        return cls(folder, manifest)

    @property
    def topics(self) -> list[str]:
        """Topics recorded, as named in the manifest."""
        return list(self.manifest.topics)

    @property
    def start_ms(self) -> int:
        """Timestamp of the first record (epoch ms)."""
        return self.manifest.start_ms or 0

    @property
    def end_ms(self) -> int:
        """Timestamp of the last record (epoch ms)."""
        return self.manifest.end_ms or self.start_ms

    def segments(self, topic: str) -> list[SegmentInfo]:
        """The segments of one topic in writing order."""
        return self._by_topic.get(topic, [])

    def read_segment(self, seg: SegmentInfo, columns: list[str] | None = None) -> pa.Table:
        """One segment as an Arrow table, after checking it holds only its manifest topic."""
        try:
            table = pq.read_table(self.folder / seg.path, columns=["topic", *(columns or _READ_COLUMNS)])
        except (OSError, pa.ArrowException) as exc:
            raise RecordingError(f"segment {seg.path} cannot be read: {exc}") from None
        _check_topic(table, seg)
        return table

    def iter_topic(self, topic: str, from_ms: int | None = None) -> Iterator[Record]:
        """Records of one topic from a timestamp on, one row group (8,192 records) in memory at a time."""
        for seg in self.segments(topic):
            if from_ms is not None and seg.end_ms < from_ms:
                continue
            try:
                batches = pq.ParquetFile(self.folder / seg.path).iter_batches(
                    batch_size=ROW_GROUP_ROWS, columns=["topic", *_READ_COLUMNS])
                for batch in batches:
                    _check_topic(batch, seg)
                    ts = batch["timestamp_ms"].to_pylist()
                    first = bisect.bisect_left(ts, from_ms) if from_ms is not None else 0
                    if first == len(ts):
                        continue
                    rows = batch.slice(first)
                    headers = headers_of(rows["headers"])
                    yield from map(Record, ts[first:], [topic] * len(headers), rows["partition"].to_pylist(),
                                   rows["offset"].to_pylist(), rows["key"].to_pylist(), rows["value"].to_pylist(),
                                   headers)
            except (OSError, pa.ArrowException) as exc:
                raise RecordingError(f"segment {seg.path} cannot be read: {exc}") from None

    def iter_records(self, from_ms: int | None = None, topics: Iterable[str] | None = None) -> Iterator[Record]:
        """Records of every topic (or of some) merged in timestamp order, from a timestamp on."""
        chosen = self.topics if topics is None else list(topics)
        return heapq.merge(*(self.iter_topic(t, from_ms) for t in chosen), key=itemgetter(0))

    def key_index(self) -> "KeyIndex":
        """The index of every record's key and timestamp, built on first use (about 12 bytes a record)."""
        with self._index_lock:
            if self._index is None:
                self._index = KeyIndex(self)
            return self._index

    def snapshot_table(self, before_ms: int, topics: Iterable[str] | None = None) -> pa.Table:
        """The last record of each (topic, key) strictly before a timestamp, as a table in timestamp order.

        Records without a key carry no state of an asset and are left out. The key index says
        which records win; their values are read from the row groups that hold them.
        """
        parts = []
        chosen = set(self.topics if topics is None else topics)
        for topic, rows in self.key_index().last_before(before_ms).items():
            if topic not in chosen:
                continue
            segs = self.segments(topic)
            seg_of_row = rows >> 32
            for n in np.unique(seg_of_row):
                parts.append(self._take_rows(segs[int(n)], np.sort(rows[seg_of_row == n] & 0xFFFFFFFF)))
        if not parts:
            return SEGMENT_SCHEMA.empty_table()
        return pa.concat_tables(parts).sort_by("timestamp_ms")

    def _take_rows(self, seg: SegmentInfo, rows: np.ndarray) -> pa.Table:
        file = pq.ParquetFile(self.folder / seg.path)
        sizes = np.array([file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)])
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        group_of_row = np.searchsorted(starts, rows, side="right") - 1
        groups = np.unique(group_of_row)
        table = file.read_row_groups(groups.tolist())
        # Positions in the segment become positions in the concatenation of the row groups read.
        read_starts = np.concatenate(([0], np.cumsum(sizes[groups])[:-1]))
        local = rows - starts[group_of_row] + read_starts[np.searchsorted(groups, group_of_row)]
        return table.take(pa.array(local)).cast(SEGMENT_SCHEMA)

    def snapshot(self, before_ms: int, topics: Iterable[str] | None = None) -> list[Record]:
        """`snapshot_table` as a list of records."""
        table = self.snapshot_table(before_ms, topics)
        return list(map(Record, table["timestamp_ms"].to_pylist(), table["topic"].to_pylist(),
                        table["partition"].to_pylist(), table["offset"].to_pylist(), table["key"].to_pylist(),
                        table["value"].to_pylist(), headers_of(table["headers"])))


class KeyIndex:
    """Each topic's record timestamps and key codes, to find the last record of every key before a moment."""

    def __init__(self, recording: Recording) -> None:
        self._topics: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        for topic in recording.topics:
            ts, keys, rows = [], [], []
            for n, seg in enumerate(recording.segments(topic)):
                table = recording.read_segment(seg, ["timestamp_ms", "key"])
                ts.append(table["timestamp_ms"].to_numpy())
                keys.append(table["key"])
                rows.append((np.int64(n) << 32) + np.arange(len(table), dtype=np.int64))
            if not ts:
                continue
            codes = pc.dictionary_encode(pa.chunked_array([c for k in keys for c in k.chunks], pa.binary())
                                         .combine_chunks())
            indices = codes.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            self._topics[topic] = (np.concatenate(ts), indices, np.concatenate(rows), len(codes.dictionary))

    def last_before(self, before_ms: int) -> dict[str, np.ndarray]:
        """Per topic, the rows (segment number << 32 | row) of the last record of each key before a moment."""
        out = {}
        for topic, (ts, codes, rows, size) in self._topics.items():
            mask = (ts < before_ms) & (codes >= 0)
            if not mask.any():
                continue
            last = np.full(size, -1, dtype=np.int64)
            np.maximum.at(last, codes[mask], np.flatnonzero(mask))
            out[topic] = rows[last[last >= 0]]
        return out


def write_recording(folder: str | Path, records: Iterable[Record], *, namespace: str | None = None,
                    roll: RollPolicy = RollPolicy(), topics: Iterable[str] = ()) -> Manifest:
    """Write records (for example generated ones) into a new recording folder; return its manifest."""
    with RecordingWriter(folder, namespace=namespace, roll=roll) as writer:
        for topic in topics:
            writer.add_topic(topic)
        for r in records:
            writer.append(r.topic, r.partition, r.offset, r.ts, r.key, r.value, r.headers)
    return writer.manifest
