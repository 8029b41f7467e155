"""Everything the operator room reads from or writes to the operational store, behind one small interface.

Callbacks never touch SQL: they call a `DataSource`. It reflects the store's tables (written by
the processor, `streams/store`) with SQLAlchemy Core, tolerates a store that does not exist yet
(the room then shows itself as stale rather than calm), and hands back plain values.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

__all__ = [
    "ACTIVE_STATES", "ALERT_STATES", "SEVERITIES", "SEVERITY_RANK", "STATE_FAULT", "STATE_OK", "STATE_UNKNOWN",
    "STATE_WARNING", "ActionResult", "AlertFilters", "Changes", "DataSource", "Health", "Kpi", "classify_state",
    "epoch_ms",
]

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "major", "minor", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
ALERT_STATES = ("open", "acknowledged", "in_progress", "resolved", "closed")
ACTIVE_STATES = ("open", "acknowledged", "in_progress")

# Live state codes sent to the browser (the JS in assets/ colours by them).
STATE_OK = 0
STATE_WARNING = 1
STATE_FAULT = 2
STATE_UNKNOWN = 3

_FAULT_WORDS = (
    "fault", "defective", "failure", "broken", "columnissue", "supplyloss", "offline", "tamper", "videoloss",
    "dark", "failed", "error", "down", "conflict", "out",
)
_WARNING_WORDS = ("warning", "degraded", "flashing", "manual", "alarm", "dimming")
_UNKNOWN_WORDS = ("unknown", "stale", "unavailable", "silent", "commloss", "lost", "nodata", "no_data")
_NOMINAL_STATUS = ("", "ok", "none", "normal", "online", "on", "off", "low", "bootingup", "automatic")
# Weather attributes worth showing on the map, short keys to keep hideout patches small.
_WEATHER_VALUES = {"t": "temperature_c", "r": "road_temperature_c", "g": "gust_ms", "p": "precipitation_mm_h"}
# Transitions an operator may ask for, from which states.
_ALLOWED_FROM = {
    "acknowledge": ("open",),
    "assign": ("open", "acknowledged", "in_progress"),
    "resolve": ("open", "acknowledged", "in_progress"),
    "close": ("resolved",),
}
_TARGET_STATE = {"acknowledge": "acknowledged", "assign": "in_progress", "resolve": "resolved", "close": "closed"}


def epoch_ms(value: Any) -> int | None:
    """A store timestamp (epoch s or ms, datetime, ISO text) as epoch milliseconds, None if absent."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            return None
        return int(value if value > 1e11 else value * 1000)
    if isinstance(value, str):
        try:
            return epoch_ms(float(value))
        except ValueError:
            try:
                return epoch_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
            except ValueError:
                return None
    return None


def _attributes(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, (str, bytes)) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _has(text: str, words: Iterable[str]) -> bool:
    return any(w in text for w in words)


def classify_state(state: str | None, attributes: Mapping | None = None) -> int:
    """The colour code of an asset state: STATE_OK, STATE_WARNING, STATE_FAULT or STATE_UNKNOWN."""
    text = (state or "unknown").lower().replace("-", "").replace(" ", "")
    attributes = attributes or {}
    status = str(attributes.get("status") or "").lower()
    faults = attributes.get("faults") or attributes.get("active_faults")
    if _has(text, _UNKNOWN_WORDS):
        return STATE_UNKNOWN
    if text in ("ok", "on", "off", "low", "online", "normal", "bootingup", "nominal", "automatic", "open", "closed"):
        if faults or status not in _NOMINAL_STATUS:
            return STATE_FAULT
        return STATE_OK
    if _has(text, _WARNING_WORDS):
        return STATE_WARNING
    if _has(text, _FAULT_WORDS):
        return STATE_FAULT
    return STATE_OK


