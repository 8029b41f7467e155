"""The data-access API of the operational store, shared by the processor (writes in batches) and the dashboard.

Writers take one transaction per unit of work: the processor's batch (state, alerts, energy,
health AND the consumer offsets, so a crash neither loses nor double-counts an event) or one
operator action (the alert change, its transition and its audit row). Each transaction takes
the next value of the global `seq` counter and stamps it on every row it changes; the counter
row stays locked until commit, so commits are ordered by seq and `changes_since(n)` never
misses a change.
"""

from __future__ import annotations

import operator
import time
from itertools import chain
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import orjson

from sqlalchemy import and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateSchema

from .engine import WRITE_OPTION, get_engine, is_sqlite
from .migrations import migrate
from .schema import (
    alert_transitions,
    alerts,
    all_intervals,
    asset_state,
    assets,
    audit_log,
    commands,
    communes,
    consumer_offsets,
    counters,
    energy_hourly,
    interventions,
    report_contacts,
    reports,
    state_intervals,
    stream_health,
)

__all__ = [
    "ACTIVE_STATES",
    "COMMAND_STATUSES",
    "AlertNotFound",
    "BatchWrite",
    "Changes",
    "InvalidTransition",
    "OffsetConflict",
    "Store",
    "open_store",
    "store_location",
]

ACTIVE_STATES = ("open", "acknowledged", "in_progress")
SEVERITY_ORDER = ("critical", "major", "minor", "info")
SYSTEM = "system"
# action -> (states it may start from, state it leads to)
_LIFECYCLE = {
    "acknowledge": (("open",), "acknowledged"),
    "assign": (("open", "acknowledged", "in_progress"), "in_progress"),
    "resolve": (("open", "acknowledged", "in_progress"), "resolved"),
    "close": (("resolved",), "closed"),
}
COMMAND_STATUSES = ("pending", "accepted", "done", "failed", "rejected", "timed_out", "expired")
# ack or timeout status -> the statuses a command may move to it from (a late final ack beats a timeout)
_COMMAND_MOVES = {
    "accepted": ("pending",),
    "timed_out": ("pending",),
    **{final: ("pending", "accepted", "timed_out") for final in ("done", "failed", "rejected", "expired")},
}
_ALERT_OWNED_BY_PROCESSOR = ("count", "last_ts", "severity", "escalated", "flapping", "parent_id", "details")


class AlertNotFound(LookupError):
    """No alert has this id."""


class InvalidTransition(ValueError):
    """The alert's lifecycle does not allow this action from its current state."""


class OffsetConflict(RuntimeError):
    """Another processor moved a partition's stored offset: this one no longer owns it (fenced)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def store_location(settings, namespace: str | None = None) -> tuple[str, str | None]:
    """(URL, PostgreSQL schema) of a namespace's store: the live room's, or a training session's own."""
    namespace = namespace or settings.namespace
    url = settings.store_url
    if namespace == "live":
        return url, None
    if url.startswith("sqlite"):
        return f"sqlite:///{(settings.data_dir / ('vigie-' + namespace + '.db')).resolve()}", None
    return url, "vigie_" + namespace.replace("-", "_")


def open_store(settings, namespace: str | None = None, *, migrate_schema: bool = True) -> "Store":
    """The store of a namespace (settings.namespace by default), migrated to the latest version."""
    url, schema = store_location(settings, namespace)
    return Store.from_url(url, schema=schema, migrate_schema=migrate_schema)


@dataclass
class BatchWrite:
    """Everything one processor batch changes, written in one transaction with its offsets."""

    group_id: str
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    asset_rows: list[dict] = field(default_factory=list)
    intervals: list[dict] = field(default_factory=list)
    new_alerts: list[dict] = field(default_factory=list)
    alert_updates: list[dict] = field(default_factory=list)
    transitions: list[dict] = field(default_factory=list)
    resolutions: list[dict] = field(default_factory=list)
    energy: list[dict] = field(default_factory=list)
    health: list[dict] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)  # report_contacts rows: personal data, apart from reports
    command_updates: list[dict] = field(default_factory=list)
    published_seq: int | None = None
    # partition -> the offset this writer believes is stored (None: no row yet). When given, every
    # partition of `offsets` must still hold it, or the whole batch rolls back (OffsetConflict).
    expected_offsets: dict[tuple[str, int], int | None] | None = None
    # True: health `events` and `dead_letters` are increments (several processors share a topic).
    health_deltas: bool = False

    def empty(self) -> bool:
        """True when the batch changes nothing but (maybe) offsets."""
        return not (self.asset_rows or self.intervals or self.new_alerts or self.alert_updates or self.transitions
                    or self.resolutions or self.energy or self.health or self.reports or self.contacts
                    or self.command_updates)


