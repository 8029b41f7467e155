"""The stream processor: source topics of a namespace in, live state, alerts, energy and health out.

One consumer group reads the namespace's source topics in batches. Each batch is decoded
(bad events go to the dead-letter topic with the reason and the original bytes), applied to
the in-memory alert engine, and written to the store in ONE transaction together with the
next offset of every partition it read. On start the processor seeks each assigned
partition to the offset the store holds, not to the group's committed offset, so a crash at
any point neither loses nor double-counts an event. Alert transitions are published to
`<namespace>.alerts.events` after the commit (at least once).
"""

from __future__ import annotations

import base64
import bisect
import logging
import math
import operator
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson
from kafka import ConsumerRebalanceListener, TopicPartition

from .config import Settings
from .kafka import EventProducer, make_consumer, make_producer
from .rules import RuleSet, load_rules
from .rules_engine import AlertEngine
from .schemas import EVENT_TYPES, AlertTransition, Validator
from .store import BatchWrite, Store, open_store
from .topics import CATALOG, source_topics, topic_name, validate_namespace

__all__ = ["CONSUMER_SETTINGS", "DEFAULT_BATCH", "Processor", "RunStats", "deadletter_record", "group_id_for"]

log = logging.getLogger(__name__)
DEFAULT_BATCH = 5000
_MERGE_EVERY_S = 1.0
_IDLE_TICK_S = 5.0
_MAX_BUFFER = 200_000
# Fetches of 1 MB per partition keep the partitions of a backlog advancing together, so the
# event-time horizon (and with it the commits) moves on steadily. The benchmark's ceiling
# consumer uses the same settings.
CONSUMER_SETTINGS = {"max_partition_fetch_bytes": 1024 * 1024}
_TYPES_OF_FEED = {spec.suffix: frozenset(t for t in EVENT_TYPES if t.__struct_config__.tag in spec.events)
                  for spec in CATALOG}


_buffer_key = operator.itemgetter(0)  # a stable sort: equal times keep their arrival order


def _buffer_ts(item: tuple) -> int:
    return item[0]


def group_id_for(namespace: str) -> str:
    """The consumer group of a namespace's processor."""
    return f"vigie-processor-{namespace}"


def deadletter_record(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                      reason: str, timestamp: int | None = None) -> bytes:
    """The JSON wrapper put on the dead-letter topic: why, where from, and the original bytes in base64."""
    return orjson.dumps({
        "reason": reason, "topic": topic, "partition": partition, "offset": offset, "timestamp": timestamp,
        "key": key.decode("utf-8", "replace") if key else None,
        "value_b64": base64.b64encode(value).decode() if value is not None else None,
    })


@dataclass
class RunStats:
    """What a run did."""

    batches: int = 0
    events: int = 0
    dead_letters: int = 0
    published: int = 0
    seconds: float = 0.0
    first_batch_s: float | None = None  # from the start of the run to the first records (group join)


@dataclass
class _TopicHealth:
    events: int = 0
    dead_letters: int = 0
    last_event_ts: int | None = None
    rate: float = 0.0
    window_events: int = 0
    window_start: float = field(default_factory=time.monotonic)


class _Seeker(ConsumerRebalanceListener):
    def __init__(self, processor: "Processor") -> None:
        self.processor = processor

    def on_partitions_revoked(self, revoked) -> None:
        self.processor.assigned -= set(revoked)

    def on_partitions_assigned(self, assigned) -> None:
        self.processor.seek_assigned(list(assigned))