@dataclass(frozen=True)
class Changes:
    """Asset states changed since a sequence number: the new sequence number, colour codes and live values."""

    seq: int
    states: dict[str, int] = field(default_factory=dict)
    values: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertFilters:
    """Which alerts the queue shows; an empty tuple means no filter on that field."""

    domains: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    states: tuple[str, ...] = ACTIVE_STATES

    @classmethod
    def of(cls, domains=None, communes=None, severities=None, states=None) -> "AlertFilters":
        """Filters from dropdown values (None or lists)."""
        return cls(tuple(domains or ()), tuple(communes or ()), tuple(severities or ()),
                   tuple(states) if states else ACTIVE_STATES)


@dataclass(frozen=True)
class Health:
    """Whether data is flowing: the newest sign of life of the processor and the feeds, per feed details."""

    store_ok: bool
    last_activity_ms: int | None
    feeds: tuple[dict, ...] = ()

    def age_s(self, now_ms: int | None = None) -> float | None:
        """Seconds since the last sign of life, None when there never was one."""
        if self.last_activity_ms is None:
            return None
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return max(0.0, (now_ms - self.last_activity_ms) / 1000.0)


@dataclass(frozen=True)
class Kpi:
    """A headline contract KPI: its value (None when the store has no figure yet) against its target."""

    key: str
    value: float | None
    target: float
    unit: str = "%"
    higher_is_better: bool = True


@dataclass(frozen=True)
class ActionResult:
    """What an operator action did: alert ids changed, and those refused with the reason."""

    done: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()