@dataclass(frozen=True)
class Changes:
    """What changed after a sequence number: asset states and alerts, and the seq to ask from next."""

    seq: int
    assets: list[dict]
    alerts: list[dict]


def write_contacts(conn: Connection, rows: list[dict]) -> None:
    """Store reporters' contacts in the caller's transaction; a newer one for a report replaces the older."""
    if not rows:
        return
    latest = {r["report_id"]: r for r in sorted(rows, key=lambda r: r["received_ts"])}
    conn.execute(delete(report_contacts).where(report_contacts.c.report_id.in_(list(latest))))
    conn.execute(report_contacts.insert(), list(latest.values()))


_ROWS_PER_STATEMENT = 500
# What a new asset-state or state-interval row replaces of the stored one
_STATE_SET = ["kind", "state", "attributes", "faults", "last_changed", "last_updated", "last_seen", "seq"]
_INTERVAL_SET = ["end_ts", "state"]
_MAX_SQLITE_PARAMS = 32_000  # SQLite's limit is 32,766 bound parameters per statement


def _dicts(result) -> list[dict]:
    return [dict(row._mapping) for row in result]


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _encode_json(rows: list[dict], columns: Iterable[str]) -> None:
    """Encode, in place, the JSON columns' values that are not already text."""
    for column in columns:
        for r in rows:
            value = r[column]
            if value is not None and not isinstance(value, str):
                r[column] = _json_text(value)


class _Bulk:
    """A Core statement compiled once for the engine's dialect and run for many rows at once.

    The processor's per-batch upserts touch thousands of rows; skipping SQLAlchemy's
    per-row parameter processing makes them several times cheaper. On SQLite the rows go
    in statements of up to `_ROWS_PER_STATEMENT` rows each (`INSERT ... VALUES (...), (...)`):
    one statement step per few hundred rows instead of one per row, and the driver holds
    Python's lock only to bind them, so a commit run in a writer thread works beside the
    processor's own thread. Elsewhere it is one driver executemany. JSON values may come
    already encoded (str) or as Python objects.
    """

    def __init__(self, stmt, dialect, json_columns: Iterable[str] = ()) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names = list(compiled.positiontup) if compiled.positional else None
        self.json = frozenset(json_columns)
        self._head = self._tail = None
        if self.names is not None:
            getter = operator.itemgetter(*self.names)
            self._get = getter if len(self.names) > 1 else (lambda r: (getter(r),))
            group = "(" + ", ".join("?" * len(self.names)) + ")"
            head, found, tail = self.sql.partition(" VALUES " + group)
            if found and "?" not in head and "?" not in tail:
                self._head, self._group, self._tail = head + " VALUES ", group, tail
                self._chunk = max(1, min(_ROWS_PER_STATEMENT, _MAX_SQLITE_PARAMS // len(self.names)))
                self._full = self._multi_sql(self._chunk)

    def _multi_sql(self, n: int) -> str:
        return self._head + ", ".join([self._group] * n) + self._tail

    def run(self, conn: Connection, rows: list[dict]) -> None:
        """Execute for every row."""
        _encode_json(rows, self.json)
        if self.names is None:
            conn.exec_driver_sql(self.sql, rows)
            return
        params = list(map(self._get, rows))
        if self._tail is None or len(params) < 2:
            conn.exec_driver_sql(self.sql, params)
            return
        k = self._chunk
        for i in range(0, len(params), k):
            chunk = params[i:i + k]
            sql = self._full if len(chunk) == k else self._multi_sql(len(chunk))
            conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))


class _CopyUpsert:
    """PostgreSQL: rows with distinct keys copied into a temporary table, then upserted in one statement.

    psycopg's executemany costs some 10 µs of Python per row even pipelined; COPY about one, and
    the upsert is one set-based statement on the server. The temporary table is the session's own
    and empties at commit, or at rollback with the rest of the transaction.
    """

    def __init__(self, table, keys: list[str], absolute: list[str], json_columns: Iterable[str] = ()) -> None:
        names = [c.name for c in table.columns]
        stage = f"vigie_stage_{table.name}"
        columns = ", ".join(f'"{c}"' for c in names)
        sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in absolute)
        self.create = (f'CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE "{table.name}" INCLUDING DEFAULTS) '
                       "ON COMMIT DELETE ROWS")
        self.copy = f"COPY {stage} ({columns}) FROM STDIN"
        self.upsert = (f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM {stage} '
                       f'ON CONFLICT ({", ".join(keys)}) DO UPDATE SET {sets}')
        self.empty = f"TRUNCATE {stage}"
        self._get = operator.itemgetter(*names)
        self.json = frozenset(json_columns)

    def run(self, conn: Connection, rows: list[dict]) -> None:
        """Upsert every row (keys distinct within `rows`)."""
        _encode_json(rows, self.json)
        with conn.connection.driver_connection.cursor() as cur:
            cur.execute(self.create)
            with cur.copy(self.copy) as copy:
                for row in map(self._get, rows):
                    copy.write_row(row)
            cur.execute(self.upsert)
            cur.execute(self.empty)  # a second batch in the same transaction starts from nothing


