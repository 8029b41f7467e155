"""Everything the operator room reads from or writes to the operational store, behind one small interface.

Callbacks never touch SQL: they call a `DataSource`, which reads the store's tables
(`streams.store.schema`) with SQLAlchemy Core and performs operator actions through
`streams.store.Store`, so the lifecycle rules, the transitions and the audit trail stay the
store's. A store that cannot be reached yet makes the room show itself stale, never calm.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import sqlalchemy as sa

from streams.store import AlertNotFound, InvalidTransition, Store
from streams.store import schema as s

__all__ = [
    "ACTIVE_STATES", "ALERT_STATES", "SEVERITIES", "SEVERITY_RANK", "STATE_FAULT", "STATE_OK", "STATE_UNKNOWN",
    "STATE_WARNING", "ActionResult", "AlertFilters", "Changes", "DataSource", "Health", "Kpi", "KpiPage",
    "classify_state",
]

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "major", "minor", "info")
SEVERITY_RANK = {sev: i for i, sev in enumerate(SEVERITIES)}
ALERT_STATES = ("open", "acknowledged", "in_progress", "resolved", "closed")
ACTIVE_STATES = ("open", "acknowledged", "in_progress")

# Live state codes sent to the browser (assets/vigie_map.js colours by them).
STATE_OK = 0
STATE_WARNING = 1
STATE_FAULT = 2
STATE_UNKNOWN = 3

_FAULT_WORDS = ("fault", "defective", "failure", "broken", "columnissue", "supplyloss", "offline", "tamper",
                "videoloss", "dark", "failed", "error", "down", "conflict")
_WARNING_WORDS = ("warning", "degraded", "flashing", "manual", "dimming", "alert")
_UNKNOWN_WORDS = ("unknown", "stale", "unavailable", "silent", "commloss", "lost", "nodata")
_NOMINAL = ("ok", "on", "off", "low", "online", "normal", "bootingup", "nominal", "automatic")
_WARNING_RULES = ("lamp_dimming_failure",)
# Weather attributes shown on the map, under short keys to keep hideout patches small.
_WEATHER_VALUES = {"t": "temperature_c", "r": "road_temperature_c", "g": "gust_ms", "p": "precipitation_mm_h"}
_RETRY_S = 3.0


def classify_state(state: str | None, faults: Iterable[str] | Mapping | None = None) -> int:
    """The colour code of an asset state and its active fault conditions: STATE_OK, _WARNING, _FAULT or _UNKNOWN.

    `faults` is a list of rule ids, or the store's record of them (only its `active` rules count).
    """
    text = (state or "unknown").lower().replace("-", "").replace("_", "").replace(" ", "")
    if isinstance(faults, Mapping):  # the processor's record: {"active": {rule: values}, "toggles": {rule: times}}
        faults = faults.get("active") or ()
    faults = [f for f in (faults or ()) if f]
    if any(w in text for w in _UNKNOWN_WORDS) or any("comm_loss" in f or "feed_down" in f for f in faults):
        return STATE_UNKNOWN
    if text not in _NOMINAL:
        if any(w in text for w in _WARNING_WORDS):
            return STATE_WARNING
        if any(w in text for w in _FAULT_WORDS):
            return STATE_FAULT
    if any(f not in _WARNING_RULES for f in faults):
        return STATE_FAULT
    return STATE_WARNING if faults else STATE_OK


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
    """Whether data is flowing: the newest sign of life of the processor or the feeds, and the per-feed table."""

    store_ok: bool
    last_activity_ms: int | None
    feeds: tuple[dict, ...] = ()
    last_event_ms: int | None = None

    def age_s(self, now_ms: int | None = None) -> float | None:
        """Seconds since the last sign of life, None when there never was one."""
        if self.last_activity_ms is None:
            return None
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return max(0.0, (now_ms - self.last_activity_ms) / 1000.0)


@dataclass(frozen=True)
class Kpi:
    """A headline contract KPI: its value (None while the store has no figure) against its target."""

    key: str
    value: float | None
    target: float
    unit: str = "%"
    higher_is_better: bool = True


@dataclass(frozen=True)
class ActionResult:
    """What an operator action did: alert ids changed, and those refused with a reason code.

    Reason codes: `state:<current state>` (the lifecycle forbids it), `unknown` (no such alert),
    `store` (the store could not be reached or failed).
    """

    done: tuple[int, ...] = ()
    refused: tuple[tuple[int, str], ...] = ()


def _alert_row(row: Mapping) -> dict:
    out = dict(row)
    out["sev_rank"] = SEVERITY_RANK.get(out.get("severity"), len(SEVERITIES))
    for key in ("lat", "lon"):
        out[key] = float(out[key]) if out.get(key) is not None else None
    details = out.pop("details", None)
    out["value"] = details.get("value") if isinstance(details, dict) else None
    return out


class _ShownStates:
    """What the map shows of each asset, and the sequence number at which that last changed.

    The store bumps an asset's `seq` on every reading; most readings leave its colour as it was.
    This index, fed from the store's rows after the highest `seq` it has read, keeps for each asset
    its shown value (a colour code, or a weather station's code and values) and the `seq` at which
    that value last changed, so a tick carries only real changes. It holds nothing the store does
    not: a worker that starts anew reads every row once and answers conservatively (an asset seen
    for the first time counts as changed at its row's `seq`), so any worker can serve any browser.
    """

    def __init__(self) -> None:
        self.cursor = 0
        self.shown: dict[str, tuple[object, int]] = {}  # asset id -> (shown value, seq of its last change)
        self.log: list[tuple[int, str]] = []  # (seq of a change, asset id), in seq order

    def query(self):
        """The rows after the highest sequence number read so far, in sequence order."""
        a = s.asset_state
        return (sa.select(a.c.asset_id, a.c.kind, a.c.state, a.c.faults, a.c.attributes, a.c.seq)
                .where(a.c.seq > self.cursor).order_by(a.c.seq))

    def absorb(self, rows: list[dict]) -> None:
        """Note the rows' shown values; log the assets whose shown value changed."""
        for row in rows:
            code = classify_state(row["state"], row["faults"])
            if row["kind"] == "weather":
                attrs = row["attributes"] or {}
                value = {"s": code, **{k: round(float(attrs[v]), 1) for k, v in _WEATHER_VALUES.items()
                                       if isinstance(attrs.get(v), (int, float))}}
            else:
                value = code
            row_seq = int(row["seq"])
            self.cursor = max(self.cursor, row_seq)
            before = self.shown.get(row["asset_id"])
            if before is None or before[0] != value:
                self.shown[row["asset_id"]] = (value, row_seq)
                self.log.append((row_seq, row["asset_id"]))
        if len(self.log) > 4 * len(self.shown) + 1000:  # keep one entry an asset
            self.log = sorted((changed, asset_id) for asset_id, (_, changed) in self.shown.items())

    def since(self, seq: int) -> Changes:
        """The shown values changed after `seq`; from 0, every asset not nominal and every weather station."""
        if seq <= 0:
            wanted = [a for a, (v, _) in self.shown.items() if isinstance(v, dict) or v != STATE_OK]
        else:
            wanted = {a for _, a in self.log[bisect.bisect_right(self.log, (seq, "\uffff")):]}
        states: dict[str, int] = {}
        values: dict[str, dict] = {}
        for asset_id in wanted:
            value = self.shown[asset_id][0]
            if isinstance(value, dict):
                values[asset_id] = value
                states[asset_id] = value["s"]
            else:
                states[asset_id] = value
        return Changes(max(seq, self.cursor), states, values)


class DataSource:
    """Read and write access to the operational store for the dashboard (one pooled engine per process)."""

    def __init__(self, url: str, *, schema: str | None = None, clock: Callable[[], object] | None = None,
                 bootstrap: str | None = None, namespace: str = "live") -> None:
        self.url = url
        self.schema = schema
        self.bootstrap = bootstrap  # where commands are published (None: this room cannot send any)
        self.namespace = namespace
        self._producer = None
        self._send_lock = threading.Lock()
        self.clock = clock  # returns the KPIs' "now" as a UTC pd.Timestamp (tests and replays pin it)
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._kpi_lock = threading.Lock()
        self._failed_at = 0.0
        self._kpis: tuple[float, list[Kpi]] | None = None
        self._frames: tuple[float, object] | None = None
        self._pages: dict[tuple, KpiPage] = {}
        self._contract = None
        self._shown = _ShownStates()
        self._shown_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings, namespace: str | None = None, clock=None) -> "DataSource":
        """The data source of a namespace's store (the live room by default)."""
        from streams.store import store_location

        url, schema = store_location(settings, namespace)
        return cls(url, schema=schema, clock=clock, bootstrap=settings.kafka_bootstrap,
                   namespace=namespace or settings.namespace)

    # -- plumbing ---------------------------------------------------------------------------

    def store(self) -> Store | None:
        """The store (created and migrated on first use), None while it cannot be reached."""
        if self._store is not None:
            return self._store
        if time.monotonic() - self._failed_at < _RETRY_S:
            return None
        with self._lock:
            if self._store is None:
                try:
                    self._store = Store.from_url(self.url, schema=self.schema)
                except (sa.exc.SQLAlchemyError, OSError) as exc:
                    log.warning("store %s not reachable: %s", self.url, exc)
                    self._failed_at = time.monotonic()
                    return None
        return self._store

    def _rows(self, stmt) -> list[dict] | None:
        """Rows of a statement as dicts, None when the store cannot answer."""
        store = self.store()
        if store is None:
            return None
        try:
            with store.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(stmt)]
        except sa.exc.SQLAlchemyError as exc:
            log.warning("store read failed: %s", exc)
            return None

    # -- live asset state -------------------------------------------------------------------

    def changes_since(self, seq: int) -> Changes:
        """Assets whose shown state changed after `seq` (from 0: every asset not nominal, and weather values).

        A reading that leaves an asset's colour (and a weather station's shown values) as it was is
        not carried: see `_ShownStates`.
        """
        with self._shown_lock:
            rows = self._rows(self._shown.query())
            if rows is None:
                return Changes(seq)
            self._shown.absorb(rows)
            return self._shown.since(seq)

    def asset_state(self, asset_id: str) -> dict | None:
        """An asset's latest state record (state, attributes, faults, last_changed/updated/seen in epoch ms, code)."""
        rows = self._rows(sa.select(s.asset_state).where(s.asset_state.c.asset_id == asset_id))
        if not rows:
            return None
        record = rows[0]
        record["code"] = classify_state(record.get("state"), record.get("faults"))
        return record

    def asset_history(self, asset_id: str, since_ms: int) -> list[dict]:
        """The asset's state intervals since a time, oldest first: [{start, end, state, code}] in epoch ms."""
        iv = s.all_intervals()
        stmt = (sa.select(iv).where(iv.c.asset_id == asset_id)
                .where(sa.or_(iv.c.end_ts.is_(None), iv.c.end_ts > since_ms)).order_by(iv.c.start_ts))
        return [{"start": r["start_ts"], "end": r["end_ts"], "state": r["state"], "code": classify_state(r["state"])}
                for r in self._rows(stmt) or []]

    # -- alerts -----------------------------------------------------------------------------

    def alerts_version(self) -> str:
        """A token that changes whenever an alert or a report does (their highest sequence numbers)."""
        rows = self._rows(sa.select(sa.select(sa.func.max(s.alerts.c.seq)).scalar_subquery(),
                                    sa.select(sa.func.max(s.reports.c.seq)).scalar_subquery()))
        if rows is None:
            return "none"
        values = list(rows[0].values())
        return f"{values[0] or 0}:{values[1] or 0}"

    def open_alerts(self, filters: AlertFilters = AlertFilters()) -> list[dict]:
        """Top-level alerts matching the filters, by severity then deadline (earliest first, none last).

        Each carries `children`: how many active alerts it absorbs (a cabinet outage explains its lamps).
        """
        al = s.alerts
        stmt = sa.select(al).where(al.c.parent_id.is_(None))
        for column, values in (("domain", filters.domains), ("commune_code", filters.communes),
                               ("severity", filters.severities), ("state", filters.states)):
            if values:
                stmt = stmt.where(al.c[column].in_(values))
        rows = [_alert_row(r) for r in self._rows(stmt.order_by(al.c.id.desc()).limit(5000)) or []]
        children = self._rows(sa.select(al.c.parent_id, sa.func.count().label("n"))
                              .where(al.c.parent_id.is_not(None), al.c.state.in_(ACTIVE_STATES))
                              .group_by(al.c.parent_id)) or []
        absorbed = {r["parent_id"]: int(r["n"]) for r in children}
        for r in rows:
            r["children"] = absorbed.get(r["id"], 0)
        rows.sort(key=lambda r: (r["sev_rank"], r.get("due_ts") is None, r.get("due_ts") or 0,
                                 -(r.get("opened_ts") or 0)))
        return rows

    def alerts_of_asset(self, asset_id: str) -> list[dict]:
        """Active alerts of an asset (absorbed ones included), worst first."""
        al = s.alerts
        rows = self._rows(sa.select(al).where(al.c.asset_id == asset_id, al.c.state.in_(ACTIVE_STATES)))
        return sorted((_alert_row(r) for r in rows or []), key=lambda r: (r["sev_rank"], r.get("due_ts") or 0))

    def alert(self, alert_id) -> dict | None:
        """One alert by id (int or its text), None if unknown."""
        try:
            alert_id = int(alert_id)
        except (TypeError, ValueError):
            return None
        rows = self._rows(sa.select(s.alerts).where(s.alerts.c.id == alert_id))
        return _alert_row(rows[0]) if rows else None

    def open_reports(self) -> list[dict]:
        """Citizen reports still open, newest first, with the alert they opened or joined."""
        r = s.reports
        rows = self._rows(sa.select(r).where(r.c.status == "open").order_by(r.c.requested_ts.desc()).limit(2000))
        return rows or []

    def linked_reports(self, asset_id: str) -> list[dict]:
        """Citizen reports naming the asset or joined to one of its alerts, newest first."""
        r = s.reports
        alert_ids = [a["id"] for a in self.alerts_of_asset(asset_id)]
        cond = r.c.asset_ref == asset_id
        if alert_ids:
            cond = sa.or_(cond, r.c.alert_id.in_(alert_ids))
        return self._rows(sa.select(r).where(cond).order_by(r.c.requested_ts.desc()).limit(50)) or []

    def report(self, report_id: str) -> dict | None:
        """One citizen report by id."""
        rows = self._rows(sa.select(s.reports).where(s.reports.c.report_id == report_id))
        return rows[0] if rows else None

    # -- operator actions -------------------------------------------------------------------

    def acknowledge(self, alert_ids: Iterable, actor: str, comment: str = "") -> ActionResult:
        """Acknowledge open alerts."""
        return self._act("acknowledge", alert_ids, actor, comment)

    def assign(self, alert_ids: Iterable, team: str, actor: str, comment: str = "") -> ActionResult:
        """Assign alerts to a field team (an intervention opens; the alerts go in progress)."""
        return self._act("assign", alert_ids, actor, comment, team=team)

    def resolve(self, alert_ids: Iterable, actor: str, comment: str = "") -> ActionResult:
        """Mark alerts resolved."""
        return self._act("resolve", alert_ids, actor, comment)

    def close(self, alert_ids: Iterable, actor: str, comment: str = "") -> ActionResult:
        """Close resolved alerts."""
        return self._act("close", alert_ids, actor, comment)

    def _act(self, action: str, alert_ids: Iterable, actor: str, comment: str, team: str | None = None) -> ActionResult:
        store = self.store()
        done: list[int] = []
        refused: list[tuple[int, str]] = []
        for raw in alert_ids:
            try:
                alert_id = int(raw)
            except (TypeError, ValueError):
                continue
            if store is None:
                refused.append((alert_id, "store"))
                continue
            try:
                if action == "assign":
                    store.assign(alert_id, team, actor, comment or None)
                else:
                    getattr(store, action)(alert_id, actor, comment or None)
            except AlertNotFound:
                refused.append((alert_id, "unknown"))
            except (InvalidTransition, ValueError):
                current = self.alert(alert_id)
                refused.append((alert_id, f"state:{current['state']}" if current else "unknown"))
            except sa.exc.SQLAlchemyError as exc:
                log.warning("%s of alert %s failed: %s", action, alert_id, exc)
                refused.append((alert_id, "store"))
            else:
                done.append(alert_id)
        return ActionResult(tuple(done), tuple(refused))

    # -- remote-control commands ------------------------------------------------------------

    def commands(self, limit: int = 15) -> list[dict]:
        """The latest commands, newest first (empty while the store cannot answer)."""
        c = s.commands
        return self._rows(sa.select(c).order_by(c.c.sent_ts.desc(), c.c.command_id).limit(limit)) or []

    def check_command(self, assets, *, scope: str | None = None, **command):
        """Select and check a command without sending it: (request, selection), or raise CommandRefused.

        `scope` names the selection instead of its ids (a drawn area: `area:<count>`), on the wire and in the list.
        """
        import dataclasses

        import msgspec

        from streams.command_cmd import check_command
        from streams.commands import CommandRefused

        store = self.store()
        if store is None:
            raise CommandRefused("store")
        request, selection = check_command(store, assets=assets, origin_namespace=self.namespace,
                                           target_namespace=self.namespace, **command)
        if scope:
            request = msgspec.structs.replace(request, asset_id=scope)
            selection = dataclasses.replace(selection, scope=scope)
        return request, selection

    def send_command(self, assets, *, role: str = "operator", **command):
        """Check, record (with its audit row) and publish a command: (request, selection), or raise CommandRefused."""
        from streams.command_cmd import send_command
        from streams.commands import CommandRefused
        from streams.kafka import BrokerUnavailable, EventProducer

        request, selection = self.check_command(assets, role=role, **command)
        if self.bootstrap is None:
            raise CommandRefused("broker")
        store = self.store()
        with self._send_lock:
            try:
                if self._producer is None:
                    self._producer = EventProducer.connect(self.bootstrap, self.namespace)
                send_command(store, self._producer, request, selection, namespace=self.namespace, role=role)
            except BrokerUnavailable:
                self._producer = None
                raise CommandRefused("broker") from None
        return request, selection

    # -- health and KPIs --------------------------------------------------------------------

    def health(self) -> Health:
        """The newest sign of life (processor batch, last event, last state update) and the per-topic table."""
        feeds = self._rows(sa.select(s.stream_health).order_by(s.stream_health.c.topic))
        if feeds is None:
            return Health(store_ok=False, last_activity_ms=None)
        latest = self._rows(sa.select(sa.func.max(s.asset_state.c.last_updated)))
        stamps = [f.get(k) for f in feeds for k in ("updated_ms", "last_event_ts")]
        stamps.append(list(latest[0].values())[0] if latest else None)
        now = int(time.time() * 1000)
        events = [int(f["last_event_ts"]) for f in feeds if f.get("last_event_ts")]
        stamps = [int(v) for v in stamps if v is not None and 0 < v <= now + 60_000]
        return Health(store_ok=True, last_activity_ms=max(stamps) if stamps else None, feeds=tuple(feeds),
                      last_event_ms=max(events) if events else None)

    def severity_counts(self) -> dict[str, int]:
        """Active top-level alerts per severity."""
        al = s.alerts
        rows = self._rows(sa.select(al.c.severity, sa.func.count().label("n"))
                          .where(al.c.state.in_(ACTIVE_STATES), al.c.parent_id.is_(None)).group_by(al.c.severity))
        counts = {sev: 0 for sev in SEVERITIES}
        for r in rows or []:
            if r["severity"] in counts:
                counts[r["severity"]] = int(r["n"])
        return counts

    def kpi_headline(self, inventory_assets=None) -> list[Kpi]:
        """Headline contract KPIs of the current month against their targets (computed at most once a minute).

        The figures are the manager page's (`kpi_page("month", ...)`); a value stays None
        (shown as '—') while the engine has no data for it or cannot run.
        """
        now = time.monotonic()
        if self._kpis is not None and now - self._kpis[0] < _KPI_TTL_S:
            return self._kpis[1]
        results: dict = {}
        if inventory_assets is not None:
            try:
                page = self.kpi_page("month", None, inventory_assets)
                results = {r.key: r for r in page.results} if page else {}
            except Exception as exc:  # the KPI engine must never take the room down with it
                log.warning("KPI headline unavailable: %s", exc)
        kpis = []
        for key, default_target in _HEADLINE:
            r = results.get(key)
            target = r.target if r is not None and r.target is not None else default_target
            kpis.append(Kpi(key, None if r is None else r.value, float(target)))
        self._kpis = (now, kpis)
        return kpis

    # -- contract KPIs (manager page) -------------------------------------------------------

    def contract(self):
        """The performance contract (the bundled OnDijon-like one), loaded once."""
        if self._contract is None:
            from streams.contract import DEFAULT_CONTRACT, load_contract

            self._contract = load_contract(DEFAULT_CONTRACT)
        return self._contract

    def now(self):
        """The KPIs' current time (UTC pd.Timestamp)."""
        import pandas as pd

        return pd.Timestamp(self.clock()) if self.clock is not None else pd.Timestamp.now(tz="UTC")

    def kpi_frames(self, inventory_assets):
        """The KPI engine's frames over the whole contract up to now, read at most once a minute, None without store.

        One read serves every period (the energy scan is most of its cost); concurrent callers wait for it.
        """
        with self._kpi_lock:
            if self._frames is not None and time.monotonic() - self._frames[0] < _KPI_TTL_S:
                return self._frames[1]
            store = self.store()
            if store is None:
                return None
            import pandas as pd

            from streams.kpi_store import read_frames

            contract = self.contract()
            start = pd.Timestamp(contract.start, tz=contract.timezone).tz_convert("UTC")
            frames = read_frames(store, contract, inventory_assets, as_of=self.now(), since=start)
            self._frames = (time.monotonic(), frames)
            self._pages.clear()
            return frames

    def kpi_months(self, inventory_assets) -> list[str]:
        """Months (YYYY-MM) from the first fact in the store to now, newest first (the current month when empty)."""
        frames = self.kpi_frames(inventory_assets)
        contract = self.contract()
        last = self.now().tz_convert(contract.timezone).tz_localize(None).to_period("M")
        first = _first_fact(frames)
        first = last if first is None else max(first.tz_convert(contract.timezone).tz_localize(None).to_period("M"),
                                                _pd_period(contract.start))
        return [str(m) for m in reversed(list(_month_range(first, last)))]

    def kpi_page(self, kind: str, month: str | None, inventory_assets) -> "KpiPage | None":
        """Every KPI of a period (`month`, `quarter`, `year`, `contract` holding `month`, default now) and its trend.

        The trend runs month by month over the twelve months that end with the period (the whole
        year or contract for those kinds); None while the store cannot be reached.
        """
        frames = self.kpi_frames(inventory_assets)
        if frames is None:
            return None
        if not month:
            month = f"{frames.as_of.tz_convert(self.contract().timezone):%Y-%m}"
        key = (kind, month, frames.as_of)
        page = self._pages.get(key)
        if page is None:
            page = _kpi_page(self.contract(), frames, kind, month)
            with self._kpi_lock:
                self._pages[key] = page
        return page


