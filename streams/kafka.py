"""The Kafka client layer: producer, consumers and topic administration over kafka-python.

Every component gets its clients here so batching, timeouts and error handling stay the
same everywhere, and a broker that goes away surfaces as one project exception.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from .schemas import Event, encode
from .topics import event_topic, namespace_topics

__all__ = [
    "BrokerUnavailable",
    "EventProducer",
    "ensure_topics",
    "partition_key",
    "partition_of",
    "make_consumer",
    "make_producer",
    "wait_for_broker",
]

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The Kafka broker cannot be reached or refuses a request."""


def make_producer(bootstrap: str, **overrides) -> KafkaProducer:
    """A producer tuned for many small events: batched, keyed by asset id, bytes in and out."""
    config = dict(
        bootstrap_servers=bootstrap,
        client_id="vigie",
        acks=1,
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        retries=5,
        max_block_ms=10000,
        request_timeout_ms=10000,
        bootstrap_timeout_ms=5000,
    )
    config.update(overrides)
    try:
        return KafkaProducer(**config)
    except KafkaError as exc:
        raise BrokerUnavailable(f"no Kafka broker answers at {bootstrap}") from exc


def make_consumer(bootstrap: str, topics: Iterable[str] = (), *, group_id: str | None = None, **overrides) -> KafkaConsumer:
    """A consumer that reads from the earliest offset, in large batches, with no auto-commit."""
    config = dict(
        bootstrap_servers=bootstrap,
        client_id="vigie",
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        request_timeout_ms=30000,
        bootstrap_timeout_ms=5000,
    )
    if group_id is not None:
        # The embedded broker holds a consumer-group join for the whole rebalance timeout.
        config.update(max_poll_interval_ms=5000, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    config.update(overrides)
    try:
        consumer = KafkaConsumer(**config)
    except KafkaError as exc:
        raise BrokerUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
    topics = list(topics)
    if topics:
        consumer.subscribe(topics)
    return consumer


def partition_key(asset_id: str, cabinet_id: str | None = None) -> bytes:
    """What places an event on a partition: its cabinet for a light point, else its asset id.

    A cabinet and its light points share a partition, so one processor of a group sees them all
    and links their alerts (topology) in memory. The Kafka key stays the asset id (recordings
    and replays index by it); only the partition follows the cabinet.
    """
    return (cabinet_id or asset_id).encode()


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as the Java client)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class EventProducer:
    """Sends events to their catalog topic in a namespace, keyed by asset id."""

    def __init__(self, producer: KafkaProducer, namespace: str) -> None:
        self._producer = producer
        self.namespace = namespace
        self._topics: dict[str, str] = {}
        self._partitions: dict[str, int] = {}
        self.sent = 0

    @classmethod
    def connect(cls, bootstrap: str, namespace: str, **overrides) -> "EventProducer":
        """Open a producer on a broker for a namespace."""
        return cls(make_producer(bootstrap, **overrides), namespace)

    def topic_for(self, event: Event) -> str:
        """The topic an event goes to in this namespace."""
        kind = event.kind
        topic = self._topics.get(kind)
        if topic is None:
            topic = self._topics[kind] = event_topic(self.namespace, kind)
        return topic

    def send(self, event: Event) -> None:
        """Queue one event (sent in the background batch)."""
        try:
            topic = self.topic_for(event)
            cabinet = getattr(event, "cabinet_id", None)
            partition = None
            if cabinet:
                count = self._partitions.get(topic)
                if count is None:
                    count = self._partitions[topic] = len(self._producer.partitions_for(topic))
                partition = partition_of(partition_key(event.asset_id, cabinet), count)
            self._producer.send(topic, value=encode(event), key=event.asset_id.encode(), partition=partition)
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot send to Kafka: {exc}") from exc
        self.sent += 1

    def send_raw(self, topic: str, value: bytes, key: bytes | None = None, headers=None) -> None:
        """Queue raw bytes on a topic (dead letters, replays)."""
        try:
            self._producer.send(topic, value=value, key=key, headers=headers)
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot send to Kafka: {exc}") from exc
        self.sent += 1

    def flush(self, timeout: float | None = 30) -> None:
        """Wait until every queued event is acknowledged by the broker."""
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot flush to Kafka: {exc}") from exc

    def close(self, timeout: float = 10) -> None:
        """Flush and close the underlying producer."""
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError:
            log.warning("some events were not acknowledged before close")
        self._producer.close(timeout=timeout)


def wait_for_broker(bootstrap: str, timeout: float = 20.0) -> None:
    """Block until the broker answers a metadata request, or raise BrokerUnavailable."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=3000, bootstrap_timeout_ms=2000, client_id="vigie-probe"
            )
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.2)
    raise BrokerUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s ({last})")


def ensure_topics(bootstrap: str, namespace: str, *, replication_factor: int = 1) -> list[str]:
    """Create the catalog topics of a namespace that do not exist yet; return the ones created."""
    wanted = namespace_topics(namespace)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=10000, bootstrap_timeout_ms=5000, client_id="vigie-admin"
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"no Kafka broker answers at {bootstrap}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=spec.partitions, replication_factor=replication_factor)
            for name, spec in wanted
            if name not in existing
        ]
        created = []
        for topic in missing:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot create topics on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