class Store:
    """Reads and writes of the operational store over one engine."""

    def __init__(self, engine: Engine, *, schema: str | None = None) -> None:
        self.engine = engine
        self.schema = schema
        self._dialect = sqlite if is_sqlite(engine) else postgresql
        self._build_statements()

    @classmethod
    def from_url(cls, url: str, *, schema: str | None = None, migrate_schema: bool = True) -> "Store":
        """A store on a URL (the process-wide engine), migrated unless told not to."""
        engine = get_engine(url, schema=schema)
        if schema and migrate_schema:
            with engine.begin() as conn:
                conn.execute(CreateSchema(schema, if_not_exists=True))
        if migrate_schema:
            migrate(engine)
        return cls(engine, schema=schema)

    # -- connections -------------------------------------------------------------------------

    def _write(self):
        return self.engine.connect().execution_options(**{WRITE_OPTION: True})

    def _next_seq(self, conn: Connection, name: str = "seq", n: int = 1) -> int:
        conn.execute(update(counters).where(counters.c.name == name).values(value=counters.c.value + n))
        return conn.scalar(select(counters.c.value).where(counters.c.name == name))

    def _build_statements(self) -> None:
        ins = self._dialect.insert

        def upsert(table, keys, absolute=(), added=()):
            stmt = ins(table)
            set_ = {c: stmt.excluded[c] for c in absolute}
            set_.update({c: table.c[c] + stmt.excluded[c] for c in added})
            return stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)

        self._up_energy = upsert(energy_hourly, ["cabinet_id", "hour_ts"], added=["kwh", "lamp_kwh", "readings"])
        self._up_health = upsert(stream_health, ["topic"], absolute=[
            "events", "rate", "lag", "last_event_ts", "dead_letters", "updated_ms"])
        self._up_offset = upsert(consumer_offsets, ["group_id", "topic", "partition"],
                                 absolute=["next_offset", "updated_ms"])
        self._up_report = upsert(reports, ["report_id"], absolute=[
            "category", "status", "description", "address", "updated_ts", "alert_id", "fused", "seq"])
        self._up_counter = upsert(counters, ["name"], absolute=["value"])
        self._up_asset = upsert(assets, ["asset_id"], absolute=[
            "kind", "commune_code", "name", "lon", "lat", "cabinet_id", "period_s", "attributes"])
        self._up_commune = upsert(communes, ["code"], absolute=[
            "name", "population", "approximate", "lat", "lon", "geometry"])
        dialect = self.engine.dialect
        self._bulk_state: _Bulk | _CopyUpsert
        self._bulk_interval: _Bulk | _CopyUpsert
        if self._dialect is postgresql:  # one row per key in a batch: the engine's outbox is keyed so
            self._bulk_state = _CopyUpsert(asset_state, ["asset_id"], _STATE_SET, ("attributes", "faults"))
            self._bulk_interval = _CopyUpsert(state_intervals, ["asset_id", "start_ts"], _INTERVAL_SET)
        else:
            self._bulk_state = _Bulk(upsert(asset_state, ["asset_id"], absolute=_STATE_SET), dialect,
                                     ("attributes", "faults"))
            self._bulk_interval = _Bulk(upsert(state_intervals, ["asset_id", "start_ts"], absolute=_INTERVAL_SET),
                                        dialect)
        self._bulk_energy = _Bulk(self._up_energy, dialect)
        self._bulk_health = _Bulk(self._up_health, dialect)
        self._bulk_health_add = _Bulk(upsert(stream_health, ["topic"], absolute=[
            "rate", "lag", "last_event_ts", "updated_ms"], added=["events", "dead_letters"]), dialect)
        self._bulk_offset = _Bulk(self._up_offset, dialect)
        self._alert_update = (
            update(alerts).where(alerts.c.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in _ALERT_OWNED_BY_PROCESSOR + ("seq",)})
        )

    # -- inventory -----------------------------------------------------------------------------

    def upsert_communes(self, rows: Iterable[dict]) -> int:
        """Insert or replace communes (code, name, population, approximate, lat, lon, geometry GeoJSON)."""
        rows = [dict(r) for r in rows]
        if rows:
            with self._write() as conn, conn.begin():
                conn.execute(self._up_commune, rows)
        return len(rows)

    def upsert_assets(self, rows: Iterable[dict]) -> int:
        """Insert or replace inventory assets (asset_id, kind, commune, name, lon, lat, cabinet, period, attributes)."""
        rows = [dict(r) for r in rows]
        with self._write() as conn, conn.begin():
            for start in range(0, len(rows), 5000):
                conn.execute(self._up_asset, rows[start:start + 5000])
        return len(rows)

    def inventory(self, kind: str | None = None) -> list[dict]:
        """Inventory assets, optionally of one kind."""
        stmt = select(assets)
        if kind:
            stmt = stmt.where(assets.c.kind == kind)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(assets.c.asset_id)))

    def communes(self) -> list[dict]:
        """Communes of the inventory."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(communes).order_by(communes.c.code)))

    def count_assets(self) -> int:
        """Number of inventory assets."""
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(assets))

    # -- the processor's side -------------------------------------------------------------------

    def load_offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        """Next offset to read per (topic, partition), as last committed with a batch."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(consumer_offsets).where(consumer_offsets.c.group_id == group_id))
            return {(r.topic, r.partition): r.next_offset for r in rows}

    def iter_asset_states(self) -> Iterator[dict]:
        """Every asset's stored state (the processor's warm start)."""
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=5000).execute(select(asset_state)):
                yield dict(row._mapping)

    def active_alerts(self) -> list[dict]:
        """Alerts not resolved or closed, children included (the processor's warm start)."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(alerts).where(alerts.c.state.in_(ACTIVE_STATES)).order_by(alerts.c.id)))

    def alerts_changed_since(self, seq: int) -> list[dict]:
        """Alerts changed by anyone in a transaction after seq."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(alerts).where(alerts.c.seq > seq).order_by(alerts.c.id)))

    def stream_health(self) -> list[dict]:
        """Health of every consumed topic: events, rate, lag, age of the last event, dead letters."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(stream_health).order_by(stream_health.c.topic)))

    def counter(self, name: str) -> int:
        """Current value of a counter (`seq`, `alert_id`, `published_seq`), 0 if unset."""
        with self.engine.connect() as conn:
            return conn.scalar(select(counters.c.value).where(counters.c.name == name)) or 0

    def reserve_alert_ids(self, n: int = 1000) -> range:
        """Reserve a block of alert ids in a short transaction of its own (gaps after a crash are harmless)."""
        with self._write() as conn, conn.begin():
            top = self._next_seq(conn, "alert_id", n)
        return range(top - n + 1, top + 1)

    def apply_batch(self, batch: BatchWrite) -> int:
        """Write a processor batch and its offsets in one transaction; return the batch's seq."""
        now = _now_ms()
        with self._write() as conn, conn.begin():
            seq = self._next_seq(conn) if not batch.empty() else self.counter_in(conn, "seq")
            if batch.asset_rows:
                for row in batch.asset_rows:
                    row["seq"] = seq
                self._bulk_state.run(conn, batch.asset_rows)
            if batch.intervals:
                self._bulk_interval.run(conn, batch.intervals)
            if batch.new_alerts:
                for row in batch.new_alerts:
                    row["seq"] = seq
                conn.execute(alerts.insert(), batch.new_alerts)
            if batch.alert_updates:
                rows = [{"b_id": r["id"], "seq": seq, **{c: r[c] for c in _ALERT_OWNED_BY_PROCESSOR}}
                        for r in batch.alert_updates]
                conn.execute(self._alert_update, rows)
            if batch.transitions:
                self._record_transitions(conn, batch.transitions, seq)
            resolved = []
            for res in batch.resolutions:
                done = conn.execute(
                    update(alerts).where(and_(alerts.c.id == res["id"], alerts.c.state.in_(ACTIVE_STATES)))
                    .values(state="resolved", resolved_ts=res["ts"], resolved_by=res["actor"], seq=seq)
                )
                if done.rowcount == 1:
                    conn.execute(update(interventions).where(and_(
                        interventions.c.alert_id == res["id"], interventions.c.closed_ts.is_(None)))
                        .values(closed_ts=res["ts"]))
                    resolved.append({"alert_id": res["id"], "action": "resolve", "from_state": res["from_state"],
                                     "to_state": "resolved", "severity": res["severity"], "ts": res["ts"],
                                     "actor": res["actor"], "comment": res.get("comment")})
            if resolved:
                self._record_transitions(conn, resolved, seq)
            if batch.energy:
                self._bulk_energy.run(conn, batch.energy)
            if batch.reports:
                for row in batch.reports:
                    row["seq"] = seq
                conn.execute(self._up_report, batch.reports)
            if batch.contacts:
                write_contacts(conn, batch.contacts)
            if batch.command_updates:
                self._update_commands(conn, batch.command_updates, seq)
            if batch.health:
                bulk = self._bulk_health_add if batch.health_deltas else self._bulk_health
                bulk.run(conn, [{**h, "updated_ms": now} for h in batch.health])
            if batch.offsets and batch.expected_offsets is not None:
                self._swap_offsets(conn, batch, now)
            elif batch.offsets:
                self._bulk_offset.run(conn, [
                    {"group_id": batch.group_id, "topic": t, "partition": p, "next_offset": o, "updated_ms": now}
                    for (t, p), o in batch.offsets.items()])
            if batch.published_seq is not None:
                conn.execute(self._up_counter, [{"name": "published_seq", "value": batch.published_seq}])
            return seq

    def _update_commands(self, conn: Connection, rows: list[dict], seq: int) -> None:
        for row in rows:  # in arrival order: 'accepted' then 'done' of one command in one batch
            status = row["status"]
            values = {"status": status, "seq": seq, "ack_ts": row.get("ack_ts")}
            if row.get("applied") is not None:
                values["applied"] = row["applied"]
            if row.get("detail") is not None:
                values["detail"] = row["detail"]
            conn.execute(update(commands).where(and_(
                commands.c.command_id == row["command_id"],
                commands.c.status.in_(_COMMAND_MOVES.get(status, ())))).values(**values))

    def _swap_offsets(self, conn: Connection, batch: BatchWrite, now: int) -> None:
        """Compare-and-set every partition's offset; raise OffsetConflict (rolling back) if one moved."""
        c = consumer_offsets.c
        for (topic, partition), offset in batch.offsets.items():
            expected = batch.expected_offsets.get((topic, partition))
            if expected is None:
                done = conn.execute(self._dialect.insert(consumer_offsets).values(
                    group_id=batch.group_id, topic=topic, partition=partition, next_offset=offset,
                    updated_ms=now).on_conflict_do_nothing().returning(c.next_offset))
            else:
                done = conn.execute(update(consumer_offsets).where(and_(
                    c.group_id == batch.group_id, c.topic == topic, c.partition == partition,
                    c.next_offset == expected)).values(next_offset=offset, updated_ms=now)
                    .returning(c.next_offset))
            if done.first() is None:
                raise OffsetConflict(f"the stored offset of {topic}[{partition}] is no longer {expected}: "
                                     "another processor of the group owns the partition now")

    def counter_in(self, conn: Connection, name: str) -> int:
        """A counter's value read on an open connection."""
        return conn.scalar(select(counters.c.value).where(counters.c.name == name)) or 0

    def _record_transitions(self, conn: Connection, rows: list[dict], seq: int) -> None:
        conn.execute(alert_transitions.insert(), [{"comment": None, **r, "seq": seq} for r in rows])
        conn.execute(audit_log.insert(), [
            {"ts": r["ts"], "actor": r["actor"], "action": "alert." + r["action"], "target": f"alert:{r['alert_id']}",
             "detail": {"from": r.get("from_state"), "to": r["to_state"], "severity": r["severity"],
                        "comment": r.get("comment"), "seq": seq}}
            for r in rows])

    def transitions_since(self, seq: int, limit: int | None = 10000) -> list[dict]:
        """Alert transitions committed after seq, with their alert's fields, oldest first (to publish)."""
        a, t = alerts, alert_transitions
        stmt = (select(t.c.id, t.c.alert_id, t.c.action, t.c.to_state, t.c.severity, t.c.ts, t.c.actor, t.c.seq,
                       a.c.rule, a.c.asset_id, a.c.domain, a.c.title, a.c.priority, a.c.due_ts, a.c.parent_id,
                       a.c.lat, a.c.lon)
                .join(a, a.c.id == t.c.alert_id).where(t.c.seq > seq).order_by(t.c.seq, t.c.id))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt))

    # -- operator actions ----------------------------------------------------------------------

    def _act(self, alert_id: int, action: str, actor: str, comment: str | None, ts: int | None,
             team: str | None = None) -> dict:
        if not actor:
            raise ValueError("an alert action needs an actor")
        sources, target = _LIFECYCLE[action]
        ts = ts if ts is not None else _now_ms()
        with self._write() as conn, conn.begin():
            seq = self._next_seq(conn)
            stmt = select(alerts).where(alerts.c.id == alert_id)
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update()
            row = conn.execute(stmt).first()
            if row is None:
                raise AlertNotFound(f"no alert {alert_id}")
            if row.state not in sources:
                raise InvalidTransition(
                    f"cannot {action} alert {alert_id}: it is {row.state}, "
                    f"and {action} applies to {' or '.join(sources)} alerts")
            values: dict[str, Any] = {"state": target, "seq": seq}
            if action == "acknowledge" or (action == "assign" and row.acknowledged_ts is None):
                values.update(acknowledged_ts=ts, acknowledged_by=actor)
            if action == "assign":
                if not team:
                    raise ValueError("an assignment needs a team")
                values.update(in_progress_ts=ts, assigned_team=team)
                conn.execute(update(interventions).where(and_(
                    interventions.c.alert_id == alert_id, interventions.c.closed_ts.is_(None)))
                    .values(closed_ts=ts, comment=func.coalesce(interventions.c.comment, "reassigned")))
                conn.execute(interventions.insert().values(
                    alert_id=alert_id, team=team, opened_ts=ts, opened_by=actor, comment=comment))
            elif action == "resolve":
                values.update(resolved_ts=ts, resolved_by=actor)
                conn.execute(update(interventions).where(and_(
                    interventions.c.alert_id == alert_id, interventions.c.closed_ts.is_(None))).values(closed_ts=ts))
            elif action == "close":
                values.update(closed_ts=ts, closed_by=actor)
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
            text = comment if team is None else f"team {team}" + (f": {comment}" if comment else "")
            self._record_transitions(conn, [{
                "alert_id": alert_id, "action": action, "from_state": row.state, "to_state": target,
                "severity": row.severity, "ts": ts, "actor": actor, "comment": text}], seq)
            if action == "resolve":
                self._resolve_children(conn, alert_id, actor, ts, seq)
            return dict(conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()._mapping)

    def _resolve_children(self, conn: Connection, parent_id: int, actor: str, ts: int, seq: int) -> None:
        children = conn.execute(select(alerts.c.id, alerts.c.state, alerts.c.severity).where(and_(
            alerts.c.parent_id == parent_id, alerts.c.state.in_(ACTIVE_STATES)))).all()
        if not children:
            return
        conn.execute(update(alerts).where(and_(alerts.c.parent_id == parent_id, alerts.c.state.in_(ACTIVE_STATES)))
                     .values(state="resolved", resolved_ts=ts, resolved_by=actor, seq=seq))
        self._record_transitions(conn, [{
            "alert_id": c.id, "action": "resolve", "from_state": c.state, "to_state": "resolved",
            "severity": c.severity, "ts": ts, "actor": actor, "comment": f"with parent alert {parent_id}"}
            for c in children], seq)

    def acknowledge(self, alert_id: int, actor: str, comment: str | None = None, *, ts: int | None = None) -> dict:
        """Acknowledge an open alert; returns the alert after the change."""
        return self._act(alert_id, "acknowledge", actor, comment, ts)

    def assign(self, alert_id: int, team: str, actor: str, comment: str | None = None, *,
               ts: int | None = None) -> dict:
        """Open an intervention by a team on an alert, which goes in progress."""
        return self._act(alert_id, "assign", actor, comment, ts, team=team)

    def resolve(self, alert_id: int, actor: str, comment: str | None = None, *, ts: int | None = None) -> dict:
        """Mark an alert resolved (its children too) and close its open interventions."""
        return self._act(alert_id, "resolve", actor, comment, ts)

    def close(self, alert_id: int, actor: str, comment: str | None = None, *, ts: int | None = None) -> dict:
        """Close a resolved alert."""
        return self._act(alert_id, "close", actor, comment, ts)

    # -- reads for the dashboard ---------------------------------------------------------------

    def current_seq(self) -> int:
        """The latest committed sequence number."""
        return self.counter("seq")

    def changes_since(self, seq: int) -> Changes:
        """Asset states and alerts changed after seq, and the seq to ask from next time."""
        with self.engine.connect() as conn, conn.begin():
            top = self.counter_in(conn, "seq")
            states = _dicts(conn.execute(
                select(asset_state.c.asset_id, asset_state.c.kind, asset_state.c.state, asset_state.c.faults,
                       asset_state.c.last_changed, asset_state.c.last_seen, asset_state.c.seq)
                .where(and_(asset_state.c.seq > seq, asset_state.c.seq <= top))))
            changed = _dicts(conn.execute(select(alerts).where(and_(alerts.c.seq > seq, alerts.c.seq <= top))
                                          .order_by(alerts.c.id)))
            return Changes(seq=top, assets=states, alerts=changed)

    def asset_states(self, kind: str | None = None, state: str | None = None) -> list[dict]:
        """Current state of assets, optionally filtered by kind and state."""
        stmt = select(asset_state)
        if kind:
            stmt = stmt.where(asset_state.c.kind == kind)
        if state:
            stmt = stmt.where(asset_state.c.state == state)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(asset_state.c.asset_id)))

    def asset_state(self, asset_id: str) -> dict | None:
        """One asset's current state, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(asset_state).where(asset_state.c.asset_id == asset_id)).first()
            return dict(row._mapping) if row else None

    def open_alerts(self, *, severity: str | Iterable[str] | None = None, domain: str | None = None,
                    commune_code: str | None = None, rule: str | None = None, include_children: bool = False,
                    limit: int = 1000) -> list[dict]:
        """Active alerts (open, acknowledged, in progress), worst and oldest first."""
        stmt = select(alerts).where(alerts.c.state.in_(ACTIVE_STATES))
        if severity:
            stmt = stmt.where(alerts.c.severity.in_([severity] if isinstance(severity, str) else list(severity)))
        if domain:
            stmt = stmt.where(alerts.c.domain == domain)
        if commune_code:
            stmt = stmt.where(alerts.c.commune_code == commune_code)
        if rule:
            stmt = stmt.where(alerts.c.rule == rule)
        if not include_children:
            stmt = stmt.where(alerts.c.parent_id.is_(None))
        rank = case({s: i for i, s in enumerate(SEVERITY_ORDER)}, value=alerts.c.severity, else_=len(SEVERITY_ORDER))
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(rank, alerts.c.opened_ts, alerts.c.id).limit(limit)))

    def alerts(self, *, state: str | Iterable[str] | None = None, rule: str | None = None,
               asset_id: str | None = None, since_ts: int | None = None, limit: int = 10000) -> list[dict]:
        """Alerts in any state, filtered, oldest first."""
        stmt = select(alerts)
        if state:
            stmt = stmt.where(alerts.c.state.in_([state] if isinstance(state, str) else list(state)))
        if rule:
            stmt = stmt.where(alerts.c.rule == rule)
        if asset_id:
            stmt = stmt.where(alerts.c.asset_id == asset_id)
        if since_ts is not None:
            stmt = stmt.where(alerts.c.opened_ts >= since_ts)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(alerts.c.id).limit(limit)))

    def alert(self, alert_id: int) -> dict:
        """One alert; AlertNotFound if none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        if row is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return dict(row._mapping)

    def children(self, alert_id: int) -> list[dict]:
        """Alerts absorbed by a parent alert (topology)."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(alerts).where(alerts.c.parent_id == alert_id).order_by(alerts.c.id)))

    def alert_history(self, alert_id: int) -> list[dict]:
        """Every transition of an alert, oldest first."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(alert_transitions).where(alert_transitions.c.alert_id == alert_id)
                                       .order_by(alert_transitions.c.id)))

    def interventions(self, alert_id: int | None = None, *, open_only: bool = False) -> list[dict]:
        """Interventions, of one alert or all, optionally only those still open."""
        stmt = select(interventions)
        if alert_id is not None:
            stmt = stmt.where(interventions.c.alert_id == alert_id)
        if open_only:
            stmt = stmt.where(interventions.c.closed_ts.is_(None))
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(interventions.c.id)))

    def reports(self, *, alert_id: int | None = None, limit: int = 1000) -> list[dict]:
        """Citizen reports, newest first, optionally those linked to one alert."""
        stmt = select(reports)
        if alert_id is not None:
            stmt = stmt.where(reports.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(reports.c.requested_ts.desc()).limit(limit)))

    def audit(self, *, target: str | None = None, actor: str | None = None, limit: int = 1000) -> list[dict]:
        """Audit rows, newest first."""
        stmt = select(audit_log)
        if target:
            stmt = stmt.where(audit_log.c.target == target)
        if actor:
            stmt = stmt.where(audit_log.c.actor == actor)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(audit_log.c.id.desc()).limit(limit)))

    def record_audit(self, actor: str, action: str, target: str, detail: dict | None = None, *,
                     ts: int | None = None) -> None:
        """Append one audit row (commands, logins, exports)."""
        with self._write() as conn, conn.begin():
            conn.execute(audit_log.insert().values(ts=ts if ts is not None else _now_ms(), actor=actor,
                                                   action=action, target=target, detail=detail))

    # -- remote-control commands ---------------------------------------------------------------

    def record_command(self, request, *, scope: str, count: int, namespace: str, role: str | None = None) -> dict:
        """Store a command being sent (status pending) with its audit row, in one transaction."""
        row = {"command_id": request.command_id, "action": request.action, "level": request.level,
               "targets": list(request.targets), "scope": scope, "count": count, "user": request.user,
               "confirmed_by": request.confirmed_by, "reason": request.reason, "namespace": namespace,
               "sent_ts": request.ts, "expires_at": request.expires_at, "status": "pending", "applied": 0}
        with self._write() as conn, conn.begin():
            row["seq"] = self._next_seq(conn)
            conn.execute(commands.insert().values(**row))
            detail = {k: row[k] for k in ("command_id", "action", "level", "count", "confirmed_by", "reason",
                                           "namespace", "expires_at")}
            detail.update(role=role, targets=list(request.targets)[:20])
            conn.execute(audit_log.insert().values(ts=request.ts, actor=request.user, action="command." + request.action,
                                                   target=scope[:120], detail=detail))
        return row

    def commands(self, *, status: str | Iterable[str] | None = None, user: str | None = None,
                 since_ts: int | None = None, limit: int = 100) -> list[dict]:
        """Commands, newest first, filtered by status, user and send time."""
        stmt = select(commands)
        if status:
            stmt = stmt.where(commands.c.status.in_([status] if isinstance(status, str) else list(status)))
        if user:
            stmt = stmt.where(commands.c.user == user)
        if since_ts is not None:
            stmt = stmt.where(commands.c.sent_ts >= since_ts)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(commands.c.sent_ts.desc(), commands.c.command_id).limit(limit)))

    def command(self, command_id: str) -> dict | None:
        """One command, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(commands).where(commands.c.command_id == command_id)).first()
            return dict(row._mapping) if row else None

    def count_commands(self, user: str, since_ts: int) -> int:
        """How many commands a user sent since a time (the rate limit)."""
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(commands).where(and_(
                commands.c.user == user, commands.c.sent_ts >= since_ts))) or 0

    def unacknowledged_commands(self, sent_before_ts: int) -> list[dict]:
        """Commands still pending that were sent before a time (candidates for a timeout)."""
        with self.engine.connect() as conn:
            return _dicts(conn.execute(select(commands).where(and_(
                commands.c.status == "pending", commands.c.sent_ts < sent_before_ts)).order_by(commands.c.sent_ts)))

    def state_intervals(self, asset_id: str | None = None, *, since_ts: int | None = None,
                        until_ts: int | None = None) -> list[dict]:
        """State intervals overlapping [since_ts, until_ts), each asset's current one included (end_ts None)."""
        iv = all_intervals()
        stmt = select(iv)
        if asset_id:
            stmt = stmt.where(iv.c.asset_id == asset_id)
        if until_ts is not None:
            stmt = stmt.where(iv.c.start_ts < until_ts)
        if since_ts is not None:
            stmt = stmt.where(or_(iv.c.end_ts.is_(None), iv.c.end_ts > since_ts))
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(iv.c.asset_id, iv.c.start_ts)))

    def energy(self, *, cabinet_id: str | None = None, since_ts: int | None = None,
               until_ts: int | None = None) -> list[dict]:
        """Energy per cabinet and hour (cabinet meter kWh, sum of its lamps' kWh)."""
        stmt = select(energy_hourly)
        if cabinet_id:
            stmt = stmt.where(energy_hourly.c.cabinet_id == cabinet_id)
        if since_ts is not None:
            stmt = stmt.where(energy_hourly.c.hour_ts >= since_ts)
        if until_ts is not None:
            stmt = stmt.where(energy_hourly.c.hour_ts < until_ts)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt.order_by(energy_hourly.c.hour_ts, energy_hourly.c.cabinet_id)))

    def energy_totals(self) -> dict[str, float]:
        """Total kWh over the store: cabinet meters and lamp meters."""
        with self.engine.connect() as conn:
            row = conn.execute(select(func.coalesce(func.sum(energy_hourly.c.kwh), 0.0),
                                      func.coalesce(func.sum(energy_hourly.c.lamp_kwh), 0.0))).first()
        return {"kwh": float(row[0]), "lamp_kwh": float(row[1])}

    def status_summary(self) -> dict:
        """The room at a glance: assets with a live state, open alerts by severity, events, dead letters, lag."""
        with self.engine.connect() as conn, conn.begin():
            by_state = {r.state: r.n for r in conn.execute(
                select(asset_state.c.state, func.count().label("n")).group_by(asset_state.c.state))}
            by_kind = {r.kind: r.n for r in conn.execute(
                select(asset_state.c.kind, func.count().label("n")).group_by(asset_state.c.kind))}
            open_by_sev = {r.severity: r.n for r in conn.execute(
                select(alerts.c.severity, func.count().label("n"))
                .where(and_(alerts.c.state.in_(ACTIVE_STATES), alerts.c.parent_id.is_(None)))
                .group_by(alerts.c.severity))}
            absorbed = conn.scalar(select(func.count()).select_from(alerts).where(and_(
                alerts.c.state.in_(ACTIVE_STATES), alerts.c.parent_id.is_not(None))))
            health = _dicts(conn.execute(select(stream_health).order_by(stream_health.c.topic)))
            inventory_total = conn.scalar(select(func.count()).select_from(assets))
            seq = self.counter_in(conn, "seq")
        return {
            "seq": seq,
            "inventory_assets": inventory_total,
            "assets_with_state": sum(by_state.values()),
            "assets_by_state": by_state,
            "assets_by_kind": by_kind,
            "open_alerts": sum(open_by_sev.values()),
            "open_alerts_by_severity": {s: open_by_sev.get(s, 0) for s in SEVERITY_ORDER},
            "absorbed_alerts": absorbed,
            "events_processed": sum(h["events"] for h in health),
            "dead_letters": sum(h["dead_letters"] for h in health),
            "lag": sum(h["lag"] for h in health),
            "topics": health,
        }
