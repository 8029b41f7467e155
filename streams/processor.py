"""The stream processor: source topics of a namespace in, live state, alerts, energy and health out.

One consumer group reads the namespace's source topics in batches. Each batch is decoded
(bad events go to the dead-letter topic with the reason and the original bytes), applied to
the in-memory alert engine, and written to the store in ONE transaction together with the
next offset of every partition it read: at once when caught up with the logs, behind them
every `Settings.commit_interval_s` (several batches in one transaction, written by a writer
thread while the next batches are applied). On start the processor seeks each assigned
partition to the offset the store holds, not to the group's committed offset, so a crash at
any point neither loses nor double-counts an event. Alert transitions are published to
`<namespace>.alerts.events` after the commit (at least once).
"""

from __future__ import annotations

import base64
import bisect
import gc
import logging
import math
import operator
import os
import queue
import signal
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import orjson
from kafka import ConsumerRebalanceListener, TopicPartition

from .broker import die_with_parent
from .config import Settings
from .kafka import BrokerUnavailable, EventProducer, make_consumer, make_producer, partition_key, partition_of
from .privacy import PURGE_EVERY_S, purge_contacts
from .rules import RuleSet, load_rules
from .rules_engine import AlertEngine
from .schemas import EVENT_TYPES, AlertTransition, Validator, encode
from .store import BatchWrite, OffsetConflict, Store, open_store
from .topics import CATALOG, source_topics, topic_name, validate_namespace

__all__ = [
    "CONSUMER_SETTINGS",
    "DEFAULT_BATCH",
    "FetcherProcess",
    "KafkaSource",
    "Processor",
    "RunStats",
    "deadletter_record",
    "group_id_for",
]

log = logging.getLogger(__name__)
DEFAULT_BATCH = 5000
_MERGE_EVERY_S = 1.0
_IDLE_TICK_S = 5.0
_MAX_BUFFER = 200_000
_MAX_HOLD_S = 10.0
_PUBLISH_CHUNK = 10_000
# A backlog is read in polls of `batch_size` records and applied and committed in steps of up to
# this many polls: fewer transactions, timer passes and offset swaps per event. Records already
# fetched wait at most _COALESCE_S for the step to fill.
_COALESCE_POLLS = 4
_COALESCE_S = 0.25
# Caught up with the logs, every applied step is committed at once (the room sees it within a
# poll). Behind them (a backlog, a restart), steps are committed together once the oldest of them
# waited `Settings.commit_interval_s` (3 s), or after _COMMIT_MAX_EVENTS: an asset reporting several
# times in that span is written once, and a transaction's fixed costs are paid once. The offsets
# always travel with the changes they caused, so exactly-once holds either way.
_COMMIT_MAX_EVENTS = 200_000
# Polls the fetcher process may hold ready ahead of the processor: enough to keep reading through a
# commit of a second's worth of steps.
_READ_AHEAD = 8
# Fetches of 256 KB per partition keep the partitions of a backlog advancing together (a poll
# holds several partitions' events), so the event-time horizon moves on steadily. The
# benchmark's ceiling consumer uses the same settings.
CONSUMER_SETTINGS = {"max_partition_fetch_bytes": 256 * 1024}
_PARTITIONS = max(spec.partitions for spec in CATALOG if spec.source)  # the catalog gives every source topic 3
_TYPES_OF_FEED = {spec.suffix: frozenset(t for t in EVENT_TYPES if t.__struct_config__.tag in spec.events)
                  for spec in CATALOG}


_buffer_key = operator.itemgetter(0)  # a stable sort: equal times keep their arrival order
# A buffered item is (event time, arrival order, event or None for a dead letter, feed or refusal, record).
_item_event = operator.itemgetter(2)
_item_feed = operator.itemgetter(3)
_item_event_feed = operator.itemgetter(2, 3)


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
    # CPU seconds from the first records to the end of the run: this process's threads, and its fetcher's
    busy_cpu_s: float | None = None
    fetcher_cpu_s: float | None = None


@dataclass
class _TopicHealth:
    events: int = 0
    dead_letters: int = 0
    last_event_ts: int | None = None
    rate: float = 0.0
    window_events: int = 0
    window_start: float = field(default_factory=time.monotonic)
    stored_events: int = 0  # what the store held after this processor's last commit (health rows are increments)
    stored_dead: int = 0