class Processor:
    """Runs the alert engine of one namespace over Kafka into the store."""

    def __init__(self, settings: Settings, *, namespace: str | None = None, store: Store | None = None,
                 rules: RuleSet | None = None, batch_size: int = DEFAULT_BATCH, group_id: str | None = None,
                 consumer_overrides: dict | None = None) -> None:
        self.settings = settings
        self.namespace = validate_namespace(namespace or settings.namespace)
        self.store = store or open_store(settings, self.namespace)
        self.rules = rules or load_rules()
        self.batch_size = batch_size
        self.group_id = group_id or group_id_for(self.namespace)
        self.topics = source_topics(self.namespace)
        self.deadletter_topic = topic_name(self.namespace, "deadletter", "events")
        self.validator = Validator(max_future_s=settings.max_future_s)
        self.assigned: set[TopicPartition] = set()
        self._unverified: set[TopicPartition] = set()
        self._partition_ts: dict[tuple[str, int], int] = {}
        self._buffer: list[tuple] = []
        self._order = 0
        self.positions: dict[tuple[str, int], int] = {}
        self.health: dict[str, _TopicHealth] = {t: _TopicHealth() for t in self.topics}
        self.stats = RunStats()
        self._consumer_overrides = consumer_overrides or {}
        self._consumer = None
        self._producer: EventProducer | None = None
        self._ids = iter(())
        self._alert_seq = 0
        self._published_seq = 0
        self._last_merge = 0.0
        self._last_event_wall = time.monotonic()
        self._watching = False
        self._publish_pending = True
        self.engine = self._warm_engine()

    # -- start ---------------------------------------------------------------------------------

    def _next_alert_id(self) -> int:
        for alert_id in self._ids:
            return alert_id
        self._ids = iter(self.store.reserve_alert_ids(1000))
        return next(self._ids)

    def _warm_engine(self) -> AlertEngine:
        store = self.store
        self._maybe_load_inventory()
        engine = AlertEngine(self.rules, namespace=self.namespace, inventory=store.inventory(),
                             alert_ids=self._next_alert_id)
        prefix = self.namespace + "."
        feed_last = {}
        for row in store.stream_health():
            topic = row["topic"]
            if topic in self.health:
                h = self.health[topic]
                h.events, h.dead_letters, h.last_event_ts = row["events"], row["dead_letters"], row["last_event_ts"]
                if row["last_event_ts"] is not None:
                    feed_last[topic[len(prefix):]] = row["last_event_ts"]
        engine.warm_start(store.iter_asset_states(), store.open_intervals(), store.active_alerts(), feed_last)
        self._alert_seq = store.current_seq()
        self._published_seq = store.counter("published_seq")
        self.positions = {k: v for k, v in store.load_offsets(self.group_id).items() if k[0] in self.health}
        return engine

    def _maybe_load_inventory(self) -> None:
        folder = Path(self.settings.inventory_dir)
        if self.store.count_assets() or not (folder / "assets.parquet").exists():
            return
        try:
            from connectors.dijon.inventory import load_inventory
            from .store.inventory import load_inventory_into

            n = load_inventory_into(self.store, load_inventory(folder))
            log.info("loaded %d inventory assets from %s", n, folder)
        except Exception as exc:  # the processor runs without an inventory, only with less context
            log.warning("could not load the inventory from %s: %s", folder, exc)

    def connect(self) -> None:
        """Open the consumer (subscribed, seeking to the store's offsets on assignment) and the producer."""
        overrides = {**CONSUMER_SETTINGS, **self._consumer_overrides}
        self._consumer = make_consumer(self.settings.kafka_bootstrap, group_id=self.group_id,
                                       max_poll_records=self.batch_size, **overrides)
        self._consumer.subscribe(self.topics, listener=_Seeker(self))
        self._producer = EventProducer(make_producer(self.settings.kafka_bootstrap), self.namespace)

    def seek_assigned(self, partitions: list[TopicPartition]) -> None:
        """Seek newly assigned partitions to the stored offsets (the store, not the group, is the truth).

        Runs inside the consumer's IO callback, where only local calls are allowed: the check
        against the partition's actual range waits for `_verify_assigned`, after the poll.
        """
        consumer = self._consumer
        stored = self.store.load_offsets(self.group_id)
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                consumer.seek_to_beginning(tp)
                self.positions.pop((tp.topic, tp.partition), None)
            else:
                consumer.seek(tp, offset)
                self.positions[(tp.topic, tp.partition)] = offset
        self.assigned |= set(partitions)
        self._unverified |= set(partitions)
        log.info("assigned %d partitions of %s", len(partitions), self.namespace)

    def _verify_assigned(self, polled: dict) -> dict:
        """Reset partitions whose stored offset lies beyond the broker's log (a restarted in-memory broker).

        The log end is the high watermark of a fetch response: the embedded broker answers
        ListOffsets(latest) with the base offset of its last batch, not the end of the log.
        """
        consumer = self._consumer
        for tp in list(self._unverified):
            if tp not in self.assigned:
                self._unverified.discard(tp)
                continue
            high = consumer.highwater(tp)
            if high is None:
                continue  # no fetch answered yet for this partition
            self._unverified.discard(tp)
            key = (tp.topic, tp.partition)
            offset = self.positions.get(key)
            if offset is not None and offset > high:
                first = consumer.beginning_offsets([tp]).get(tp, 0)
                log.warning("stored offset %d of %s[%d] is beyond the end of the log (%d): the broker lost "
                            "its log (restarted); reading the partition from the beginning (%d)",
                            offset, tp.topic, tp.partition, high, first)
                consumer.seek(tp, first)
                self.positions[key] = first
                polled = {k: v for k, v in polled.items() if k != tp}
        return polled

    # -- the loop ------------------------------------------------------------------------------

    def run(self, *, once: bool = False, max_seconds: float | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> RunStats:
        """Consume until stopped, `max_seconds` passed, or (with `once`) every partition is read to its end."""
        if self._consumer is None:
            self.connect()
        started = time.monotonic()
        try:
            while not should_stop():
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    break
                polled = self._consumer.poll(timeout_ms=200, max_records=self.batch_size)
                if self._unverified:
                    polled = self._verify_assigned(polled)
                records = [r for recs in polled.values() for r in recs]
                if records:
                    if self.stats.first_batch_s is None:
                        self.stats.first_batch_s = time.monotonic() - started
                    self.process(records)
                    continue
                if once and not self._buffer and self._caught_up():
                    break
                self._idle()
        finally:
            self.stats.seconds = time.monotonic() - started
        return self.stats

    def _caught_up(self) -> bool:
        if not self.assigned or self._unverified:
            return False
        for tp in self.assigned:
            high = self._consumer.highwater(tp)
            if high is None or self._consumer.position(tp) < high:
                return False
        return True

    def _idle(self) -> None:
        if self._buffer:
            self._drain_buffer()
            return
        engine = self.engine
        idle = time.monotonic() - self._last_event_wall
        if engine.watermark and idle >= _IDLE_TICK_S:
            # Nothing arrives: let event time advance with the wall clock so silence is detected.
            engine.tick(engine.watermark + int(idle * 1000))
        self._merge_external()
        out = engine.outbox
        if out.records or out.new_alerts or out.changed_alerts or out.resolutions or out.transitions:
            self._commit({}, [])

    def process(self, records: list) -> None:
        """Take one poll's records: decode them into the merge buffer, then apply and commit what is ready."""
        values = [r.value if r.value is not None else b"" for r in records]
        oks, errs = self.validator.decode_batch(values)
        bad = dict(errs)
        positions = self.positions
        part_ts = self._partition_ts
        buffer = self._buffer
        prefix = len(self.namespace) + 1
        order = self._order
        ok = iter(oks)
        for i, rec in enumerate(records):
            key = (rec.topic, rec.partition)
            positions[key] = rec.offset + 1
            order += 1
            if i in bad:
                reason = bad[i] if rec.value is not None else "empty message (no value)"
                buffer.append((part_ts.get(key, 0), order, None, reason, rec))
                continue
            event = next(ok)
            feed = rec.topic[prefix:]
            if type(event) not in _TYPES_OF_FEED.get(feed, ()):
                reason = f"event kind {event.kind!r} does not belong on topic {rec.topic}"
                buffer.append((part_ts.get(key, 0), order, None, reason, rec))
                continue
            ts = event.ts
            if ts > part_ts.get(key, 0):
                part_ts[key] = ts
            buffer.append((ts, order, event, feed, rec))
        self._order = order
        self.stats.events += len(records)
        self._drain_buffer()

    def _horizon(self) -> float:
        """Event time up to which no earlier event can still arrive: the slowest partition with a backlog."""
        consumer = self._consumer
        horizon = math.inf
        if consumer is None:
            return horizon
        for tp in self.assigned:
            key = (tp.topic, tp.partition)
            high = consumer.highwater(tp)
            if high is None or self.positions.get(key, 0) < high:  # unknown: it may hold older events
                horizon = min(horizon, self._partition_ts.get(key, -1))
        return horizon

    def _drain_buffer(self, *, force: bool = False) -> None:
        """Apply buffered events in event-time order up to the horizon; commit them with their offsets.

        A backlog arrives partition by partition; applying events in one time order across
        partitions is what topology, fusion and timers assume, and it makes the outcome
        independent of how polls happened to cut the stream (a restarted run equals a clean one).
        """
        buffer = self._buffer
        if not buffer:
            return
        buffer.sort(key=_buffer_key)
        horizon = math.inf if force else self._horizon()
        n = bisect.bisect_right(buffer, horizon, key=_buffer_ts)
        if len(buffer) - n > _MAX_BUFFER:
            n = len(buffer) - _MAX_BUFFER  # a partition that never catches up must not stall the rest
        if n == 0:
            return
        ready, self._buffer = buffer[:n], buffer[n:]
        engine = self.engine
        health = self.health
        dead: list[tuple] = []
        for ts, _, event, feed, rec in ready:
            if event is None:
                dead.append((rec, feed))
                continue
            if not self._watching:
                engine.watch_inventory(ts)
                self._watching = True
            try:
                engine.apply(event, feed)
            except Exception as exc:  # a bug on one event must not stop the room
                log.exception("event %s of %s[%d]@%d failed", event.kind, rec.topic, rec.partition, rec.offset)
                dead.append((rec, f"processing error: {exc!r}"))
                continue
            h = health.get(rec.topic)
            if h is not None:
                h.events += 1
                h.window_events += 1
                if h.last_event_ts is None or ts > h.last_event_ts:
                    h.last_event_ts = ts
        self._last_event_wall = time.monotonic()
        offsets = dict(self.positions)
        for _, _, _, _, rec in self._buffer:
            key = (rec.topic, rec.partition)
            if rec.offset < offsets.get(key, rec.offset + 1):
                offsets[key] = rec.offset
        self._merge_external()
        self._commit(offsets, dead)

    def _merge_external(self) -> None:
        now = time.monotonic()
        if now - self._last_merge < _MERGE_EVERY_S:
            return
        self._last_merge = now
        rows = self.store.alerts_changed_since(self._alert_seq)
        if rows:
            self.engine.merge_external([r for r in rows if r["id"] in self.engine.by_id])
            self._alert_seq = max(self._alert_seq, max(r["seq"] for r in rows))
            self._publish_pending = True

    def _send_dead_letters(self, dead: list[tuple]) -> None:
        for rec, reason in dead:
            payload = deadletter_record(rec.topic, rec.partition, rec.offset, rec.key, rec.value, reason,
                                        rec.timestamp)
            self._producer.send_raw(self.deadletter_topic, payload, key=rec.key,
                                    headers=[("reason", reason[:500].encode()), ("topic", rec.topic.encode())])
            h = self.health.get(rec.topic)
            if h is not None:
                h.dead_letters += 1
        # Dead letters are on the broker before the offsets that skip them are committed.
        self._producer.flush()
        self.stats.dead_letters += len(dead)

    def _health_rows(self) -> list[dict]:
        consumer = self._consumer
        lag: dict[str, int] = {}
        if consumer is not None:
            for tp in self.assigned:
                high = consumer.highwater(tp)
                if high is not None:
                    pos = self.positions.get((tp.topic, tp.partition), 0)
                    lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - pos)
        now = time.monotonic()
        rows = []
        for topic, h in self.health.items():
            span = now - h.window_start
            if span >= 1.0:
                h.rate = h.window_events / span
                h.window_events, h.window_start = 0, now
            rows.append({"topic": topic, "events": h.events, "rate": round(h.rate, 2), "lag": lag.get(topic, 0),
                         "last_event_ts": h.last_event_ts, "dead_letters": h.dead_letters})
        return rows

    def _commit(self, offsets: dict, dead: list[tuple]) -> None:
        if dead:
            self._send_dead_letters(dead)
        out = self.engine.drain()
        batch = BatchWrite(
            group_id=self.group_id, offsets=offsets, asset_rows=out.asset_rows(),
            intervals=list(out.intervals.values()), new_alerts=out.alert_inserts(),
            alert_updates=out.alert_updates(), transitions=out.transitions, resolutions=out.resolutions,
            energy=out.energy_rows(), health=self._health_rows() if offsets else [],
            reports=list(out.reports.values()), published_seq=self._published_seq,
        )
        self.store.apply_batch(batch)
        self.stats.batches += 1
        if out.transitions or out.resolutions or self._publish_pending:
            self._publish_pending = False
            self._publish()

    def _publish(self) -> None:
        rows = self.store.transitions_since(self._published_seq)
        if not rows:
            return
        for row in rows:
            try:
                event = AlertTransition(
                    asset_id=row["asset_id"], ts=row["ts"], alert_id=str(row["alert_id"]), rule=row["rule"],
                    state=row["to_state"], severity=row["severity"], domain=row["domain"], title=row["title"][:200],
                    priority=row["priority"], due_ts=row["due_ts"], actor=row["actor"],
                    parent_id=str(row["parent_id"]) if row["parent_id"] is not None else None,
                    lat=row["lat"], lon=row["lon"])
            except (ValueError, TypeError) as exc:
                log.warning("alert transition %s not publishable: %s", row["id"], exc)
                continue
            self._producer.send(event)
        self._producer.flush()
        self._published_seq = max(r["seq"] for r in rows)
        self.stats.published += len(rows)

    def close(self) -> None:
        """Close the Kafka clients (the store's engine stays for the process)."""
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            finally:
                self._consumer = None
        if self._producer is not None:
            self._producer.close()
            self._producer = None
