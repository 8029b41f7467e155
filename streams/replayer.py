"""The replayer: plays a recording into a training namespace, paced by the record timestamps.

Replay time: a record is published when it falls due, `(ts - anchor) / speed` after the moment
play, resume, seek or a speed change anchored the clock, and it carries that moment as its new
timestamp. At 1x that is the original `ts` plus one constant shift; at 10x the gaps between
events shrink tenfold, so no event of a training room ever lies in the future. The value's
top-level `ts` field is the one change made to its bytes: every other byte is the recorded one
(values with no top-level integer `ts` go out untouched). The Kafka record timestamp is set to
the same replay time.

Isolation: every write goes through `ReplaySink`, which refuses any `live.*` topic and any topic
outside its own `train-<session>` namespace, whatever the recording says.
"""

from __future__ import annotations

import gzip
import itertools
import math
import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kafka.errors import KafkaError, for_code
from kafka.net.compat import KafkaNetClient
from kafka.protocol.producer.produce import ProduceRequest
from kafka.structs import TopicPartition

from .kafka import BrokerUnavailable, ensure_topics, make_producer
from .recording import Record, Recording, RecordingError, headers_of
from .topics import CATALOG, is_live, parse_topic, topic_name, training_namespace, validate_namespace

__all__ = [
    "BulkPublisher",
    "IsolationError",
    "MAX_SPEED",
    "ReplayProgress",
    "ReplaySink",
    "Replayer",
    "crc32c",
    "encode_batch",
    "find_ts",
    "rewrite_ts",
    "target_topic",
]

MAX_SPEED = 10_000.0
_Topic = ProduceRequest.TopicProduceData
_Partition = _Topic.PartitionProduceData
_BATCH = 2000
_BULK = 5000

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]')
_NESTING = re.compile(rb'[{}\[\]\\]')
_TS_NUMBER = re.compile(rb'\s*:\s*(-?[0-9]+)(?=\s*[,}])')


class IsolationError(ValueError):
    """A replay tried to write outside its training namespace (for example to a `live.*` topic)."""


def find_ts(value: bytes) -> tuple[int, int] | None:
    """Byte span of the digits of the top-level integer `ts` field of a JSON object, or None."""
    at = value.find(b'"ts"')
    # Common case: nothing before the key can open a nested value or hide it inside a string.
    if at > 0 and value[0] == 0x7B and not _NESTING.search(value, 1, at) and value.count(b'"', 0, at) % 2 == 0:
        number = _TS_NUMBER.match(value, at + 4)
        if number:
            return number.span(1)
    depth = 0
    for m in _TOKEN.finditer(value):
        c = value[m.start()]
        if c == 0x22:
            if depth == 1 and m.group() == b'"ts"':
                number = _TS_NUMBER.match(value, m.end())
                if number:
                    return number.span(1)
        elif c == 0x7B or c == 0x5B:
            depth += 1
        else:
            depth -= 1
    return None


def rewrite_ts(value: bytes, ts: int) -> bytes:
    """The value with its top-level `ts` digits replaced by `ts`, every other byte unchanged."""
    span = find_ts(value)
    if span is None:
        return value
    start, end = span
    digits = b"%d" % ts
    if value[start:end] == digits:
        return value
    return value[:start] + digits + value[end:]


def target_topic(source: str, namespace: str) -> str:
    """The training topic a recorded topic replays into: `<any ns>.<d>.<k>` -> `<namespace>.<d>.<k>`."""
    try:
        _, domain, kind = parse_topic(source)
    except ValueError as exc:
        raise RecordingError(f"the recording names topic {source!r}, which cannot be replayed: {exc}") from None
    target = topic_name(namespace, domain, kind)
    if is_live(target):
        raise IsolationError(f"refusing to replay {source!r} into the live topic {target!r}")
    return target