class _Listener(ConsumerRebalanceListener):
    def __init__(self, source: "KafkaSource") -> None:
        self.source = source

    def on_partitions_revoked(self, revoked) -> None:
        """Partitions leave this consumer."""
        self.source.revoked(revoked)

    def on_partitions_assigned(self, assigned) -> None:
        """Partitions join this consumer: seek them to the store's offsets."""
        self.source.seek_assigned(list(assigned))


class KafkaSource:
    """The consumer-group client: records by partition, seeking assigned partitions to the store's offsets.

    A poll gives chunks, one per partition read: `(topic, partition, offsets, keys, values,
    timestamps)`, the last four lists in offset order (columns ship through the fetcher's pipe
    for less than a tuple per record). Every (re)assignment
    is announced (`take_announcements`: partition -> the offset reading restarts from, None for
    the beginning) so the processor drops what it buffered of those partitions.
    """

    def __init__(self, bootstrap: str, topics: list[str], group_id: str, store: Store, *, batch_size: int,
                 overrides: dict | None = None) -> None:
        self.store = store
        self.group_id = group_id
        self.batch_size = batch_size
        self.assigned: set[tuple[str, int]] = set()
        self._unverified: set[TopicPartition] = set()
        self._announce: dict[tuple[str, int], int | None] = {}
        self.consumer = make_consumer(bootstrap, group_id=group_id, max_poll_records=batch_size,
                                      **{**CONSUMER_SETTINGS, **(overrides or {})})
        self.consumer.subscribe(topics, listener=_Listener(self))

    def revoked(self, partitions) -> None:
        """Forget partitions taken away by a rebalance."""
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
            self._unverified.discard(tp)

    def seek_assigned(self, partitions: list[TopicPartition]) -> None:
        """Seek newly assigned partitions to the stored offsets (the store, not the group, is the truth).

        Runs inside the consumer's IO callback, where only local calls are allowed: the check
        against the partition's actual range waits for the next poll's answers.
        """
        stored = self.store.load_offsets(self.group_id)
        for tp in partitions:
            key = (tp.topic, tp.partition)
            offset = stored.get(key)
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
            self._announce[key] = offset
            self.assigned.add(key)
            self._unverified.add(tp)
        log.info("assigned %d partitions", len(partitions))

    def _verify(self, polled: dict) -> dict:
        """Reset partitions whose stored offset lies beyond the broker's log (a restarted in-memory broker).

        The log end is the high watermark of a fetch answer: the embedded broker answers
        ListOffsets(latest) with the base offset of its last batch, not the end of the log.
        """
        consumer = self.consumer
        for tp in list(self._unverified):
            high = consumer.highwater(tp)
            if high is None:
                continue  # no fetch answered yet for this partition
            self._unverified.discard(tp)
            key = (tp.topic, tp.partition)
            offset = self._announce.get(key)
            if offset is None:
                offset = self.store.load_offsets(self.group_id).get(key)
            if offset is not None and offset > high:
                first = consumer.beginning_offsets([tp]).get(tp, 0)
                log.warning("stored offset %d of %s[%d] is beyond the end of the log (%d): the broker lost "
                            "its log (restarted); reading the partition from the beginning (%d)",
                            offset, tp.topic, tp.partition, high, first)
                consumer.seek(tp, first)
                try:  # the store follows the log, so the processor's compare-and-set of offsets holds
                    self.store.apply_batch(BatchWrite(group_id=self.group_id, offsets={key: first},
                                                      expected_offsets={key: offset}))
                except OffsetConflict:
                    log.warning("the stored offset of %s[%d] moved meanwhile", tp.topic, tp.partition)
                self._announce[key] = first
                polled = {k: v for k, v in polled.items() if k != tp}
        return polled

    def poll(self, timeout_ms: int) -> list[tuple]:
        """The next records, as one chunk per partition."""
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=self.batch_size)
        if self._unverified:
            polled = self._verify(polled)
        return [(tp.topic, tp.partition, [r.offset for r in recs], [r.key for r in recs], [r.value for r in recs],
                 [r.timestamp for r in recs]) for tp, recs in polled.items() if recs]

    def take_announcements(self) -> dict[tuple[str, int], int | None]:
        """Partitions (re)assigned since the last call, with the offset reading restarts from."""
        out, self._announce = self._announce, {}
        return out

    def highwaters(self) -> dict[tuple[str, int], int | None]:
        """The last known end of every assigned partition (None before its first fetch answer)."""
        consumer = self.consumer
        return {(tp.topic, tp.partition): consumer.highwater(tp) for tp in consumer.assignment()}

    @property
    def verified(self) -> bool:
        """True once every assigned partition's stored offset was checked against its log."""
        return not self._unverified

    def pause(self, paused: bool) -> None:
        """Stop (or resume) fetching while staying in the group."""
        assignment = list(self.consumer.assignment())
        if paused:
            self.consumer.pause(*assignment)
        else:
            self.consumer.resume(*assignment)

    def close(self) -> None:
        """Leave the group and close the consumer."""
        self.consumer.close(autocommit=False)


