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

import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .kafka import BrokerUnavailable, ensure_topics, make_producer
from .recording import Record, Recording, RecordingError
from .topics import is_live, parse_topic, topic_name, training_namespace, validate_namespace

__all__ = [
    "IsolationError",
    "MAX_SPEED",
    "ReplayProgress",
    "ReplaySink",
    "Replayer",
    "find_ts",
    "rewrite_ts",
    "target_topic",
]

MAX_SPEED = 10_000.0
_BATCH = 2000

_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\]]')
_TS_NUMBER = re.compile(rb'\s*:\s*(-?[0-9]+)(?=\s*[,}])')


class IsolationError(ValueError):
    """A replay tried to write outside its training namespace (for example to a `live.*` topic)."""


def find_ts(value: bytes) -> tuple[int, int] | None:
    """Byte span of the digits of the top-level integer `ts` field of a JSON object, or None."""
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


class ReplaySink:
    """The replay's only way to Kafka: it refuses live topics and anything outside its training namespace."""

    def __init__(self, producer, namespace: str) -> None:
        validate_namespace(namespace)
        if not namespace.startswith("train-"):
            raise IsolationError(f"a replay writes only to a training namespace (train-<session>), not {namespace!r}")
        self._producer = producer
        self.namespace = namespace
        self._prefix = namespace + "."
        self._partitions: dict[str, int] = {}
        self.sent = 0

    @classmethod
    def connect(cls, bootstrap: str, namespace: str) -> "ReplaySink":
        """Create the namespace's topics if needed and open a producer tuned for bursts."""
        ensure_topics(bootstrap, namespace)
        # gzip shrinks what kafka-python checksums in pure Python: snapshots go out about twice as fast.
        return cls(make_producer(bootstrap, compression_type="gzip", linger_ms=10, batch_size=1024 * 1024), namespace)

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

    def flush(self, timeout: float | None = 30) -> None:
        """Wait until every queued record is acknowledged."""
        self._producer.flush(timeout=timeout)

    def close(self) -> None:
        """Flush and close the producer."""
        try:
            self._producer.flush(timeout=10)
        finally:
            self._producer.close(timeout=10)


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
    the last record of every (topic, key) before the point, so the room's state is rebuilt there.
    """

    def __init__(self, recording: Recording | str | Path, *, session: str, bootstrap: str | None = None,
                 speed: float | None = 1.0, start_s: float = 0.0, loop: bool = False,
                 sink: ReplaySink | None = None, clock=time.time) -> None:
        self.recording = recording if isinstance(recording, Recording) else Recording.open(recording)
        self.namespace = training_namespace(session)
        self.targets = {t: target_topic(t, self.namespace) for t in self.recording.topics}
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
        for target in self.targets.values():
            self._sink.check(target)
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
                state=self._state,
                position_s=(position - self.recording.start_ms) / 1000,
                duration_s=self.recording.manifest.duration_s,
                speed=self._speed,
                sent=self._sent,
                loops=self._loops,
                seeks=self._seeks,
                last_seek_s=self._last_seek_s,
                snapshot_events=self._snapshot_events,
                error=self._error,
            )

    # --- the replay thread --------------------------------------------------------------------

    def _offset_ms(self, offset_s: float) -> int:
        rec = self.recording
        return max(rec.start_ms, min(rec.end_ms + 1, rec.start_ms + int(offset_s * 1000)))

    def _position_now(self) -> int:
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
                self._iter = self.recording.iter_records(self._position_ms)
            self._next = next(self._iter, None)
        return self._next

    def _run(self) -> None:
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
                        wait = self._anchor_wall + (self._next.ts - self._anchor_rec) / 1000 / self._speed - self._clock()
                        if wait > 0.001:
                            self._cond.wait(min(wait, 0.5))
                            continue
                    anchors = (self._anchor_rec, self._anchor_wall, self._speed)
                self._send_due(*anchors)
            self._sink.flush()
            with self._cond:
                if self._state != "finished":
                    self._state = "stopped"
                self._cond.notify_all()
        except Exception as exc:  # the trainer page reads the reason from progress()
            with self._cond:
                self._error = f"{type(exc).__name__}: {exc}"
                self._state = "error"
                self._cond.notify_all()
        finally:
            try:
                self._sink.close()
            except Exception:
                pass

    def _send_due(self, anchor_rec: int, anchor_wall: float, speed: float | None) -> None:
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

    def _at_end(self) -> None:
        self._sink.flush()
        with self._cond:
            self._position_ms = self.recording.end_ms
            if self.loop and self.recording.manifest.events and not self._stopping:
                self._loops += 1
                self._iter, self._next, self._last_sent_ms = None, None, None
                self._position_ms = self._anchor_rec = self.recording.start_ms
                self._anchor_wall = self._clock()
            elif not self._paused:
                self._state = "finished"
            self._cond.notify_all()

    def _do_seek(self, target: int) -> None:
        started = time.perf_counter()
        self._sink.flush()
        snapshot = self.recording.snapshot(target)
        with self._cond:
            speed = self._speed
        anchor_wall = self._clock()
        for r in snapshot:
            self._send(r, self._replay_ts(r.ts, target, anchor_wall, speed))
        self._sink.flush()
        with self._cond:
            self._iter, self._next, self._last_sent_ms = None, None, None
            self._position_ms = self._anchor_rec = target
            self._anchor_wall = self._clock()
            self._sent += len(snapshot)
            self._snapshot_events = len(snapshot)
            self._seeks += 1
            self._last_seek_s = time.perf_counter() - started
            if self._state == "finished":
                self._state = "playing"
            self._cond.notify_all()