@dataclass(frozen=True)
class KpiPage:
    """The contract KPIs of one period as the manager page and the monthly report show them."""

    period: object  # streams.kpi_periods.Period
    as_of: object  # pd.Timestamp the figures are measured up to
    results: tuple  # streams.kpi.KpiResult, in the engine's order
    history: object  # pd.DataFrame of streams.kpi.kpi_history, one row per month of the trend
    contract: object  # streams.contract.Contract

    def result(self, key: str):
        """The KPI of a key, None if unknown."""
        return next((r for r in self.results if r.key == key), None)


_HEADLINE = (("energy_saving", 65.0), ("it_availability", 99.0), ("interventions_on_time", 95.0))
_KPI_TTL_S = 60.0


def _pd_period(day):
    import pandas as pd

    return pd.Period(f"{day:%Y-%m}", "M")


def _month_range(first, last):
    while first <= last:
        yield first
        first += 1


def _first_fact(frames):
    """The earliest fact of the frames (energy, state, incident or outage), None when they are empty."""
    if frames is None:
        return None
    import pandas as pd

    firsts = [pd.to_datetime(col, utc=True).min() for col in (
        frames.energy["hour"], frames.states["start"], frames.incidents["opened"], frames.outages["start"])
        if len(col)]
    firsts = [t for t in firsts if not pd.isna(t)]
    return min(firsts) if firsts else None


def _kpi_page(contract, frames, kind: str, month: str | None) -> KpiPage:
    """Compute a KpiPage from frames (the engine's numbers, untouched)."""
    import pandas as pd

    from streams.kpi import compute_kpis, kpi_history
    from streams.kpi_periods import Period, contract_to_date, month as month_period, parse_month, period

    at = parse_month(month) if month else frames.as_of.tz_convert(contract.timezone).date()
    p = period(contract, kind, at)
    first = pd.Period(f"{at:%Y-%m}", "M") - 11
    try:
        span_start = month_period(contract, first.year, first.month).start
    except ValueError:
        span_start = contract_to_date(contract, at.year, at.month).start
    span_start = min(span_start, p.start)
    results = compute_kpis(frames, contract, p)
    history = kpi_history(frames, contract, Period("span", span_start, p.end, f"{first} → {p.label}"))
    return KpiPage(p, min(frames.as_of, p.end), tuple(results), history, contract)