def _fetcher_main(conn, bootstrap: str, topics: list[str], group_id: str, store_url: str, schema: str | None,
                  batch_size: int, overrides: dict, parent_pid: int) -> None:
    """The fetcher process: poll Kafka, ship record tuples and partition status to the processor."""
    die_with_parent(signal.SIGKILL)  # the fetcher never outlives its processor
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if os.getppid() != parent_pid:
        return
    outbox: queue.Queue = queue.Queue(maxsize=_READ_AHEAD)
    failed: list[BaseException] = []

    def send() -> None:
        try:
            while True:
                item = outbox.get()
                conn.send(item)
                if item is None:
                    return
        except (OSError, EOFError) as exc:
            failed.append(exc)

    sender = threading.Thread(target=send, name="vigie-fetch-sender", daemon=True)
    sender.start()
    source = None
    try:
        source = KafkaSource(bootstrap, topics, group_id, Store.from_url(store_url, schema=schema,
                                                                         migrate_schema=False),
                             batch_size=batch_size, overrides=overrides)
        paused = False
        while not failed:
            if conn.poll():
                if conn.recv() == "stop":
                    break
            full = outbox.full()
            if full != paused:
                source.pause(full)  # the processor is busy: stay in the group without fetching more
                paused = full
            records = source.poll(200)
            if paused and not records and outbox.full():
                continue
            outbox.put((records, source.take_announcements(), source.highwaters(), source.verified))
    except Exception as exc:  # reported to the processor, which raises it
        outbox.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        outbox.put(None)
        sender.join(timeout=10)
        if source is not None:
            try:
                source.close()
            except Exception:
                pass