class DataSource:
    """Read and write access to the operational store for the dashboard (one engine, pooled connections)."""

    def __init__(self, url: str, *, engine: sa.Engine | None = None) -> None:
        self.url = url
        self._engine = engine
        self._lock = threading.Lock()
        self._tables: dict[str, sa.Table] = {}
        self._reflected_at = 0.0

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, created on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    kwargs: dict = {"pool_pre_ping": True}
                    if self.url.startswith("sqlite"):
                        kwargs["connect_args"] = {"timeout": 5, "check_same_thread": False}
                    self._engine = sa.create_engine(self.url, **kwargs)
        return self._engine

    def close(self) -> None:
        """Release the pooled connections."""
        if self._engine is not None:
            self._engine.dispose()

    def _table(self, name: str) -> sa.Table | None:
        """A reflected store table, None while it does not exist (reflection retried every few seconds)."""
        table = self._tables.get(name)
        if table is not None:
            return table
        now = time.monotonic()
        if now - self._reflected_at < 3.0 and self._reflected_at:
            return None
        with self._lock:
            self._reflected_at = now
            try:
                meta = sa.MetaData()
                meta.reflect(self.engine)
            except sa.exc.SQLAlchemyError as exc:
                log.debug("store not readable yet: %s", exc)
                return None
            self._tables = dict(meta.tables)
        return self._tables.get(name)

    @staticmethod
    def _col(table: sa.Table, *names: str) -> sa.Column | None:
        for name in names:
            if name in table.c:
                return table.c[name]
        return None

    def _rows(self, stmt) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))

    # -- live asset state -------------------------------------------------------------------

    def changes_since(self, seq: int) -> Changes:
        """Asset state changes after `seq` (from 0: every asset not in its nominal state)."""
        table = self._table("asset_state")
        if table is None:
            return Changes(seq)
        cols = [table.c.asset_id, table.c.state, table.c.seq]
        attrs = self._col(table, "attributes")
        if attrs is not None:
            cols.append(attrs)
        stmt = sa.select(*cols).where(table.c.seq > seq).order_by(table.c.seq)
        try:
            rows = self._rows(stmt)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("cannot read asset states: %s", exc)
            return Changes(seq)
        states: dict[str, int] = {}
        values: dict[str, dict] = {}
        new_seq = seq
        for row in rows:
            a = _attributes(row[3]) if attrs is not None else {}
            code = classify_state(row.state, a)
            new_seq = max(new_seq, int(row.seq))
            if seq == 0 and code == STATE_OK and not any(k in a for k in _WEATHER_VALUES.values()):
                continue
            states[row.asset_id] = code
            live = {short: round(float(a[key]), 1) for short, key in _WEATHER_VALUES.items()
                    if isinstance(a.get(key), (int, float))}
            if live:
                values[row.asset_id] = {"s": code, **live}
        return Changes(new_seq, states, values)

    def asset_state(self, asset_id: str) -> dict | None:
        """An asset's latest state record (state, attributes, last_changed/updated/seen in epoch ms)."""
        table = self._table("asset_state")
        if table is None:
            return None
        try:
            rows = self._rows(sa.select(table).where(table.c.asset_id == asset_id))
        except sa.exc.SQLAlchemyError:
            return None
        if not rows:
            return None
        record = dict(rows[0]._mapping)
        record["attributes"] = _attributes(record.get("attributes"))
        for key in ("last_changed", "last_updated", "last_seen"):
            record[key] = epoch_ms(record.get(key))
        record["code"] = classify_state(record.get("state"), record["attributes"])
        return record

    def asset_history(self, asset_id: str, since_ms: int) -> list[dict]:
        """The asset's state intervals since a time: [{start, end, state, code}] in epoch ms, oldest first."""
        for name in ("state_intervals", "asset_state_intervals", "state_history", "asset_history"):
            table = self._table(name)
            if table is None:
                continue
            start = self._col(table, "start_ts", "started_ts", "start", "since", "ts", "from_ts")
            end = self._col(table, "end_ts", "ended_ts", "end", "until", "to_ts")
            if start is None or "state" not in table.c:
                continue
            cols = [start.label("start"), table.c.state]
            if end is not None:
                cols.append(end.label("end"))
            stmt = sa.select(*cols).where(table.c.asset_id == asset_id).order_by(start)
            try:
                rows = self._rows(stmt)
            except sa.exc.SQLAlchemyError:
                return []
            out = []
            for row in rows:
                m = row._mapping
                s, e = epoch_ms(m["start"]), epoch_ms(m.get("end"))
                if e is not None and e < since_ms:
                    continue
                out.append({"start": max(s or since_ms, since_ms), "end": e, "state": m["state"],
                            "code": classify_state(m["state"])})
            return out
        return []

    # -- alerts -----------------------------------------------------------------------------

    def alerts_version(self) -> str:
        """A token that changes whenever an alert does (highest sequence number and row count)."""
        table = self._table("alerts")
        if table is None:
            return "none"
        try:
            rows = self._rows(sa.select(sa.func.max(table.c.seq), sa.func.count()).select_from(table))
        except sa.exc.SQLAlchemyError:
            return "none"
        top, count = rows[0]
        return f"{int(top or 0)}:{int(count or 0)}"

    def _alert_rows(self, where) -> list[dict]:
        table = self._table("alerts")
        if table is None:
            return []
        stmt = sa.select(table).where(*where).limit(5000)
        try:
            rows = self._rows(stmt)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("cannot read alerts: %s", exc)
            return []
        out = []
        for row in rows:
            m = dict(row._mapping)
            for key in ("opened_ts", "due_ts", "updated_ts", "acknowledged_ts", "resolved_ts", "closed_ts"):
                if key in m:
                    m[key] = epoch_ms(m[key])
            m["sev_rank"] = SEVERITY_RANK.get(m.get("severity"), len(SEVERITIES))
            for key in ("lat", "lon"):
                v = m.get(key)
                m[key] = float(v) if v is not None else None
            out.append(m)
        return out

    def open_alerts(self, filters: AlertFilters = AlertFilters()) -> list[dict]:
        """Alerts matching the filters, by severity then deadline (earliest first, none last)."""
        table = self._table("alerts")
        if table is None:
            return []
        where = []
        for column, values in (("domain", filters.domains), ("commune_code", filters.communes),
                               ("severity", filters.severities), ("state", filters.states)):
            if values and column in table.c:
                where.append(table.c[column].in_(values))
        rows = self._alert_rows(where)
        rows.sort(key=lambda r: (r["sev_rank"], r.get("due_ts") is None, r.get("due_ts") or 0,
                                 -(r.get("opened_ts") or 0)))
        return rows

    def alerts_of_asset(self, asset_id: str) -> list[dict]:
        """Active alerts of an asset, worst first."""
        table = self._table("alerts")
        if table is None:
            return []
        rows = self._alert_rows([table.c.asset_id == asset_id, table.c.state.in_(ACTIVE_STATES)])
        return sorted(rows, key=lambda r: (r["sev_rank"], r.get("due_ts") or 0))

    def alert(self, alert_id: str) -> dict | None:
        """One alert by id."""
        table = self._table("alerts")
        if table is None:
            return None
        rows = self._alert_rows([table.c.id == alert_id])
        return rows[0] if rows else None

    def linked_reports(self, asset_id: str, lat: float | None, lon: float | None, radius_m: float = 50.0) -> list[dict]:
        """Active citizen reports joined to the asset's alerts, or lying within `radius_m` of it."""
        table = self._table("alerts")
        if table is None:
            return []
        own = [a["id"] for a in self.alerts_of_asset(asset_id)]
        rows = self._alert_rows([table.c.domain == "incidents", table.c.state.in_(ACTIVE_STATES)])
        out = []
        for r in rows:
            near = False
            if lat is not None and r.get("lat") is not None:
                dy = (r["lat"] - lat) * 111_320.0
                dx = (r["lon"] - lon) * 111_320.0 * math.cos(math.radians(lat))
                near = math.hypot(dx, dy) <= radius_m
            if r.get("asset_id") != asset_id and (r.get("parent_id") in own or near):
                out.append(r)
        return out

    def severity_counts(self) -> dict[str, int]:
        """Active alerts (open, acknowledged, in progress) per severity."""
        table = self._table("alerts")
        counts = {s: 0 for s in SEVERITIES}
        if table is None:
            return counts
        stmt = (sa.select(table.c.severity, sa.func.count()).where(table.c.state.in_(ACTIVE_STATES))
                .group_by(table.c.severity))
        try:
            for severity, n in self._rows(stmt):
                if severity in counts:
                    counts[severity] = int(n)
        except sa.exc.SQLAlchemyError:
            pass
        return counts

    def domains(self) -> list[str]:
        """Alert domains present in the store."""
        table = self._table("alerts")
        if table is None:
            return []
        try:
            return sorted(r[0] for r in self._rows(sa.select(table.c.domain).distinct()) if r[0])
        except sa.exc.SQLAlchemyError:
            return []

    # -- operator actions -------------------------------------------------------------------

    def acknowledge(self, alert_ids: Iterable[str], actor: str, comment: str = "") -> ActionResult:
        """Acknowledge open alerts."""
        return self._transition("acknowledge", alert_ids, actor, comment)

    def assign(self, alert_ids: Iterable[str], team: str, actor: str, comment: str = "") -> ActionResult:
        """Assign alerts to a field team (the intervention starts: in progress)."""
        return self._transition("assign", alert_ids, actor, comment, team=team)

    def resolve(self, alert_ids: Iterable[str], actor: str, comment: str = "") -> ActionResult:
        """Mark alerts resolved."""
        return self._transition("resolve", alert_ids, actor, comment)

    def close(self, alert_ids: Iterable[str], actor: str, comment: str = "") -> ActionResult:
        """Close resolved alerts."""
        return self._transition("close", alert_ids, actor, comment)

    def _transition(self, action: str, alert_ids: Iterable[str], actor: str, comment: str,
                    team: str | None = None) -> ActionResult:
        alerts = self._table("alerts")
        ids = [str(i) for i in alert_ids if i]
        if alerts is None or not ids:
            return ActionResult(refused=tuple((i, "store unavailable") for i in ids))
        audit = self._table("audit_log")
        health = self._table("asset_state")
        done: list[str] = []
        refused: list[tuple[str, str]] = []
        now = int(time.time() * 1000)
        with self.engine.begin() as conn:
            current = {r.id: r.state for r in conn.execute(sa.select(alerts.c.id, alerts.c.state).where(alerts.c.id.in_(ids)))}
            tops = [conn.execute(sa.select(sa.func.max(alerts.c.seq))).scalar() or 0]
            if health is not None:
                tops.append(conn.execute(sa.select(sa.func.max(health.c.seq))).scalar() or 0)
            seq = max(tops)
            for alert_id in ids:
                state = current.get(alert_id)
                if state is None:
                    refused.append((alert_id, "unknown alert"))
                    continue
                if state not in _ALLOWED_FROM[action]:
                    refused.append((alert_id, f"state is {state}"))
                    continue
                seq += 1
                values: dict[str, Any] = {"state": _TARGET_STATE[action], "seq": seq}
                for col in ("updated_ts", f"{_TARGET_STATE[action]}_ts"):
                    if col in alerts.c:
                        values[col] = _like(alerts.c[col], now)
                if team and "assignee" in alerts.c:
                    values["assignee"] = team
                conn.execute(sa.update(alerts).where(alerts.c.id == alert_id).values(**values))
                if audit is not None:
                    conn.execute(sa.insert(audit).values(**_audit_row(audit, now, actor, action, alert_id,
                                                                       state, _TARGET_STATE[action], comment, team)))
                done.append(alert_id)
        return ActionResult(tuple(done), tuple(refused))

    # -- health and KPIs --------------------------------------------------------------------

    def health(self) -> Health:
        """The newest sign of life (processor heartbeat, last event, last state change) and the per-feed table."""
        table = self._table("stream_health")
        state = self._table("asset_state")
        if table is None and state is None:
            return Health(store_ok=False, last_activity_ms=None)
        latest: list[int] = []
        feeds: list[dict] = []
        try:
            if table is not None:
                for row in self._rows(sa.select(table)):
                    m = dict(row._mapping)
                    for key, value in list(m.items()):
                        if key.endswith(("_ts", "_at")) or key in ("ts", "updated", "heartbeat"):
                            m[key] = epoch_ms(value)
                            if m[key] is not None and m[key] > 0:
                                latest.append(m[key])
                    feeds.append(m)
            if state is not None:
                col = self._col(state, "last_updated", "last_seen")
                if col is not None:
                    top = self._rows(sa.select(sa.func.max(col)))[0][0]
                    if epoch_ms(top):
                        latest.append(epoch_ms(top))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("cannot read stream health: %s", exc)
            return Health(store_ok=False, last_activity_ms=None)
        now = int(time.time() * 1000)
        latest = [t for t in latest if t <= now + 60_000]
        return Health(store_ok=True, last_activity_ms=max(latest) if latest else None, feeds=tuple(feeds))

    def kpi_headline(self) -> list[Kpi]:
        """Headline contract KPIs against their targets; a value is None until the store holds it."""
        values: dict[str, float] = {}
        table = self._table("kpi_headline")
        table = self._table("kpis") if table is None else table
        if table is not None and "key" in table.c and "value" in table.c:
            try:
                values = {r.key: float(r.value) for r in self._rows(sa.select(table.c.key, table.c.value))
                          if r.value is not None}
            except sa.exc.SQLAlchemyError:
                values = {}
        return [
            Kpi("energy_saving", values.get("energy_saving"), 65.0),
            Kpi("it_availability", values.get("it_availability"), 99.0),
            Kpi("on_time", values.get("on_time"), 95.0),
        ]


def _like(column: sa.Column, now_ms: int) -> Any:
    """`now` in the column's type: datetime for DateTime columns, epoch ms otherwise."""
    if isinstance(column.type, sa.DateTime):
        return datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc)
    return now_ms


def _audit_row(audit: sa.Table, now_ms: int, actor: str, action: str, alert_id: str, before: str, after: str,
               comment: str, team: str | None) -> dict:
    detail = {"from": before, "to": after, "comment": comment or None, "team": team}
    candidates = {
        "ts": _like(audit.c["ts"], now_ms) if "ts" in audit.c else None,
        "actor": actor,
        "action": f"alert.{action}",
        "target": alert_id,
        "object_id": alert_id,
        "alert_id": alert_id,
        "detail": json.dumps(detail, ensure_ascii=False),
        "details": json.dumps(detail, ensure_ascii=False),
        "comment": comment or None,
    }
    return {k: v for k, v in candidates.items() if k in audit.c and v is not None}
