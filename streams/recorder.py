"""The recorder: copies chosen Kafka topics into a recording folder, for hours, with bounded memory.

Citizens' contact details are dropped on the way (`streams.privacy.scrub_contact`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from kafka import TopicPartition
from kafka.errors import KafkaError

from .kafka import BrokerUnavailable, make_consumer
from .privacy import scrub_contact
from .recording import Manifest, RecordingWriter, RollPolicy
from .schemas import now_ms
from .topics import LIVE, namespace_topics, parse_topic, validate_namespace

__all__ = ["RecordProgress", "Recorder", "RecorderError", "resolve_topics"]


class RecorderError(RuntimeError):
    """The recorder cannot record what was asked."""


@dataclass(frozen=True)
class RecordProgress:
    """A recorder's state at one moment, for a progress line or the trainer page."""

    state: str
    elapsed_s: float
    events: int
    bytes: int
    segments: int
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def line(self) -> str:
        """One human-readable progress line: duration, events, size."""
        h, rest = divmod(int(self.elapsed_s), 3600)
        return (f"{self.state} {h:02d}:{rest // 60:02d}:{rest % 60:02d} · {self.events:,} events · "
                f"{self.bytes / 1e6:.1f} MB in {self.segments} segments")


def resolve_topics(topics: Iterable[str] | None, namespace: str = LIVE) -> list[str]:
    """Full topic names to record: every catalog topic of the namespace by default; `<domain>.<kind>` accepted."""
    validate_namespace(namespace)
    if not topics:
        return [name for name, _ in namespace_topics(namespace)]
    out = []
    for topic in topics:
        full = topic if topic.count(".") >= 2 else f"{namespace}.{topic}"
        try:
            parse_topic(full)
        except ValueError as exc:
            raise RecorderError(str(exc)) from None
        out.append(full)
    return list(dict.fromkeys(out))


class Recorder:
    """Records topics into a folder from a background thread; `start()`, `progress()`, `stop()`.

    Without `from_beginning`, the recording holds the records stamped from the moment `start()`
    is called; with it, also what the topics still retain.
    """

    def __init__(self, out: str | Path, *, bootstrap: str, topics: Iterable[str] | None = None,
                 namespace: str = LIVE, duration_s: float | None = None, from_beginning: bool = False,
                 roll: RollPolicy = RollPolicy(), max_events: int | None = None) -> None:
        self.out = Path(out)
        self.bootstrap = bootstrap
        self.topics = resolve_topics(topics, namespace)
        self.namespace = namespace
        self.duration_s = duration_s
        self.from_beginning = from_beginning
        self.roll = roll
        self.max_events = max_events
        self.writer: RecordingWriter | None = None
        self._consumer = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = "idle"
        self._error: str | None = None
        self._events = 0
        self._started = 0.0
        self._start_ms = 0
        self._ended: float | None = None

    def start(self) -> "Recorder":
        """Connect, fix the starting offsets of every partition, then record in a background thread."""
        if self._thread is not None:
            raise RecorderError("this recorder was already started")
        self._start_ms = now_ms()
        consumer = make_consumer(self.bootstrap, check_crcs=True)
        try:
            partitions = self._assign(consumer)
            self.writer = RecordingWriter(self.out, namespace=self.namespace, roll=self.roll)
        except BaseException:
            consumer.close()
            raise
        for topic in self.topics:
            if topic in partitions:
                self.writer.add_topic(topic)
        self._consumer = consumer
        self._started = time.monotonic()
        self._state = "recording"
        self._thread = threading.Thread(target=self._run, name=f"recorder:{self.out.name}", daemon=True)
        self._thread.start()
        return self

    def _assign(self, consumer) -> dict[str, list[int]]:
        try:
            partitions = {}
            for topic in self.topics:
                found = consumer.partitions_for_topic(topic)
                if found:
                    partitions[topic] = sorted(found)
            if not partitions:
                raise RecorderError(f"none of the topics to record exists on {self.bootstrap}: {self.topics}")
            tps = [TopicPartition(t, p) for t, ps in partitions.items() for p in ps]
            consumer.assign(tps)
            # Some brokers (the embedded one) answer "latest" with the start of the last batch, not its
            # end: the few older records read again are left out by their timestamp, below start().
            (consumer.seek_to_beginning if self.from_beginning else consumer.seek_to_end)(*tps)
            for tp in tps:
                consumer.position(tp)
            return partitions
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot read topics from {self.bootstrap}: {exc}") from exc

    def _run(self) -> None:
        writer, consumer = self.writer, self._consumer
        min_ts = -1 if self.from_beginning else self._start_ms
        try:
            while not self._stop.is_set():
                if self.duration_s is not None and time.monotonic() - self._started >= self.duration_s:
                    break
                if self.max_events is not None and self._events >= self.max_events:
                    break
                batch = consumer.poll(timeout_ms=200, max_records=5000)
                with self._lock:
                    for tp, messages in batch.items():
                        for m in messages:
                            ts = m.timestamp if m.timestamp is not None and m.timestamp >= 0 else now_ms()
                            if ts < min_ts:
                                continue
                            writer.append(tp.topic, tp.partition, m.offset, ts, m.key, scrub_contact(m.value),
                                          m.headers or None)
                            self._events += 1
                    writer.roll_due()
            self._finish("stopped")
        except Exception as exc:  # the thread must always leave a valid manifest behind
            self._error = f"{type(exc).__name__}: {exc}"
            self._finish("error")
        finally:
            consumer.close()

    def _finish(self, state: str) -> None:
        with self._lock:
            try:
                self.writer.close()
            finally:
                self._ended = time.monotonic()
                self._state = state

    def stop(self, timeout: float = 30.0) -> Manifest:
        """Stop recording, write the buffered records and the final manifest; return it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._error:
            raise RecorderError(f"the recording of {self.out} failed: {self._error}")
        return self.manifest

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the recorder ends by itself (duration, event limit, error); True if it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def manifest(self) -> Manifest | None:
        """The recording's manifest as written so far."""
        return self.writer.manifest if self.writer else None

    def progress(self) -> RecordProgress:
        """Duration, events, size and segments so far."""
        with self._lock:
            if self.writer is None:
                return RecordProgress(self._state, 0.0, 0, 0, 0)
            end = self._ended if self._ended is not None else time.monotonic()
            m = self.writer.manifest
            return RecordProgress(
                state=self._state,
                elapsed_s=end - self._started,
                events=self._events,
                bytes=self.writer.bytes_written + self.writer.buffered_bytes,
                segments=len(m.segments),
                counts=dict(m.counts),
                error=self._error,
            )