class FetcherProcess:
    """A KafkaSource run in a child process, so decoding Kafka's wire format overlaps with processing.

    The child is started with the `spawn` method (no fork of a process with threads and open
    connections), which re-imports the program's main module: a script using it needs the usual
    `if __name__ == "__main__":` guard (`vigie` has it). It dies with its parent, even by SIGKILL.
    """

    def __init__(self, bootstrap: str, topics: list[str], group_id: str, store: Store, *, batch_size: int,
                 overrides: dict | None = None) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=True)
        url = store.engine.url.render_as_string(hide_password=False)
        schema = store.schema
        self.process = ctx.Process(
            target=_fetcher_main, name="vigie-fetcher", daemon=True,
            args=(child, bootstrap, topics, group_id, url, schema, batch_size, overrides or {}, os.getpid()))
        self.process.start()
        child.close()
        self.assigned: set[tuple[str, int]] = set()
        self._high: dict[tuple[str, int], int | None] = {}
        self._announce: dict[tuple[str, int], int | None] = {}
        self._verified = False

    def poll(self, timeout_ms: int) -> list[tuple]:
        """The next records the fetcher shipped, as one chunk per partition (see KafkaSource)."""
        if not self._conn.poll(timeout_ms / 1000):
            if not self.process.is_alive():
                raise BrokerUnavailable("the fetcher process died")
            return []
        try:
            item = self._conn.recv()
        except EOFError:
            raise BrokerUnavailable("the fetcher process stopped") from None
        if item is None or item[0] == "error":
            raise BrokerUnavailable(f"the fetcher process failed: {item[1] if item else 'stopped'}")
        records, announce, high, verified = item
        self._announce.update(announce)
        self._high = high
        self.assigned = set(high)
        self._verified = verified
        return records

    def take_announcements(self) -> dict[tuple[str, int], int | None]:
        """Partitions (re)assigned since the last call, with the offset reading restarts from."""
        out, self._announce = self._announce, {}
        return out

    def highwaters(self) -> dict[tuple[str, int], int | None]:
        """The last known end of every assigned partition."""
        return self._high

    def cpu_s(self) -> float | None:
        """CPU seconds the fetcher process has used so far (from /proc: None where there is none)."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    @property
    def verified(self) -> bool:
        """True once every assigned partition's stored offset was checked against its log."""
        return self._verified

    def close(self) -> None:
        """Ask the fetcher to leave the group and exit; kill it if it does not."""
        try:
            self._conn.send("stop")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.is_alive():
                if self._conn.poll(0.1):
                    try:
                        self._conn.recv()
                    except EOFError:
                        break
        except (OSError, EOFError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._conn.close()


class Processor:
    """Runs the alert engine of one namespace over Kafka into the store."""

    def __init__(self, settings: Settings, *, namespace: str | None = None, store: Store | None = None,
                 rules: RuleSet | None = None, batch_size: int = DEFAULT_BATCH, group_id: str | None = None,
                 consumer_overrides: dict | None = None, fetch_process: bool = False,
                 idle_tick_s: float = _IDLE_TICK_S, command_timeout_s: float | None = None) -> None:
        self.settings = settings
        self.namespace = validate_namespace(namespace or settings.namespace)
        self.store = store or open_store(settings, self.namespace)
        self.rules = rules or load_rules()
        self.batch_size = batch_size
        self.group_id = group_id or group_id_for(self.namespace)
        self.topics = source_topics(self.namespace)
        self.deadletter_topic = topic_name(self.namespace, "deadletter", "events")
        self.validator = Validator(max_future_s=settings.max_future_s)
        self.fetch_process = fetch_process
        self.idle_tick_s = idle_tick_s
        self.command_timeout_s = settings.command_timeout_s if command_timeout_s is None else command_timeout_s
        self._last_command_check = 0.0
        self._last_purge = 0.0  # monotonic time of the last retention purge of reporters' contacts
        self._acks_topic = topic_name(self.namespace, "commands", "acks")
        self.source: KafkaSource | FetcherProcess | None = None
        self._partition_ts: dict[tuple[str, int], int] = {}
        self._buffer: list[tuple] = []
        self._order = 0
        self._last_drain = time.monotonic()
        self.positions: dict[tuple[str, int], int] = {}
        self.health: dict[str, _TopicHealth] = {t: _TopicHealth() for t in self.topics}
        self.stats = RunStats()
        self._consumer_overrides = consumer_overrides or {}
        self._producer: EventProducer | None = None
        self._ids = iter(())
        self._alert_seq = 0
        self._published_seq = 0
        self._last_merge = 0.0
        self._last_event_wall = time.monotonic()
        self._watching = False
        self._publish_pending = True
        self._stored: dict[tuple[str, int], int | None] = {}  # offsets this processor believes are stored
        # partitions owned when steps were applied and not yet committed (None: nothing to commit)
        self._pending: set[tuple[str, int]] | None = None
        self._dead: list[tuple] = []  # dead letters of those steps, sent just before their commit
        self._uncommitted = 0  # events applied since the last commit
        self._uncommitted_since = 0.0  # when the oldest of them was applied (set with the first one)
        # Behind the logs, a commit is written by a thread of its own while the next steps are applied:
        # SQLite does the write outside Python's lock. One write in flight at most.
        self._writer: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future, dict, bool] | None = None
        self._warm_seq = 0
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
                h.stored_events, h.stored_dead = h.events, h.dead_letters
                if row["last_event_ts"] is not None:
                    feed_last[topic[len(prefix):]] = row["last_event_ts"]
        engine.warm_start(store.iter_asset_states(), store.active_alerts(), feed_last)
        self._alert_seq = self._warm_seq = store.current_seq()
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
        """Join the consumer group (in this process, or in a fetcher process) and open the producer."""
        kind = FetcherProcess if self.fetch_process else KafkaSource
        self.source = kind(self.settings.kafka_bootstrap, self.topics, self.group_id, self.store,
                           batch_size=self.batch_size, overrides=self._consumer_overrides)
        self._producer = EventProducer(make_producer(self.settings.kafka_bootstrap), self.namespace)

    def _reassigned(self, announce: dict[tuple[str, int], int | None]) -> None:
        """Restart partitions from where the source now reads them; drop what was buffered of them.

        The source sought before this thread's last commits may have landed: a partition restarts
        from the store's offset when that is further on (what is below is skipped as duplicates),
        and the store's offset is what the next commit expects to find (compare-and-set).
        """
        if self._pending is not None:
            self._commit()  # what was applied is stored first (OffsetConflict if another processor took over)
        self._settle()
        stored = self.store.load_offsets(self.group_id)
        for key, offset in announce.items():
            now = stored.get(key)
            self._stored[key] = now
            if now is not None and (offset is None or offset < now):
                offset = now
            if offset is None:
                self.positions.pop(key, None)
            else:
                self.positions[key] = offset
            self._partition_ts.pop(key, None)
        keys = set(announce)
        self._buffer = [item for item in self._buffer if item[4][:2] not in keys]
        if self.stats.batches or self.store.current_seq() != self._warm_seq:
            # Another processor of the group may have written the assets of the partitions this one
            # now owns: take the store's state (as a restart would), keeping the read positions.
            positions = self.positions
            self.engine = self._warm_engine()
            self.positions = positions
            self._watching = False
        self._own()

    def _own(self) -> None:
        """Tell the engine which assets this processor owns (by partition), for its timers."""
        owned = {p for _, p in self.source.highwaters()} if self.source is not None else set()
        n = _PARTITIONS
        if self.source is not None:
            log.info("reading %d partitions (indices %s of %d)", len(self.source.highwaters()), sorted(owned), n)
        if len(owned) >= n:
            self.engine.owns = None
            return
        meta = self.engine.meta

        def owns(asset_id: str) -> bool:
            m = meta.get(asset_id)
            cabinet = m.cabinet_id if m is not None and m.kind == "light" else None
            return partition_of(partition_key(asset_id, cabinet), n) in owned

        self.engine.owns = owns

    # -- the loop ------------------------------------------------------------------------------

    def run(self, *, once: bool = False, max_seconds: float | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> RunStats:
        """Consume until stopped, `max_seconds` passed, or (with `once`) every partition is read to its end."""
        if self.source is None:
            self.connect()
        started = time.monotonic()
        # Live state is hundreds of thousands of long-lived objects: a full collection every few
        # thousand allocations would walk them all. Collect less often; never walk the warm start.
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50_000, 20, 50)
        cpu_at_first = None
        try:
            while not should_stop():
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    break
                records = self._poll(200)
                if records:
                    if self.stats.first_batch_s is None:
                        self.stats.first_batch_s = time.monotonic() - started
                        cpu_at_first = self._cpu_s()
                    self._coalesce(records)
                    continue
                if once and not self._buffer and self._caught_up():
                    break
                self._idle()
            if self._pending is not None:
                self._commit()
            self._settle()
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            self.stats.seconds = time.monotonic() - started
            if cpu_at_first is not None:
                own, fetcher = self._cpu_s()
                self.stats.busy_cpu_s = own - cpu_at_first[0]
                if fetcher is not None and cpu_at_first[1] is not None:
                    self.stats.fetcher_cpu_s = fetcher - cpu_at_first[1]
        return self.stats

    def _cpu_s(self) -> tuple[float, float | None]:
        """CPU seconds used so far by this process and by its fetcher process (None: no fetcher process)."""
        fetcher = getattr(self.source, "cpu_s", None)
        return time.process_time(), fetcher() if fetcher is not None else None

    def _caught_up(self) -> bool:
        source = self.source
        if source is None:
            return True  # records handed in directly (process()): every step is committed
        high = source.highwaters()
        if not high or not source.verified:
            return False
        return all(h is not None and self.positions.get(key, 0) >= h for key, h in high.items())

    def _idle(self) -> None:
        self._settle()
        if self._buffer:
            self._drain_buffer()
            return
        engine = self.engine
        idle = time.monotonic() - self._last_event_wall
        if engine.watermark and idle >= self.idle_tick_s and self._caught_up():
            # Nothing arrives and nothing is left to read: let event time advance with the wall clock so
            # silence is detected. Behind the logs (a slow fetcher, a restart) a pause is not silence:
            # ticking then would open communication-loss alerts the events still to come contradict.
            engine.tick(engine.watermark + int(idle * 1000))
        self._merge_external()
        self._check_commands()
        self._purge_contacts()
        out = engine.outbox
        if (self._pending is not None or out.records or out.new_alerts or out.changed_alerts or out.resolutions
                or out.transitions or out.command_updates):
            self._commit()

    def _purge_contacts(self) -> None:
        """Once an hour, delete the reporters' contacts older than the retention period (audited)."""
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        deleted = purge_contacts(self.store.engine, self.settings.contact_retention_days)
        if deleted:
            log.info("deleted %d reporters' contacts older than %g days", deleted, self.settings.contact_retention_days)

    def _coalesce(self, records: list) -> None:
        """Buffer this poll's records and those already fetched behind them (a step), then apply and commit."""
        n = self._take(records)
        limit = self.batch_size * _COALESCE_POLLS
        deadline = time.monotonic() + _COALESCE_S
        while n < limit and time.monotonic() < deadline:
            records = self._poll(0)
            if not records:
                break
            n += self._take(records)
        self._drain_buffer()

    def _poll(self, timeout_ms: int) -> list:
        """The source's next records, after handling the partitions it (re)assigned meanwhile."""
        records = self.source.poll(timeout_ms)
        announce = self.source.take_announcements()
        if announce:
            self._reassigned(announce)
        return records

    def process(self, records: list) -> None:
        """Take records `(topic, partition, offset, key, value, timestamp)` into the merge buffer, then apply
        and commit what is ready."""
        chunks: dict[tuple[str, int], tuple] = {}
        for topic, partition, offset, key, value, timestamp in records:
            chunk = chunks.get((topic, partition))
            if chunk is None:
                chunk = chunks[(topic, partition)] = (topic, partition, [], [], [], [])
            for column, item in zip(chunk[2:], (offset, key, value, timestamp)):
                column.append(item)
        self._take(list(chunks.values()))
        self._drain_buffer()

    def _take(self, chunks: list) -> int:
        """Decode polled records into the merge buffer (bad ones as dead letters); return how many came.

        `chunks` are a poll's records by partition (see KafkaSource). Records below a partition's
        read position are skipped: duplicates after a reassignment. A buffered event carries
        `(topic, partition, offset)`; a dead letter the whole record, for the dead-letter topic.
        """
        if not self._buffer:
            self._last_drain = time.monotonic()
        positions = self.positions
        part_ts = self._partition_ts
        buffer = self._buffer
        append = buffer.append
        decode_many = self.validator.decode_many
        order = self._order
        prefix = len(self.namespace) + 1
        n = 0
        for topic, partition, offsets, keys, values, stamps in chunks:
            n += len(offsets)
            key = (topic, partition)
            start = bisect.bisect_left(offsets, positions.get(key, 0))
            if start == len(offsets):
                continue
            if start:
                offsets, keys, values, stamps = offsets[start:], keys[start:], values[start:], stamps[start:]
            positions[key] = offsets[-1] + 1
            feed = topic[prefix:]
            types = _TYPES_OF_FEED.get(feed, ())
            latest = part_ts.get(key, 0)
            for i, event in enumerate(decode_many(values)):
                order += 1
                if type(event) in types:
                    ts = event.ts
                    if ts > latest:
                        latest = ts
                    append((ts, order, event, feed, (topic, partition, offsets[i])))
                    continue
                reason = event if type(event) is str else f"event kind {event.kind!r} does not belong on topic {topic}"
                append((latest, order, None, reason, (topic, partition, offsets[i], keys[i], values[i], stamps[i])))
            if latest:
                part_ts[key] = latest
        self._order = order
        self.stats.events += n
        return n

    def _horizon(self) -> float:
        """Event time up to which no earlier event can still arrive: the slowest partition with a backlog."""
        horizon = math.inf
        if self.source is None:
            return horizon
        for key, high in self.source.highwaters().items():
            if high is None or self.positions.get(key, 0) < high:  # unknown: it may hold older events
                horizon = min(horizon, self._partition_ts.get(key, -1))
        return horizon

    def _drain_buffer(self, *, force: bool = False) -> None:
        """Apply buffered events in event-time order up to the horizon; commit them with their offsets.

        A backlog arrives partition by partition; applying events in one time order across
        partitions is what topology, fusion and timers assume, and it makes the outcome
        independent of how polls happened to cut the stream (a restarted run equals a clean one).
        """
        if self._in_flight is not None and self._in_flight[0].done():
            self._settle()  # the write behind finished: publish what it committed
        buffer = self._buffer
        if not buffer:
            if force and self._pending is not None:
                self._commit()
            return
        buffer.sort(key=_buffer_key)
        horizon = math.inf if force else self._horizon()
        n = bisect.bisect_right(buffer, horizon, key=_buffer_ts)
        if len(buffer) - n > _MAX_BUFFER:
            n = len(buffer) - _MAX_BUFFER  # a partition that never catches up must not stall the rest
        now = time.monotonic()
        if n < len(buffer) and now - self._last_drain > _MAX_HOLD_S:
            n = len(buffer)  # nor hold live events back for long
        if n == 0:
            return
        self._last_drain = now
        ready, self._buffer = buffer[:n], buffer[n:]
        dead: list[tuple] = []
        good = ready
        if None in map(_item_event, ready):  # dead letters among them (rare): set them aside
            good = []
            for item in ready:
                if item[2] is None:
                    dead.append((item[4], item[3]))
                else:
                    good.append(item)
        if not self._watching and good:
            self.engine.watch_inventory(good[0][0])  # from the first valid event's time, not a dead letter's
            self._watching = True
        applied = Counter(map(_item_feed, good))
        for i, exc in self.engine.apply_many(map(_item_event_feed, good)):  # one bad event does not stop the room
            _, _, event, feed, rec = good[i]
            log.error("event %s of %s[%d]@%d failed", event.kind, rec[0], rec[1], rec[2], exc_info=exc)
            # the buffer kept the decoded event only: the dead letter carries it encoded again
            whole = (*rec[:3], event.asset_id.encode(), encode(event), None)
            dead.append((whole, f"processing error: {exc!r}"))
            applied[feed] -= 1
        feed_last, prefix = self.engine.feed_last, self.namespace + "."
        for feed, n in applied.items():
            h = self.health.get(prefix + feed)
            if h is not None and n:
                h.events += n
                h.window_events += n
                ts = feed_last.get(feed)
                if ts is not None and (h.last_event_ts is None or ts > h.last_event_ts):
                    h.last_event_ts = ts
        self._last_event_wall = time.monotonic()
        owned = self.source.highwaters() if self.source is not None else self.positions
        self._merge_external()
        self._pending = (self._pending or set()) | owned.keys()
        self._dead.extend(dead)
        if not self._uncommitted:
            self._uncommitted_since = now  # the interval runs from the oldest change not yet committed
        self._uncommitted += len(ready)
        if force or self._caught_up():
            self._commit()
        elif (self._uncommitted >= _COMMIT_MAX_EVENTS
              or now - self._uncommitted_since >= self.settings.commit_interval_s):
            self._commit(behind=True)

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

    def _check_commands(self) -> None:
        """Time out the commands no equipment acknowledged in time (wall clock: the sender's clock)."""
        now = time.monotonic()
        if now - self._last_command_check < _MERGE_EVERY_S:
            return
        self._last_command_check = now
        assigned = getattr(self.source, "assigned", None)
        if assigned is not None and (self._acks_topic, 0) not in assigned:
            return  # several processors: the owner of the acks topic's first partition times commands out
        timeout_s = self.command_timeout_s
        late = self.store.unacknowledged_commands(int(time.time() * 1000) - int(timeout_s * 1000))
        if late:
            self.engine.command_timeouts(late, timeout_s)

    def _send_dead_letters(self, dead: list[tuple]) -> None:
        for (topic, partition, offset, key, value, timestamp), reason in dead:
            payload = deadletter_record(topic, partition, offset, key, value, reason, timestamp)
            self._producer.send_raw(self.deadletter_topic, payload, key=key,
                                    headers=[("reason", reason[:500].encode()), ("topic", topic.encode())])
            h = self.health.get(topic)
            if h is not None:
                h.dead_letters += 1
        # Dead letters are on the broker before the offsets that skip them are committed.
        self._producer.flush()
        self.stats.dead_letters += len(dead)

    def _health_rows(self) -> list[dict]:
        lag: dict[str, int] = {}
        if self.source is not None:
            for (topic, partition), high in self.source.highwaters().items():
                if high is not None:
                    pos = self.positions.get((topic, partition), 0)
                    lag[topic] = lag.get(topic, 0) + max(0, high - pos)
        now = time.monotonic()
        rows = []
        for topic, h in self.health.items():
            span = now - h.window_start
            if span >= 1.0:
                h.rate = h.window_events / span
                h.window_events, h.window_start = 0, now
            rows.append({"topic": topic, "events": h.events - h.stored_events, "rate": round(h.rate, 2),
                         "lag": lag.get(topic, 0), "last_event_ts": h.last_event_ts,
                         "dead_letters": h.dead_letters - h.stored_dead})
        return rows

    def _commit(self, *, behind: bool = False) -> None:
        """Write what the engine changed, with the offsets of the steps applied since the last commit.

        `behind`: the write runs in the writer thread while the processor goes on (`_settle` waits
        for it); otherwise it is done when this returns.
        """
        self._settle()
        offsets, dead = self._offsets(), self._dead
        self._pending, self._dead, self._uncommitted = None, [], 0
        if dead:
            self._send_dead_letters(dead)
        self._check_commands()
        out = self.engine.drain()
        batch = BatchWrite(
            group_id=self.group_id, offsets=offsets, asset_rows=out.asset_rows(),
            intervals=list(out.intervals.values()), new_alerts=out.alert_inserts(),
            alert_updates=out.alert_updates(), transitions=out.transitions, resolutions=out.resolutions,
            energy=out.energy_rows(), health=self._health_rows() if offsets else [],
            reports=list(out.reports.values()), contacts=list(out.contacts.values()),
            command_updates=out.command_updates,
            published_seq=self._published_seq, health_deltas=True,
            expected_offsets={k: self._stored.get(k) for k in offsets} if self.source is not None else None,
        )
        if batch.health:
            for h in self.health.values():
                h.stored_events, h.stored_dead = h.events, h.dead_letters
        self.stats.batches += 1
        publish = bool(out.transitions or out.resolutions or self._publish_pending)
        self._publish_pending = False
        if behind:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="vigie-store-writer")
            self._in_flight = (self._writer.submit(self.store.apply_batch, batch), offsets, publish)
            return
        self.store.apply_batch(batch)  # OffsetConflict: another processor owns a partition now (fenced)
        self._written(offsets, publish)

    def _offsets(self) -> dict[tuple[str, int], int]:
        """Where each partition of the applied steps resumes: its read position, or its first event still
        buffered (read, not applied). Never a partition this processor did not own when it applied."""
        if not self._pending:
            return {}
        positions = self.positions
        offsets = {k: positions[k] for k in self._pending if k in positions}
        for item in self._buffer:
            rec = item[4]
            key = rec[:2]
            if rec[2] < offsets.get(key, rec[2] + 1):
                offsets[key] = rec[2]
        return offsets

    def _settle(self) -> None:
        """Wait for the write in flight, if any; raise what it raised (OffsetConflict: fenced off)."""
        if self._in_flight is None:
            return
        future, offsets, publish = self._in_flight
        self._in_flight = None
        future.result()
        self._written(offsets, publish)

    def _written(self, offsets: dict, publish: bool) -> None:
        self._stored.update(offsets)
        if publish:
            self._publish()

    def _publish(self) -> None:
        """Publish the alert transitions committed since the last published seq (at least once)."""
        while True:
            rows = self.store.transitions_since(self._published_seq, limit=_PUBLISH_CHUNK)
            if not rows:
                return
            full = len(rows) == _PUBLISH_CHUNK
            if full:  # the published cursor is a seq: never stop in the middle of one
                last = rows[-1]["seq"]
                rows = [r for r in rows if r["seq"] != last] or [
                    r for r in self.store.transitions_since(last - 1, limit=None) if r["seq"] == last]
            for row in rows:
                try:
                    event = AlertTransition(
                        asset_id=row["asset_id"], ts=row["ts"], alert_id=str(row["alert_id"]), rule=row["rule"],
                        state=row["to_state"], severity=row["severity"], domain=row["domain"],
                        title=row["title"][:200], priority=row["priority"], due_ts=row["due_ts"], actor=row["actor"],
                        parent_id=str(row["parent_id"]) if row["parent_id"] is not None else None,
                        lat=row["lat"], lon=row["lon"])
                except (ValueError, TypeError) as exc:
                    log.warning("alert transition %s not publishable: %s", row["id"], exc)
                    continue
                self._producer.send(event)
            self._producer.flush()
            self._published_seq = max(r["seq"] for r in rows)
            self.stats.published += len(rows)
            if not full:
                return

    def close(self) -> None:
        """Finish the write in flight, close the Kafka clients (the store's engine stays for the process)."""
        if self._in_flight is not None:
            try:
                self._in_flight[0].result()
            except Exception as exc:  # the run already failed or stopped: what it did not write is read again
                log.warning("the last write did not land: %s", exc)
            self._in_flight = None
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        if self.source is not None:
            try:
                self.source.close()
            finally:
                self.source = None
        if self._producer is not None:
            self._producer.close()
            self._producer = None
