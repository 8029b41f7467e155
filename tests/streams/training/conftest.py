"""Factories for the training tests: synthetic recordings, unique sessions, reading a namespace back."""

from __future__ import annotations

import itertools
import time
import uuid
from types import SimpleNamespace

import pytest
from kafka import TopicPartition

from streams.kafka import make_consumer
from streams.recording import Record, RollPolicy, write_recording
from streams.schemas import CameraHealth, LampTelemetry, encode

T0 = 1_764_000_000_000  # a fixed recording start (2025-11-24), far from the replay time


def lamp(asset: str, ts: int, level: float = 100.0) -> bytes:
    """An encoded lamp telemetry event."""
    return encode(LampTelemetry(asset_id=asset, ts=ts, power_state="on", level=level, power_w=30.0,
                                energy_wh=level * 10, cabinet_id="CAB-0001"))


def camera(asset: str, ts: int, state: str = "online") -> bytes:
    """An encoded camera health event."""
    return encode(CameraHealth(asset_id=asset, ts=ts, state=state, bitrate_kbps=2048.0))


def synthetic_records(span_s: float, every_ms: int, *, lamps: int = 5, cameras: int = 3, t0: int = T0) -> list[Record]:
    """Records every `every_ms` over `span_s`, cycling over a few lamps and cameras, partitioned by key."""
    out = []
    offsets = itertools.count()
    for n, ts in enumerate(range(t0, t0 + int(span_s * 1000) + 1, every_ms)):
        if n % 2 == 0:
            key = f"LP-{n % lamps:06d}"
            out.append(Record(ts, "live.lighting.telemetry", n % lamps % 3, next(offsets), key.encode(),
                              lamp(key, ts, level=float(n % 101)), None))
        else:
            key = f"CAM-{n % cameras:03d}"
            state = "online" if n % 4 else "offline"
            out.append(Record(ts, "live.cameras.health", n % cameras % 3, next(offsets), key.encode(),
                              camera(key, ts, state), [("source", b"test")]))
    return out


@pytest.fixture
def make_recording(tmp_path):
    """Write synthetic records into a new recording folder and return its path."""
    counter = itertools.count()

    def make(records, *, roll: RollPolicy = RollPolicy(), topics=()):
        folder = tmp_path / f"rec{next(counter)}"
        write_recording(folder, records, namespace="live", roll=roll, topics=topics)
        return folder

    return make


@pytest.fixture
def session():
    """A unique training session name, so tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:10]}"


def read_topics(bootstrap: str, topics: list[str], expected: int | None = None, timeout: float = 10.0,
                idle_s: float = 0.6) -> list:
    """Every record in the topics from the beginning: `expected` of them, or all once none came for `idle_s`.

    The embedded broker reports the start of a partition's last batch as its end offset, so the
    end is found by reading, not by asking.
    """
    consumer = make_consumer(bootstrap)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while expected is None or len(out) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(out)} of {expected} records from {topics} in {timeout} s")
            batch = consumer.poll(timeout_ms=100)
            for messages in batch.values():
                out.extend(messages)
            if batch:
                last_new = time.monotonic()
            elif expected is None and time.monotonic() - last_new > idle_s:
                break
        return out
    finally:
        consumer.close()


@pytest.fixture
def kit():
    """The helpers above, for test modules (conftest modules cannot be imported under importlib mode)."""
    return SimpleNamespace(T0=T0, lamp=lamp, camera=camera, synthetic_records=synthetic_records,
                           read_topics=read_topics, moved=moved)


class FakeProducer:
    """Stands in for a KafkaProducer: keeps every send with the wall-clock time it happened."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str, dict]] = []

    def send(self, topic, **kwargs):
        """Keep one record."""
        self.sent.append((time.time(), topic, kwargs))

    def partitions_for(self, topic):
        """Three partitions, like the catalog topics."""
        return {0, 1, 2}

    def flush(self, timeout=None):
        """Nothing queued."""

    def close(self, timeout=None):
        """Nothing to close."""


@pytest.fixture
def fake_sink(session):
    """A ReplaySink for the test's session over a FakeProducer (`.producer.sent` lists the sends)."""
    from streams.replayer import ReplaySink
    from streams.topics import training_namespace

    producer = FakeProducer()
    sink = ReplaySink(producer, training_namespace(session))
    sink.producer = producer
    return sink


@pytest.fixture
def source_ns(embedded_broker):
    """A fresh namespace with the catalog topics, standing in for `live` so no test writes to the live topics."""
    from streams.kafka import ensure_topics

    namespace = f"train-src{uuid.uuid4().hex[:8]}"
    ensure_topics(embedded_broker.bootstrap, namespace)
    return namespace


def moved(records, namespace: str) -> list[Record]:
    """The records with `live.` topics renamed into another namespace."""
    return [r._replace(topic=r.topic.replace("live.", f"{namespace}.", 1)) for r in records]