_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # Kafka record batch v2, up to the record count
_GZIP = 1
_SMALL_VARINTS = [bytes([z]) for z in range(0x80)] + [
    bytes([(z & 0x7F) | 0x80, z >> 7]) for z in range(0x80, 1 << 14)] + [
    bytes([(z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80, z >> 14]) for z in range(1 << 14, 1 << 17)]


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    if z < 131072:
        return _SMALL_VARINTS[z]
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _sized(data: bytes | None) -> bytes:
    return b"\x01" if data is None else _varint(len(data)) + data


_CRC_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected, as Kafka record batches use
_CRC_TABLE = np.zeros(256, dtype=np.uint32)
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _CRC_POLY if _c & 1 else _c >> 1
    _CRC_TABLE[_i] = _c
_CRC_LANE = 64


def _apply(tables: np.ndarray, x):
    return tables[0][x & 0xFF] ^ tables[1][(x >> 8) & 0xFF] ^ tables[2][(x >> 16) & 0xFF] ^ tables[3][x >> 24]


def _zero_byte_shift() -> np.ndarray:
    b = np.arange(256, dtype=np.uint32)
    return np.stack([_CRC_TABLE[(b << (8 * k)) & 0xFF] ^ ((b << (8 * k)) >> 8) for k in range(4)]).astype(np.uint32)


# _CRC_SHIFT[j] maps a CRC register to the register after 2**j zero bytes (a linear map, as byte tables).
_CRC_SHIFT = [_zero_byte_shift()]
for _ in range(40):
    _CRC_SHIFT.append(np.stack([_apply(_CRC_SHIFT[-1], _CRC_SHIFT[-1][k]) for k in range(4)]))


def crc32c(data: bytes) -> int:
    """CRC-32C of the data, computed over many lanes at once with numpy (kafka-python's is pure Python)."""
    # The register after data D from state s is f(0, D) ^ shift(s, len D), and f(0, A + B) is
    # shift(f(0, A), len B) ^ f(0, B): lanes of 64 bytes are checksummed side by side, then
    # folded pairwise. Zero bytes in front do not change f(0, D), so the data is padded there.
    n = len(data)
    lanes = 1 << max(0, (-(-n // _CRC_LANE) - 1).bit_length())
    padded = np.zeros(lanes * _CRC_LANE, dtype=np.uint8)
    padded[len(padded) - n:] = np.frombuffer(data, dtype=np.uint8)
    block = padded.reshape(lanes, _CRC_LANE).astype(np.uint32)
    reg = np.zeros(lanes, dtype=np.uint32)
    for j in range(_CRC_LANE):
        reg = _CRC_TABLE[(reg ^ block[:, j]) & 0xFF] ^ (reg >> 8)
    level = _CRC_LANE.bit_length() - 1
    while len(reg) > 1:
        reg = _apply(_CRC_SHIFT[level], reg[0::2]) ^ reg[1::2]
        level += 1
    init = np.array([0xFFFFFFFF], dtype=np.uint32)
    j = 0
    while n:
        if n & 1:
            init = _apply(_CRC_SHIFT[j], init)
        n >>= 1
        j += 1
    return (int(reg[0]) ^ int(init[0])) ^ 0xFFFFFFFF


def encode_batch(records: list[tuple[int, bytes | None, bytes | None, list | None]]) -> bytes:
    """A gzip-compressed Kafka v2 record batch of (timestamp_ms, key, value, headers) records."""
    base = records[0][0]
    small, varint = _SMALL_VARINTS, _varint
    parts = []
    for delta, (ts, key, value, headers) in enumerate(records):
        body = b"".join((
            b"\x00",
            varint(ts - base),
            small[delta << 1] if delta < 65536 else varint(delta),
            b"\x01" if key is None else varint(len(key)) + key,
            b"\x01" if value is None else varint(len(value)) + value,
            b"\x00" if not headers else varint(len(headers)) + b"".join(
                _sized(k.encode()) + _sized(v) for k, v in headers),
        ))
        parts.append(varint(len(body)))
        parts.append(body)
    payload = gzip.compress(b"".join(parts), compresslevel=1, mtime=0)
    n = len(records)
    data = bytearray(_BATCH_HEADER.pack(0, _BATCH_HEADER.size - 12 + len(payload), -1, 2, 0, _GZIP, n - 1, base,
                                        max(r[0] for r in records), -1, -1, -1, n))
    data += payload
    struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))
    return bytes(data)


class BulkPublisher:
    """Publishes many records in a few produce requests of pre-built record batches (never to `live.*`)."""

    # kafka-python's producer spends about 30 µs a record in Python: a 35,000-event state snapshot
    # would take over a second through it, and a seek must take less.

    MAX_RECORDS = 4000
    MAX_BYTES = 768 * 1024

    def __init__(self, bootstrap: str, *, timeout_ms: int = 30000) -> None:
        try:
            self._client = KafkaNetClient(bootstrap_servers=bootstrap, client_id="vigie-replay",
                                          request_timeout_ms=timeout_ms)
        except KafkaError as exc:
            raise BrokerUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
        self._timeout_ms = timeout_ms
        self._known: set[str] = set()

    def _chunks(self, records: list) -> list[list]:
        chunks, chunk, size = [], [], 0
        for r in records:
            length = len(r[2] or b"") + len(r[1] or b"") + 16
            if chunk and (len(chunk) >= self.MAX_RECORDS or size + length > self.MAX_BYTES):
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(r)
            size += length
        return chunks + [chunk] if chunk else chunks

    def prepare(self, topics) -> None:
        """Fetch the leaders of the topics' partitions."""
        missing = set(topics) - self._known
        if not missing:
            return
        self._known |= missing
        cluster = self._client.cluster
        self._client.poll(future=cluster.set_topics(self._known), timeout_ms=self._timeout_ms)
        leaders = {cluster.leader_for_partition(TopicPartition(t, p))
                   for t in missing for p in (cluster.partitions_for_topic(t) or ())}
        try:
            for node in leaders - {None, -1}:
                self._client.await_ready(node, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot reach the Kafka broker: {exc}") from exc

    def publish(self, groups: dict[tuple[str, int], list]) -> None:
        """Write each (topic, partition)'s records, in order, and wait for the broker's acknowledgement."""
        cluster = self._client.cluster
        for topic in {t for t, _ in groups}:
            if is_live(topic):
                raise IsolationError(f"refusing to write to the live topic {topic!r}")
        self.prepare({t for t, _ in groups})
        chunked = {tp: self._chunks(records) for tp, records in groups.items() if records}
        # One batch per partition per request: a request must not name a partition twice.
        for round_ in itertools.zip_longest(*chunked.values()):
            by_node: dict[int, dict[str, list]] = {}
            for (topic, partition), chunk in zip(chunked, round_):
                if chunk is None:
                    continue
                leader = cluster.leader_for_partition(TopicPartition(topic, partition))
                if leader is None or leader < 0:
                    raise BrokerUnavailable(f"no leader known for {topic}[{partition}]")
                by_node.setdefault(leader, {}).setdefault(topic, []).append(
                    _Partition(index=partition, records=encode_batch(chunk)))
            for node, topics in by_node.items():
                request = ProduceRequest(transactional_id=None, acks=1, timeout_ms=self._timeout_ms,
                                         topic_data=[_Topic(name=t, partition_data=ps) for t, ps in topics.items()],
                                         min_version=3, max_version=9)
                try:
                    response = self._client.send_and_receive(node, request, timeout_ms=self._timeout_ms)
                except KafkaError as exc:
                    raise BrokerUnavailable(f"cannot send to Kafka: {exc}") from exc
                for topic_response in response.responses:
                    for part in topic_response.partition_responses:
                        if part.error_code:
                            raise BrokerUnavailable(f"the broker refused records for {topic_response.name}"
                                                    f"[{part.index}]: {for_code(part.error_code).__name__}")

    def close(self) -> None:
        """Close the connections."""
        self._client.close()


class ReplaySink:
    """The replay's only way to Kafka: it refuses live topics and anything outside its training namespace."""

    def __init__(self, producer, namespace: str, bulk: BulkPublisher | None = None) -> None:
        validate_namespace(namespace)
        if not namespace.startswith("train-"):
            raise IsolationError(f"a replay writes only to a training namespace (train-<session>), not {namespace!r}")
        self._producer = producer
        self._bulk = bulk
        self.namespace = namespace
        self._prefix = namespace + "."
        self._partitions: dict[str, int] = {}
        self.sent = 0

    @classmethod
    def connect(cls, bootstrap: str, namespace: str) -> "ReplaySink":
        """Create the namespace's topics if needed and open a producer tuned for bursts."""
        ensure_topics(bootstrap, namespace)
        # gzip shrinks what kafka-python checksums in pure Python: bursts go out about twice as fast.
        producer = make_producer(bootstrap, compression_type="gzip", linger_ms=10, batch_size=1024 * 1024)
        return cls(producer, namespace, BulkPublisher(bootstrap))

    @property
    def bulk(self) -> bool:
        """True when `send_many` writes whole record batches (much faster than record by record)."""
        return self._bulk is not None

    def check(self, topic: str) -> None:
        """Raise IsolationError unless the topic belongs to this sink's training namespace."""
        if is_live(topic):
            raise IsolationError(f"refusing to write to the live topic {topic!r}: "
                                 f"a replay writes only to {self._prefix}* topics")
        if not topic.startswith(self._prefix):
            raise IsolationError(f"refusing to write to {topic!r}: this replay writes only to {self._prefix}* topics")

    def send(self, topic: str, value: bytes | None, key: bytes | None, headers, partition: int | None,
             timestamp_ms: int) -> None:
        """Queue one record on a topic of the namespace, keeping its partition when the topic has it."""
        self.check(topic)
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(self._producer.partitions_for(topic) or ())
        if partition is None or partition >= count:
            partition = None
        try:
            self._producer.send(topic, value=value, key=key, headers=headers or None, partition=partition,
                                timestamp_ms=timestamp_ms)
        except Exception as exc:
            raise BrokerUnavailable(f"cannot send to Kafka: {exc}") from exc
        self.sent += 1

    def prepare(self, topics: list[str]) -> None:
        """Check the topics and fetch their metadata now, so the first seek does not wait for it."""
        for topic in topics:
            self.check(topic)
            if topic not in self._partitions:
                self._partitions[topic] = len(self._producer.partitions_for(topic) or ())
        if self._bulk is not None:
            self._bulk.prepare(topics)

    def send_many(self, topics: list[str], partitions: list[int | None], keys: list, values: list, headers: list,
                  stamps: list[int]) -> None:
        """Write many records at once (a state snapshot) and wait until the broker has them all."""
        for topic in set(topics):
            self.check(topic)
        if self._bulk is None:
            for row in zip(topics, values, keys, headers, partitions, stamps):
                self.send(*row)
            self.flush()
            return
        self.flush()
        groups: dict[tuple[str, int], list] = {}
        for topic, partition, key, value, header, ts in zip(topics, partitions, keys, values, headers, stamps):
            count = self._partitions.get(topic)
            if count is None:
                count = self._partitions[topic] = len(self._producer.partitions_for(topic) or ())
            if partition is None or partition >= count:
                self.send(topic, value, key, header, None, ts)
                continue
            groups.setdefault((topic, partition), []).append((ts, key, value, header))
        self._bulk.publish(groups)
        self.sent += sum(len(records) for records in groups.values())
        self.flush()

    def flush(self, timeout: float | None = 30) -> None:
        """Wait until every queued record is acknowledged."""
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        """Flush and close the producer."""
        try:
            self._producer.flush(timeout=10)
        finally:
            self._producer.close(timeout=10)
            if self._bulk is not None:
                self._bulk.close()


@dataclass(frozen=True)
class ReplayProgress:
    """A replay's state at one moment, for a progress bar or the trainer page."""

    state: str
    position_s: float
    duration_s: float
    speed: float | None
    sent: int
    loops: int
    seeks: int
    last_seek_s: float | None
    snapshot_events: int
    lag_s: float = 0.0
    error: str | None = None

    @property
    def fraction(self) -> float:
        """Share of the recording played, 0 to 1."""
        return min(1.0, self.position_s / self.duration_s) if self.duration_s > 0 else 1.0

    def line(self, width: int = 30) -> str:
        """A one-line progress bar."""
        filled = int(self.fraction * width)
        speed = "fast" if self.speed is None else f"{self.speed:g}x"
        return (f"[{'#' * filled}{'.' * (width - filled)}] {_hms(self.position_s)} / {_hms(self.duration_s)} "
                f"· {speed} · {self.sent:,} events · {self.state}" + (f" · loop {self.loops}" if self.loops else ""))


def _hms(seconds: float) -> str:
    h, rest = divmod(int(seconds), 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _is_field_topic(topic: str) -> bool:
    _, domain, kind = parse_topic(topic)
    return any(s.source for s in CATALOG if (s.domain, s.kind) == (domain, kind))


def _check_speed(speed: float | None) -> float | None:
    if speed is None or speed == math.inf:
        return None
    if not (0 < speed <= MAX_SPEED):
        raise ValueError(f"speed {speed!r} is out of range: use a factor above 0 and up to {MAX_SPEED:g}, or fast")
    return float(speed)


class Replayer:
    """Plays a recording into `train-<session>.*` from a background thread, under live control.

    `play()` starts; `pause()`, `resume()`, `seek(offset_s)`, `set_speed(x)` steer it from any
    thread; `progress()` reports; `stop()` ends it. A seek first publishes, as fast as possible,
    the last record of every (topic, key) before the point, so the room's state is rebuilt there;
    to find those records fast the replayer keeps the recording's key index in memory (about 12
    bytes a record). Only field topics are replayed unless `derived`: alerts, dead letters and
    operator commands are what the training session's own processor and trainees produce.
    """

    def __init__(self, recording: Recording | str | Path, *, session: str, bootstrap: str | None = None,
                 speed: float | None = 1.0, start_s: float = 0.0, loop: bool = False, derived: bool = False,
                 sink: ReplaySink | None = None, clock=time.time) -> None:
        self.recording = recording if isinstance(recording, Recording) else Recording.open(recording)
        self.namespace = training_namespace(session)
        self.targets = {t: target_topic(t, self.namespace) for t in self.recording.topics}
        self.topics = [t for t in self.recording.topics if derived or _is_field_topic(t)]
        self.bootstrap = bootstrap
        self.loop = loop
        self._sink = sink
        self._clock = clock
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._speed = _check_speed(speed)
        self._state = "idle"
        self._paused = False
        self._stopping = False
        self._pending_seek: int | None = self._offset_ms(start_s) if start_s else None
        self._position_ms = self.recording.start_ms
        self._anchor_rec = self.recording.start_ms
        self._anchor_wall = clock()
        self._last_sent_ms: int | None = None
        self._fast_ts = 0
        self._iter = None
        self._next: Record | None = None
        self._sent = 0
        self._loops = 0
        self._seeks = 0
        self._last_seek_s: float | None = None
        self._snapshot_events = 0
        self._lag_s = 0.0
        self._seeking = False
        self._error: str | None = None

    # --- control, from any thread -------------------------------------------------------------

    def play(self, *, paused: bool = False) -> "Replayer":
        """Connect (creating the training topics) and start playing in a background thread."""
        if self._thread is not None:
            raise RuntimeError("this replayer was already started")
        if self._sink is None:
            if not self.bootstrap:
                raise ValueError("a replayer needs a bootstrap address or a sink")
            self._sink = ReplaySink.connect(self.bootstrap, self.namespace)
        if self._sink.namespace != self.namespace:
            raise IsolationError(f"the sink writes to {self._sink.namespace!r}, not to {self.namespace!r}")
        self._sink.prepare(list(self.targets.values()))
        with self._cond:
            self._paused = paused
            self._state = "paused" if paused else "playing"
            self._anchor_wall = self._clock()
        self._thread = threading.Thread(target=self._run, name=f"replay:{self.namespace}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        """Hold the replay at the current moment; nothing is published until resume or seek."""
        with self._cond:
            if self._paused or self._state not in ("playing", "idle"):
                return
            self._position_ms = self._position_now()
            self._paused = True
            self._state = "paused"
            self._cond.notify_all()
        with self._send_lock:  # once held, the replay thread has seen the pause: nothing more goes out
            with self._cond:
                self._position_ms = max(self._position_ms, self._last_sent_ms or self._position_ms)

    def resume(self) -> None:
        """Go on from where the replay was paused, at the current speed."""
        with self._cond:
            if not self._paused:
                return
            self._anchor_rec = self._position_ms
            self._anchor_wall = self._clock()
            self._paused = False
            if self._state == "paused":
                self._state = "playing"
            self._cond.notify_all()

    def set_speed(self, speed: float | None) -> None:
        """Change the speed factor (None or math.inf: as fast as possible) from the current moment on."""
        speed = _check_speed(speed)
        with self._cond:
            if not self._paused:
                self._position_ms = self._position_now()
            self._anchor_rec = self._position_ms
            self._anchor_wall = self._clock()
            self._speed = speed
            self._cond.notify_all()

    def seek(self, offset_s: float, *, wait: bool = True, timeout: float = 60.0) -> float | None:
        """Jump to `offset_s` seconds after the recording's start, rebuilding the state there.

        With `wait`, return once the state snapshot is published, with the seconds it took.
        """
        target = self._offset_ms(offset_s)
        with self._cond:
            self._pending_seek = target
            done = self._seeks + 1
            self._cond.notify_all()
            if not wait or self._thread is None:
                return None
            if not self._cond.wait_for(lambda: self._seeks >= done or self._state in ("error", "stopped"), timeout):
                raise TimeoutError(f"the seek to {offset_s} s did not finish within {timeout} s")
            if self._error:
                raise RuntimeError(f"the replay failed: {self._error}")
            return self._last_seek_s

    def stop(self, timeout: float = 30.0) -> ReplayProgress:
        """Stop the replay, flush what was queued and close the producer."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.progress()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the replay has played to the end (or stopped, or failed); True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: self._state in ("finished", "stopped", "error"), timeout)

    def progress(self) -> ReplayProgress:
        """Position, speed, events sent, seeks and loops."""
        with self._cond:
            position = self._position_ms if self._paused or self._state != "playing" else self._position_now()
            return ReplayProgress(
                state="seeking" if self._seeking else self._state,
                position_s=(position - self.recording.start_ms) / 1000,
                duration_s=self.recording.manifest.duration_s,
                speed=self._speed,
                sent=self._sent,
                loops=self._loops,
                seeks=self._seeks,
                last_seek_s=self._last_seek_s,
                snapshot_events=self._snapshot_events,
                lag_s=self._lag_s,
                error=self._error,
            )

    # --- the replay thread --------------------------------------------------------------------

    def _offset_ms(self, offset_s: float) -> int:
        rec = self.recording
        return max(rec.start_ms, min(rec.end_ms + 1, rec.start_ms + int(offset_s * 1000)))

    def _position_now(self) -> int:
        if self._seeking:
            return self._position_ms
        if self._speed is None or self._state != "playing":
            return self._last_sent_ms if self._last_sent_ms is not None else self._position_ms
        mapped = self._anchor_rec + int((self._clock() - self._anchor_wall) * 1000 * self._speed)
        cap = self._next.ts if self._next is not None else self.recording.end_ms
        return max(min(mapped, cap), self._last_sent_ms or self._anchor_rec)

    def _replay_ts(self, ts: int, anchor_rec: int, anchor_wall: float, speed: float | None) -> int:
        if speed is None:
            self._fast_ts = max(self._fast_ts, int(self._clock() * 1000))
            return self._fast_ts
        return int(anchor_wall * 1000 + (ts - anchor_rec) / speed)

    def _send(self, r: Record, ts: int) -> None:
        value = rewrite_ts(r.value, ts) if r.value is not None else None
        self._sink.send(self.targets[r.topic], value, r.key, r.headers, r.partition, ts)

    def _peek(self) -> Record | None:
        if self._next is None:
            if self._iter is None:
                self._iter = self.recording.iter_records(self._position_ms, self.topics)
            self._next = next(self._iter, None)
        return self._next

    def _run(self) -> None:
        # Build the key index beside the playback, so a seek finds it ready (pyarrow releases the GIL).
        threading.Thread(target=self._build_index, name="replay-index", daemon=True).start()
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping or self._pending_seek is not None
                                        or (not self._paused and self._state != "finished"))
                    if self._stopping:
                        break
                    seek, self._pending_seek = self._pending_seek, None
                if seek is not None:
                    self._do_seek(seek)
                    continue
                if self._peek() is None:
                    self._at_end()
                    continue
                with self._cond:
                    if self._paused or self._pending_seek is not None or self._stopping:
                        continue
                    if self._speed is not None:
                        due = self._anchor_wall + (self._next.ts - self._anchor_rec) / 1000 / self._speed
                        wait = due - self._clock()
                        if wait > 0.001:
                            self._cond.wait(min(wait, 0.5))
                            continue
                    anchors = (self._anchor_rec, self._anchor_wall, self._speed)
                self._send_due(*anchors)
            self._sink.flush()
            with self._cond:
                if self._state == "playing" and not self._paused:
                    self._position_ms = self._position_now()
                if self._state != "finished":
                    self._state = "stopped"
                self._cond.notify_all()
        except Exception as exc:  # the trainer page reads the reason from progress()
            with self._cond:
                self._error = f"{type(exc).__name__}: {exc}"
                self._state = "error"
                self._seeking = False
                self._cond.notify_all()
        finally:
            try:
                self._sink.close()
            except Exception:
                pass

    def _build_index(self) -> None:
        try:
            self.recording.key_index()
        except Exception:  # a damaged segment is reported by the replay thread when it reads it
            pass

    def _send_due(self, anchor_rec: int, anchor_wall: float, speed: float | None) -> None:
        if speed is None and self._sink.bulk:
            self._send_bulk()
            return
        now = self._clock()
        horizon = math.inf if speed is None else anchor_rec + (now - anchor_wall) * 1000 * speed
        for _ in range(_BATCH):
            r = self._peek()
            if r is None or r.ts > horizon:
                break
            with self._send_lock:
                if self._paused or self._pending_seek is not None or self._stopping:
                    break
                self._send(r, self._replay_ts(r.ts, anchor_rec, anchor_wall, speed))
                self._last_sent_ms = r.ts
                self._next = None
                self._sent += 1
        if speed is not None and self._last_sent_ms is not None:
            due = anchor_wall + (self._last_sent_ms - anchor_rec) / 1000 / speed
            self._lag_s = max(0.0, self._clock() - due)

    def _send_bulk(self) -> None:
        with self._send_lock:
            rows = []
            while len(rows) < _BULK and not (self._paused or self._pending_seek is not None or self._stopping):
                r = self._peek()
                if r is None:
                    break
                rows.append(r)
                self._next = None
            if not rows:
                return
            stamps = [self._replay_ts(r.ts, 0, 0.0, None) for r in rows]
            values = [r.value if r.value is None else rewrite_ts(r.value, t) for r, t in zip(rows, stamps)]
            self._sink.send_many([self.targets[r.topic] for r in rows], [r.partition for r in rows],
                                 [r.key for r in rows], values, [r.headers for r in rows], stamps)
            self._last_sent_ms = rows[-1].ts
            self._sent += len(rows)

    def _at_end(self) -> None:
        self._sink.flush()
        with self._cond:
            self._position_ms = self.recording.end_ms
            if self.loop and any(self.recording.manifest.counts.get(t) for t in self.topics) and not self._stopping:
                self._loops += 1
                self._iter, self._next, self._last_sent_ms = None, None, None
                self._position_ms = self._anchor_rec = self.recording.start_ms
                self._anchor_wall = self._clock()
            elif not self._paused:
                self._state = "finished"
            self._cond.notify_all()

    def _do_seek(self, target: int) -> None:
        started = time.perf_counter()
        with self._cond:
            self._seeking = True
            self._position_ms = target
        self._sink.flush()
        table = self.recording.snapshot_table(target, self.topics)
        with self._cond:
            speed = self._speed
        now_ms = int(self._clock() * 1000)
        ts = table["timestamp_ms"].to_numpy()
        stamps = (np.full(len(ts), now_ms) if speed is None else now_ms + (ts - target) / speed).astype(np.int64)
        stamps = stamps.tolist()
        values = [v if v is None else rewrite_ts(v, t) for v, t in zip(table["value"].to_pylist(), stamps)]
        topics = [self.targets[t] for t in table["topic"].to_pylist()]
        self._sink.send_many(topics, table["partition"].to_pylist(), table["key"].to_pylist(), values,
                             headers_of(table["headers"]), stamps)
        with self._cond:
            self._iter, self._next, self._last_sent_ms = None, None, None
            self._position_ms = self._anchor_rec = target
            self._anchor_wall = self._clock()
            self._sent += len(values)
            self._snapshot_events = len(values)
            self._seeks += 1
            self._last_seek_s = time.perf_counter() - started
            self._seeking = False
            if self._state == "finished":
                self._state = "playing"
            self._cond.notify_all()
