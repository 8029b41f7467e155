"""The alert engine: live asset state and alerts in memory, driven by events and event-time timers.

It applies `streams.rules` to each event and keeps what the rules cannot see alone: one
active alert per (rule, asset) with its occurrences counted, flapping, topology (a cabinet
supply loss absorbs the alerts of its lamps), fusion of citizen reports into equipment
alerts, communication loss, feeds going down and escalation. It does no I/O: the processor
loads it from the store, feeds it batches, and writes what `drain()` returns in one
transaction with the batch's offsets.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import msgspec
import orjson

from .privacy import contact_rows
from .rules import RuleSet, Signal, escalation_of, evaluate, is_flapping, nearest_within, report_decision, worse
from .schemas import (
    CabinetMetering,
    CameraHealth,
    CommandAck,
    Event,
    IncidentReport,
    LampFault,
    LampTelemetry,
    SignalFault,
    SignalStatus,
    WeatherObservation,
)
from .timer_queue import TimerQueue

__all__ = ["COMMAND_TIMEOUT_RULE", "SYSTEM", "Alert", "AlertEngine", "AssetMeta", "AssetRecord", "Outbox"]

SYSTEM = "system"
HOUR_MS = 3_600_000
# event type -> (asset kind, the base state the event gives its asset, or None when it leaves it alone)
_TYPE_INFO: dict[type, tuple[str, Callable[[Any], str] | None]] = {
    LampTelemetry: ("light", operator.attrgetter("power_state")), LampFault: ("light", None),
    CabinetMetering: ("cabinet", lambda e: "on" if e.lamps_on > 0 else "off"),
    SignalStatus: ("signal", operator.attrgetter("mode")), SignalFault: ("signal", None),
    CameraHealth: ("camera", operator.attrgetter("state")), WeatherObservation: ("weather", lambda e: "ok"),
}
# Base states that say more than "fault" on the map.
_TELLING_STATES = frozenset({"flashing", "dark", "fault", "offline", "videoLoss", "tamper"})
_ACTIVE = ("open", "acknowledged", "in_progress")
COMMAND_TIMEOUT_RULE = "command_timeout"
_FINAL_ACKS = frozenset({"done", "failed", "rejected", "expired"})


@dataclass(slots=True)
class AssetMeta:
    """What the inventory says of an asset."""

    kind: str
    lat: float | None = None
    lon: float | None = None
    cabinet_id: str | None = None
    commune_code: str | None = None
    period_s: float | None = None


class AssetRecord(msgspec.Struct, gc=False):
    """An asset's live state (Home Assistant's State shape) and what the rules remember of it.

    One per asset seen, hundreds of thousands at 10x Dijon, alive for the whole run: `gc=False` keeps
    them out of the garbage collector's passes (2 us of CPU per event at 10x when they were in). A
    record holds scalars, the last event (itself untracked) or its attributes, and dicts of lists of
    rule ids and times, none of which refers back to a record: it cannot be part of a cycle.
    """

    asset_id: str
    kind: str
    state: str
    base: str
    attrs: Any
    last_changed: int  # when the current state began: the start of the current interval
    last_updated: int
    last_seen: int
    faults: dict[str, list[str]] = msgspec.field(default_factory=dict)
    toggles: dict[str, list[int]] = msgspec.field(default_factory=dict)
    meter: float | None = None
    watched: bool = False


@dataclass(slots=True)
class Alert:
    """An alert as the engine holds it while active."""

    id: int
    rule: str
    asset_id: str
    domain: str
    severity: str
    priority: str | None
    state: str
    title: str
    opened_ts: int
    last_ts: int
    due_ts: int | None
    count: int = 1
    parent_id: int | None = None
    flapping: bool = False
    escalated: bool = False
    lat: float | None = None
    lon: float | None = None
    commune_code: str | None = None
    details: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The alert as a row of the alerts table."""
        return {
            "id": self.id, "rule": self.rule, "asset_id": self.asset_id, "domain": self.domain,
            "severity": self.severity, "priority": self.priority, "state": self.state, "title": self.title,
            "opened_ts": self.opened_ts, "last_ts": self.last_ts, "due_ts": self.due_ts, "count": self.count,
            "parent_id": self.parent_id, "flapping": self.flapping, "escalated": self.escalated,
            "lat": self.lat, "lon": self.lon, "commune_code": self.commune_code, "details": dict(self.details),
        }

    @classmethod
    def from_row(cls, row: dict) -> "Alert":
        """An alert from a row of the alerts table."""
        names = cls.__dataclass_fields__
        alert = cls(**{k: row[k] for k in names if k in row and k != "details"})
        alert.details = dict(row.get("details") or {})
        return alert


@dataclass
class Outbox:
    """What changed since the last drain, in the shape the store writes."""

    records: dict[str, AssetRecord] = field(default_factory=dict)
    intervals: dict[tuple[str, int], dict] = field(default_factory=dict)
    new_alerts: dict[int, Alert] = field(default_factory=dict)
    changed_alerts: dict[int, Alert] = field(default_factory=dict)
    transitions: list[dict] = field(default_factory=list)
    resolutions: list[dict] = field(default_factory=list)
    energy: dict[tuple[str, int], list] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)
    contacts: dict[str, dict] = field(default_factory=dict)  # reporters' contacts: stored apart (streams.privacy)
    command_updates: list[dict] = field(default_factory=list)

    def asset_rows(self) -> list[dict]:
        """Asset-state rows to upsert."""
        return [_state_row(r) for r in self.records.values()]

    def energy_rows(self) -> list[dict]:
        """Energy increments to add per cabinet and hour."""
        return [{"cabinet_id": c, "hour_ts": h, "kwh": v[0], "lamp_kwh": v[1], "readings": v[2]}
                for (c, h), v in self.energy.items()]

    def alert_updates(self) -> list[dict]:
        """Processor-owned columns of alerts changed (not created) in the batch."""
        return [a.row() for a in self.changed_alerts.values() if a.id not in self.new_alerts]

    def alert_inserts(self) -> list[dict]:
        """Rows of alerts created in the batch, as they stand, but open: resolutions apply after."""
        return [{**a.row(), "state": "open"} for a in self.new_alerts.values()]


_encode = msgspec.json.encode


def _owns_all(_asset_id: str) -> bool:
    return True


def _state_row(r: AssetRecord) -> dict:
    """The asset-state row, its JSON columns already encoded (the last event as it came, and the faults)."""
    attrs = r.attrs
    if isinstance(attrs, msgspec.Struct):
        attrs = _encode(attrs).decode()
    elif attrs is not None:
        attrs = orjson.dumps(attrs).decode()
    faults = orjson.dumps({"active": r.faults, "toggles": r.toggles}).decode() if (r.faults or r.toggles) else None
    return {"asset_id": r.asset_id, "kind": r.kind, "state": r.state, "attributes": attrs, "faults": faults,
            "last_changed": r.last_changed, "last_updated": r.last_updated, "last_seen": r.last_seen}


def _loads(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


class AlertEngine:
    """Live state and alert book of one namespace, in memory, with no I/O."""

    def __init__(self, rules: RuleSet, *, namespace: str = "live", inventory: Iterable[dict] = (),
                 alert_ids: Callable[[], int] | None = None) -> None:
        self.rules = rules
        self.namespace = namespace
        self._next_id = alert_ids or itertools.count(1).__next__
        self.meta: dict[str, AssetMeta] = {}
        self.lamps_of: dict[str, list[str]] = {}
        self.records: dict[str, AssetRecord] = {}
        self.active: dict[tuple[str, str], Alert] = {}
        self.by_id: dict[int, Alert] = {}
        self.children: dict[int, set[int]] = {}
        self.pending_clear: set[int] = set()
        self.feed_last: dict[str, int] = {}
        self.feed_since: dict[str, int] = {}  # when a feed came back after being down
        self.down_feeds: set[str] = set()
        self._lost = rules.comm_loss.rule
        self.start_ts: int | None = None  # event time this process started watching from
        self.watermark = 0
        self.outbox = Outbox()
        self._timers = TimerQueue()  # (deadline, asset id): communication loss
        self._periods: dict[str, int] = {}  # watched inventory asset -> its silence before it is lost, in ms
        self._parked: dict[str, list[tuple[int, str]]] = {}
        self._escalations: list[tuple[int, int]] = []
        self.due: float = math.inf  # event time of the next timer: apply() runs tick() once an event passes it
        # No feed can be down before it: a lower bound, as feeds' clocks only move on (set by _next_due).
        self._feed_due: float = -math.inf
        # With several processors in a group: does this one own the asset (its partition)? None: all.
        # Timers (communication loss, flapping settled, escalation, feed down) run only for owned assets.
        self.owns: Callable[[str], bool] | None = None
        self._eq_rules = {r.id for r in rules.equipment}
        # event type -> (its rules' one field, the values that field must take for any of them to fire)
        # on an asset with no condition held: a reading out of them needs no evaluation.
        self._triggers: dict[type, tuple[Callable[[Any], Any], frozenset]] = {}
        for cls, equipment in rules.by_type.items():
            fields = {r.field for r in equipment}
            if len(fields) == 1:
                self._triggers[cls] = (operator.attrgetter(fields.pop()),
                                       frozenset(v for r in equipment for v in r.values))
        self._absorbed_by = {child: r for r in rules.equipment for child in r.absorbs}
        self._watch = {kind: spec for kind, spec in rules.comm_loss.kinds.items()}
        self._feed_kinds: dict[str, list[str]] = {}
        # (feed, its feed-down alert key, silence in ms before the feed counts as down)
        self._feed_down_keys = [(feed, (rules.feed_down.rule, self._feed_topic(feed)), int(silent_s * 1000))
                                for feed, silent_s in rules.feed_down.silent_after_s.items()]
        for kind, spec in self._watch.items():
            self._feed_kinds.setdefault(spec["feed"], []).append(kind)
        self.load_inventory(inventory)

    # -- loading -------------------------------------------------------------------------------

    def load_inventory(self, rows: Iterable[dict]) -> None:
        """Learn assets from inventory rows (asset_id, kind, lat, lon, cabinet_id, commune_code, period_s)."""
        for row in rows:
            period = row.get("period_s")
            meta = AssetMeta(row["kind"], row.get("lat"), row.get("lon"), row.get("cabinet_id") or None,
                             row.get("commune_code"), float(period) if period else None)
            self.meta[row["asset_id"]] = meta
            if meta.kind == "light" and meta.cabinet_id:
                self.lamps_of.setdefault(meta.cabinet_id, []).append(row["asset_id"])
        # Worked out once: watch_inventory then sets every never-seen asset's timer in one pass, and
        # the timers read them each time they move on.
        self._periods = {asset_id: self._silence_ms(meta, meta.kind)
                         for asset_id, meta in self.meta.items() if meta.kind in self._watch}

    def warm_start(self, states: Iterable[dict], alerts: Iterable[dict],
                   feed_last: dict[str, int] | None = None) -> None:
        """Restore what the store holds: asset states (each in its state since last_changed), active alerts,
        feed clocks."""
        for row in states:
            faults = _loads(row.get("faults")) or {}
            attrs = _loads(row.get("attributes")) or {}
            base = _base_of(row["kind"], attrs, row["state"])
            rec = AssetRecord(row["asset_id"], row["kind"], row["state"], base, attrs,
                              row["last_changed"], row["last_updated"], row["last_seen"],
                              {k: list(v) for k, v in (faults.get("active") or {}).items()},
                              {k: list(v) for k, v in (faults.get("toggles") or {}).items()},
                              _meter_of(row["kind"], attrs))
            self.records[rec.asset_id] = rec
        for row in alerts:
            self._track(Alert.from_row(row))
        for alert in self.by_id.values():
            if alert.details.get("pending_clear_ts") is not None:
                self.pending_clear.add(alert.id)
            if alert.rule == self.rules.feed_down.rule and "feed" in alert.details:
                self.down_feeds.add(alert.details["feed"])
        self.feed_last.update(feed_last or {})
        self._feed_due = -math.inf  # the feeds' clocks were set: the next pass computes it again
        self.due = self._next_due()

    def _track(self, alert: Alert) -> None:
        self.active[(alert.rule, alert.asset_id)] = alert
        self.by_id[alert.id] = alert
        if alert.state == "open":
            self._schedule_escalation(alert)
        if alert.parent_id is not None:
            self.children.setdefault(alert.parent_id, set()).add(alert.id)

    # -- events --------------------------------------------------------------------------------

    def apply(self, event: Event, feed: str) -> None:
        """Apply one valid event read from a feed (topic suffix, e.g. `lighting.telemetry`)."""
        failed = self.apply_many(((event, feed),))
        if failed:
            raise failed[0][1]

    def apply_many(self, pairs: Iterable[tuple[Event, str]]) -> list[tuple[int, Exception]]:
        """Apply valid events `(event, feed)` in order; return `(index, error)` of those that failed.

        An event that fails leaves the others applied: a bug on one event must not stop the room.
        The loop holds the engine's tables in locals: it runs once per event of the stream.
        """
        failed = []
        records, feed_last, out_records = self.records, self.feed_last, self.outbox.records
        type_info, triggers, watch, lost, rules = _TYPE_INFO, self._triggers, self._watch, self._lost, self.rules
        meter, on_signal, refresh = self._meter, self._on_signal, self._refresh_state
        for i, (event, feed) in enumerate(pairs):
            try:
                ts = event.ts
                if ts > self.due:
                    self.tick(ts)
                if ts > self.watermark:
                    self.watermark = ts
                last = feed_last.get(feed)
                if last is None or ts > last:
                    feed_last[feed] = ts
                    if self._parked:
                        parked = self._parked.get(feed)
                        if parked and parked[0][0] < ts:
                            self.due = min(self.due, ts)  # the feed speaks again: its silent assets are now lost
                if self.down_feeds and feed in self.down_feeds:
                    self._feed_back(feed, ts)
                info = type_info.get(type(event))
                if info is None:
                    if isinstance(event, IncidentReport):
                        self._report(event)
                    elif isinstance(event, CommandAck):
                        self._command_ack(event)
                    continue  # bus priority: counted in stream health only
                kind, base_of = info
                asset_id = event.asset_id
                rec = records.get(asset_id)
                if rec is None:
                    rec = self._new_record(event, kind)
                elif ts >= rec.last_seen:
                    rec.last_seen = ts
                if base_of is not None:
                    if kind == "light" or kind == "cabinet":
                        meter(rec, event)
                    rec.attrs = event
                    rec.base = base_of(event)
                    rec.last_updated = ts
                out_records[asset_id] = rec
                faults = rec.faults
                if faults and lost in faults:
                    on_signal(Signal(lost, asset_id, False, "silent", ts, level=True), rec)
                trigger = triggers.get(type(event)) if not faults else None
                if trigger is None or trigger[0](event) in trigger[1]:
                    for sig in evaluate(event, faults, rules):
                        on_signal(sig, rec)
                if faults or rec.state != rec.base:
                    refresh(rec, ts)
                if not rec.watched and kind in watch:
                    self._watch_asset(rec)
            except Exception as exc:  # noqa: BLE001 - reported to the caller with the event's index
                failed.append((i, exc))
        return failed

    def _new_record(self, event: Event, kind: str) -> AssetRecord:
        meta = self.meta.get(event.asset_id)
        rec = AssetRecord(event.asset_id, meta.kind if meta else kind, "unknown", "unknown", None, event.ts,
                          event.ts, event.ts)
        if (meta is not None and self.start_ts is not None and meta.kind in self._watch
                and (self.owns is None or self.owns(rec.asset_id))):
            rec.watched = True  # its timer is already set (watch_inventory): one timer per asset
        self.records[rec.asset_id] = rec
        return rec

    def _meter(self, rec: AssetRecord, event: Event) -> None:
        if type(event) is LampTelemetry:
            value, scale, slot = event.energy_wh, 0.001, 1
            cabinet = event.cabinet_id
            if not cabinet:
                meta = self.meta.get(rec.asset_id)
                cabinet = (meta.cabinet_id if meta else None) or "-"
        elif type(event) is CabinetMetering:
            value, scale, slot, cabinet = event.energy_kwh, 1.0, 0, rec.asset_id
        else:
            return
        prev, rec.meter = rec.meter, value
        if prev is None:
            return
        delta = value - prev if value >= prev else value  # a smaller reading: the meter was reset
        key = (cabinet, event.ts - event.ts % HOUR_MS)
        acc = self.outbox.energy.get(key)
        if acc is None:
            acc = self.outbox.energy[key] = [0.0, 0.0, 0]
        acc[slot] += delta * scale
        acc[2] += 1

    def _refresh_state(self, rec: AssetRecord, ts: int) -> None:
        faults = rec.faults
        if not faults:
            state = rec.base
        elif self.rules.comm_loss.rule in faults:
            state = "offline"
        elif rec.base in _TELLING_STATES:
            state = rec.base
        elif any(r in self._eq_rules for r in faults):
            state = "fault"
        else:
            state = "alert"
        if state == rec.state:
            return
        if ts > rec.last_changed:  # the interval ends: stored closed (the current one is the asset's state)
            self.outbox.intervals[(rec.asset_id, rec.last_changed)] = {
                "asset_id": rec.asset_id, "start_ts": rec.last_changed, "end_ts": ts, "state": rec.state}
            rec.last_changed = ts
        rec.state = state  # an event older than the current interval changes the state from its start
        self.outbox.records[rec.asset_id] = rec

    # -- conditions and alerts -----------------------------------------------------------------

    def _on_signal(self, sig: Signal, rec: AssetRecord | None) -> None:
        key = (sig.rule, sig.asset_id)
        alert = self.active.get(key)
        if sig.active:
            if rec is not None:
                if sig.level:
                    rec.faults[sig.rule] = [sig.value]
                elif sig.value not in rec.faults.setdefault(sig.rule, []):
                    rec.faults[sig.rule].append(sig.value)
            if alert is not None:
                alert.count += 1
                alert.last_ts = max(alert.last_ts, sig.ts)
                if worse(alert.severity, sig.severity) != alert.severity:
                    alert.severity = sig.severity
                    self._schedule_escalation(alert)
                alert.details["value"] = sig.value
                if alert.details.pop("pending_clear_ts", None) is not None:
                    self.pending_clear.discard(alert.id)
                    self._toggle(rec, sig)
                self._changed(alert)
            else:
                self._toggle(rec, sig)
                self._open(sig)
            return
        if rec is not None:
            values = rec.faults.get(sig.rule, [])
            if not sig.level and sig.value in values:
                values.remove(sig.value)
            if values and not sig.level:
                return  # other values of the condition still hold
            rec.faults.pop(sig.rule, None)
        if alert is None:
            return
        toggles = self._toggle(rec, sig)
        if alert.flapping or (toggles is not None and is_flapping(toggles, sig.ts, self.rules)):
            alert.flapping = True
            alert.details["pending_clear_ts"] = sig.ts
            self.pending_clear.add(alert.id)
            self.due = min(self.due, sig.ts + int(self.rules.flap_settle_s * 1000))
            self._changed(alert)
        else:
            self._resolve(alert, sig.ts, "condition cleared")

    def _toggle(self, rec: AssetRecord | None, sig: Signal) -> list[int] | None:
        if rec is None:
            return None
        floor = sig.ts - int(self.rules.flap_window_s * 1000)
        toggles = [t for t in rec.toggles.get(sig.rule, ()) if t >= floor]
        toggles.append(sig.ts)
        rec.toggles[sig.rule] = toggles[-(self.rules.flap_toggles * 2):]
        return toggles

    def _open(self, sig: Signal, *, lat=None, lon=None, commune_code=None, details=None) -> Alert:
        meta = self.meta.get(sig.asset_id)
        if meta is not None and lat is None:
            lat, lon, commune_code = meta.lat, meta.lon, meta.commune_code
        alert = Alert(self._next_id(), sig.rule, sig.asset_id, sig.domain, sig.severity, sig.priority, "open",
                      sig.title, sig.ts, sig.ts, self.rules.due_ts(sig.priority, sig.ts), lat=lat, lon=lon,
                      commune_code=commune_code, details={"value": sig.value, **(details or {})})
        parent_rule = self._absorbed_by.get(sig.rule)
        if parent_rule is not None and meta is not None and meta.cabinet_id:
            parent = self.active.get((parent_rule.id, meta.cabinet_id))
            if parent is not None:
                alert.parent_id = parent.id
        self._track(alert)
        self.outbox.new_alerts[alert.id] = alert
        self._transition(alert, "open", None, sig.ts)
        if alert.parent_id is not None:
            self._absorb(self.by_id[alert.parent_id], 1)
        rule = self.rules.equipment_rule(sig.rule)
        if rule is not None and rule.absorbs:
            self._adopt(alert, rule.absorbs)
        return alert

    def _adopt(self, parent: Alert, rules: Iterable[str]) -> None:
        adopted = 0
        for lamp in self.lamps_of.get(parent.asset_id, ()):
            for rule in rules:
                child = self.active.get((rule, lamp))
                if child is not None and child.parent_id is None:
                    child.parent_id = parent.id
                    self.children.setdefault(parent.id, set()).add(child.id)
                    self._changed(child)
                    adopted += 1
        if adopted:
            self._absorb(parent, adopted)

    def _absorb(self, parent: Alert, n: int) -> None:
        parent.details["absorbed"] = parent.details.get("absorbed", 0) + n
        self._changed(parent)

    def _changed(self, alert: Alert) -> None:
        self.outbox.changed_alerts[alert.id] = alert

    def _transition(self, alert: Alert, action: str, from_state: str | None, ts: int, comment: str | None = None,
                    actor: str = SYSTEM) -> None:
        self.outbox.transitions.append({
            "alert_id": alert.id, "action": action, "from_state": from_state, "to_state": alert.state,
            "severity": alert.severity, "ts": ts, "actor": actor, "comment": comment})

    def _resolve(self, alert: Alert, ts: int, comment: str) -> None:
        self.outbox.resolutions.append({"id": alert.id, "ts": ts, "actor": SYSTEM, "from_state": alert.state,
                                        "severity": alert.severity, "comment": comment})
        self._forget(alert)
        alert.state = "resolved"
        for child_id in sorted(self.children.pop(alert.id, ())):
            child = self.by_id.get(child_id)
            if child is not None:
                self._drop_condition(child)
                self._resolve(child, ts, f"with parent alert {alert.id}")

    def _forget(self, alert: Alert) -> None:
        self.active.pop((alert.rule, alert.asset_id), None)
        self.by_id.pop(alert.id, None)
        self.pending_clear.discard(alert.id)
        if alert.parent_id is not None:
            self.children.get(alert.parent_id, set()).discard(alert.id)

    def _drop_condition(self, alert: Alert) -> None:
        rec = self.records.get(alert.asset_id)
        if rec is not None and rec.faults.pop(alert.rule, None) is not None:
            self.outbox.records[rec.asset_id] = rec
            self._refresh_state(rec, max(self.watermark, rec.last_changed))

    # -- citizen reports -----------------------------------------------------------------------

    def _report(self, report: IncidentReport) -> None:
        rules = self.rules
        category, due = report_decision(report, rules)
        key = (rules.report_rule, report.asset_id)
        known = self.outbox.reports.get(report.asset_id)
        row = {"report_id": report.asset_id, "category": report.category, "source": report.source,
               "status": report.status, "lat": report.lat, "lon": report.lon, "description": report.description,
               "address": report.address, "external_id": report.external_id, "asset_ref": report.asset_ref,
               "requested_ts": known["requested_ts"] if known else report.ts, "updated_ts": report.ts,
               "alert_id": known["alert_id"] if known else None, "fused": known["fused"] if known else False}
        self.outbox.reports[report.asset_id] = row
        for contact in contact_rows((report,)):
            self.outbox.contacts[report.asset_id] = contact
        own = self.active.get(key)
        if report.status == "closed":
            if own is not None:
                self._resolve(own, report.ts, "report closed")
            return
        if own is not None:
            row["alert_id"] = own.id
            return
        target = self._fusion_target(report, category.fuse_with)
        if target is not None:
            target.count += 1
            target.last_ts = max(target.last_ts, report.ts)
            target.details["reports"] = [*target.details.get("reports", []), report.asset_id][-50:]
            self._changed(target)
            self._transition(target, "fuse", target.state, report.ts, f"citizen report {report.asset_id}")
            row.update(alert_id=target.id, fused=True)
            return
        sig = Signal(rules.report_rule, report.asset_id, True, report.category, report.ts, category.severity,
                     category.priority, rules.report_domain, "Report: " + report.category.replace("_", " "))
        alert = self._open(sig, lat=report.lat, lon=report.lon, details={"source": report.source})
        alert.due_ts = due
        row["alert_id"] = alert.id

    def _fusion_target(self, report: IncidentReport, rules: tuple[str, ...]) -> Alert | None:
        if not rules:
            return None
        wanted = set(rules)
        if report.asset_ref:
            for rule in rules:
                alert = self.active.get((rule, report.asset_ref))
                if alert is not None:
                    return self.by_id.get(alert.parent_id, alert) if alert.parent_id else alert
        candidates = ((a, a.lat, a.lon) for a in self.active.values() if a.rule in wanted)
        alert = nearest_within(report.lat, report.lon, candidates, self.rules.fusion_distance_m)
        if alert is not None and alert.parent_id is not None:
            alert = self.by_id.get(alert.parent_id, alert)
        return alert

    # -- remote-control commands ---------------------------------------------------------------

    def _command_ack(self, ack: CommandAck) -> None:
        self.outbox.command_updates.append({"command_id": ack.command_id, "status": ack.status,
                                            "applied": ack.applied, "detail": ack.detail, "ack_ts": ack.ts})
        if ack.status in _FINAL_ACKS:
            late = self.active.get((COMMAND_TIMEOUT_RULE, ack.command_id))
            if late is not None:
                self._resolve(late, ack.ts, f"acknowledged late: {ack.status}")

    def command_timeouts(self, rows: Iterable[dict], timeout_s: float) -> None:
        """Mark commands (store rows) unacknowledged after `timeout_s` timed out and raise a major alert each."""
        for row in rows:
            at = int(row["sent_ts"] + timeout_s * 1000)
            self.outbox.command_updates.append({"command_id": row["command_id"], "status": "timed_out",
                                                "detail": f"no acknowledgement within {timeout_s:g} s", "ack_ts": at})
            if (COMMAND_TIMEOUT_RULE, row["command_id"]) in self.active:
                continue
            lamp = row["action"] in ("dim", "switch_on", "switch_off")
            meta = next((self.meta[t] for t in row.get("targets") or () if t in self.meta), None)
            sig = Signal(COMMAND_TIMEOUT_RULE, row["command_id"], True, row["action"], at, "major", None,
                         "lighting" if lamp else "traffic",
                         f"Command not acknowledged: {row['action']} {row['scope']}"[:200], True)
            self._open(sig, lat=meta.lat if meta else None, lon=meta.lon if meta else None,
                       commune_code=meta.commune_code if meta else None,
                       details={"scope": row["scope"], "user": row["user"], "count": row["count"]})

    # -- timers --------------------------------------------------------------------------------

    def _feed_back(self, feed: str, ts: int) -> None:
        self.down_feeds.discard(feed)
        down = self.active.get((self.rules.feed_down.rule, self._feed_topic(feed)))
        if down is not None:
            self._resolve(down, ts, "events flow again")
            self.feed_since[feed] = ts
            self._rewatch(set(self._feed_kinds.get(feed, ())), ts)

    def _rewatch(self, kinds: set[str], since: int) -> None:
        lost = self.rules.comm_loss.rule
        owns = self.owns or _owns_all
        for asset_id, meta in self.meta.items():
            if meta.kind in kinds and asset_id not in self.records and owns(asset_id):
                self._timers.push((since + self._period_ms(asset_id, meta.kind), asset_id))
        for rec in self.records.values():
            if rec.kind in kinds and not rec.watched and lost not in rec.faults and owns(rec.asset_id):
                rec.watched = True
                self._timers.push((max(rec.last_seen, since) + self._period_ms(rec.asset_id, rec.kind),
                                   rec.asset_id))
        self.due = self._next_due()

    def _feed_topic(self, feed: str) -> str:
        return f"{self.namespace}.{feed}"

    def _period_ms(self, asset_id: str, kind: str) -> int:
        period = self._periods.get(asset_id)
        return period if period is not None else self._silence_ms(self.meta.get(asset_id), kind)

    def _silence_ms(self, meta: AssetMeta | None, kind: str) -> int:
        """How long an asset may stay silent before it is lost: its period (else its kind's) times the factor."""
        period = meta.period_s if meta and meta.period_s else self._watch[kind]["period_s"]
        return int(period * self.rules.comm_loss.factor * 1000)

    def _watch_asset(self, rec: AssetRecord) -> None:
        rec.watched = True
        deadline = rec.last_seen + self._period_ms(rec.asset_id, rec.kind)
        self._timers.push((deadline, rec.asset_id))
        self.due = min(self.due, deadline)

    def watch_inventory(self, start_ts: int) -> None:
        """Watch every inventory asset of a watched kind, counting never-seen ones as seen at start_ts."""
        self.start_ts = start_ts
        owns, records, lost, push = self.owns, self.records, self.rules.comm_loss.rule, self._timers.push
        for asset_id, period in self._periods.items():
            if owns is not None and not owns(asset_id):
                continue
            rec = records.get(asset_id)
            if rec is None:
                push((start_ts + period, asset_id))
            elif not rec.watched and lost not in rec.faults:
                rec.watched = True
                push((rec.last_seen + self._period_ms(asset_id, rec.kind), asset_id))
        self._feed_due = -math.inf  # feeds never heard of count from start_ts now
        self.due = self._next_due()

    def tick(self, now: int) -> None:
        """Run the timers at event time `now`: feeds down, communication loss, flapping settled, escalation."""
        rules = self.rules
        if now > self._feed_due:
            self._feeds_down(now)
        timers = self._timers
        cl = rules.comm_loss
        for feed, parked in self._parked.items():
            last = self.feed_last.get(feed, 0)
            while parked and parked[0][0] < last:
                timers.push(heapq.heappop(parked))
        owns = self.owns
        records, watch, feed_since, period_ms = self.records, self._watch, self.feed_since, self._period_ms
        first, replace = timers.first, timers.replace
        while (item := first()) is not None and item[0] < now:
            asset_id = item[1]
            if owns is not None and not owns(asset_id):
                timers.pop()
                continue  # another processor of the group watches it
            rec = records.get(asset_id)
            kind = rec.kind if rec else self.meta[asset_id].kind
            spec = watch[kind]
            seen = rec.last_seen if rec else (self.start_ts or now)
            if feed_since:
                seen = max(seen, feed_since.get(spec["feed"], 0))
            deadline = seen + period_ms(asset_id, kind)
            if deadline >= now:  # seen since: the timer moves on (most timers of a busy stream)
                replace((deadline, asset_id))
                continue
            timers.pop()
            since = feed_since.get(spec["feed"], 0)
            if self.feed_last.get(spec["feed"], 0) <= deadline:
                # Nobody on the feed spoke since: the feed is silent, not the asset (feed_down says so).
                heapq.heappush(self._parked.setdefault(spec["feed"], []), (deadline, asset_id))
                continue
            if rec is None:
                rec = AssetRecord(asset_id, kind, "unknown", "unknown", None, since, since, since)
                self.records[asset_id] = rec
            rec.watched = False
            if cl.rule in rec.faults:
                continue
            sig = Signal(cl.rule, asset_id, True, "silent", deadline, cl.severity_by_kind.get(kind, cl.severity),
                         cl.priority_by_kind.get(kind, cl.priority), spec["domain"], cl.title, True)
            self._on_signal(sig, rec)
            self.outbox.records[asset_id] = rec
            self._refresh_state(rec, deadline)
        owns = owns or _owns_all
        settle = int(rules.flap_settle_s * 1000)
        for alert_id in sorted(self.pending_clear) if self.pending_clear else ():
            alert = self.by_id.get(alert_id)
            if alert is None:
                self.pending_clear.discard(alert_id)
                continue
            if not owns(alert.asset_id):
                continue
            cleared = alert.details.get("pending_clear_ts")
            if cleared is not None and now - cleared >= settle:
                self._resolve(alert, cleared + settle, "stable again after flapping")
        esc = self._escalations
        while esc and esc[0][0] <= now:
            due, alert_id = heapq.heappop(esc)
            alert = self.by_id.get(alert_id)
            if alert is None or alert.parent_id is not None or not owns(alert.asset_id):
                continue
            severity = escalation_of(alert.state, alert.severity, alert.opened_ts, alert.escalated, now, rules)
            if severity is None:
                continue
            at = alert.opened_ts + int(rules.escalate_after_s[alert.severity] * 1000)
            alert.details["escalated_from"] = alert.severity
            alert.escalated = True
            alert.severity = severity
            self._changed(alert)
            self._transition(alert, "escalate", alert.state, at, "unacknowledged too long")
        self.due = self._next_due()

    def _schedule_escalation(self, alert: Alert) -> None:
        after = self.rules.escalate_after_s.get(alert.severity)
        if after is not None and not alert.escalated:
            due = alert.opened_ts + int(after * 1000)
            heapq.heappush(self._escalations, (due, alert.id))
            self.due = min(self.due, due)

    def _next_due(self) -> float:
        """The earliest event time at which a timer has something to do."""
        first = self._timers.first()
        due = min(first[0] if first is not None else math.inf,
                  self._escalations[0][0] if self._escalations else math.inf)
        owns = self.owns or _owns_all
        if self.pending_clear:
            settle = int(self.rules.flap_settle_s * 1000)
            for alert_id in self.pending_clear:
                alert = self.by_id.get(alert_id)
                cleared = alert.details.get("pending_clear_ts") if alert and owns(alert.asset_id) else None
                if cleared is not None:
                    due = min(due, cleared + settle)
        if due <= self._feed_due:
            return due  # no feed can be down before: the feeds' clocks need no pass (most ticks)
        feed_last, start_ts, active = self.feed_last, self.start_ts, self.active
        feed_due = math.inf  # before it, no feed can be down (feeds' last times only move on)
        for feed, key, silent_ms in self._feed_down_keys:
            last = feed_last.get(feed, start_ts)
            if last is None:
                continue
            feed_due = min(feed_due, last + silent_ms)
            if key not in active and owns(key[1]) and last + silent_ms < due:
                due = last + silent_ms
        self._feed_due = feed_due
        return due

    def _feeds_down(self, now: int) -> None:
        """Open one feed-down alert per owned feed silent past its delay, and mark the feed down."""
        fd = self.rules.feed_down
        for feed, key, silent_ms in self._feed_down_keys:
            last = self.feed_last.get(feed, self.start_ts)
            if last is None:
                continue
            topic = key[1]
            if self.owns is not None and not self.owns(topic):
                continue  # the processor owning the topic's name hash watches the feed
            if now - last > silent_ms:
                if key not in self.active:
                    sig = Signal(fd.rule, topic, True, "silent", last + silent_ms, fd.severity,
                                 fd.priority, feed.split(".")[0], f"{fd.title}: {feed}", True)
                    self._open(sig, details={"feed": feed, "last_event_ts": last})
                self.down_feeds.add(feed)

    # -- operators' changes --------------------------------------------------------------------

    def merge_external(self, rows: Iterable[dict]) -> None:
        """Take in alert changes made in the store by others (acknowledged, assigned, resolved, closed)."""
        for row in rows:
            alert = self.by_id.get(row["id"])
            if alert is None:
                continue
            alert.state = row["state"]
            if row["state"] not in _ACTIVE:
                self._forget(alert)
                self._drop_condition(alert)
                for child_id in self.children.pop(alert.id, ()):
                    child = self.by_id.get(child_id)
                    if child is not None:
                        self._forget(child)
                        self._drop_condition(child)

    def drain(self) -> Outbox:
        """What changed since the last drain; starts a new outbox."""
        out, self.outbox = self.outbox, Outbox()
        return out


def _base_of(kind: str, attrs: dict, state: str) -> str:
    if kind == "light" and "power_state" in attrs:
        return attrs["power_state"]
    if kind == "cabinet" and "lamps_on" in attrs:
        return "on" if attrs["lamps_on"] > 0 else "off"
    if kind == "signal" and "mode" in attrs:
        return attrs["mode"]
    if kind == "camera" and "state" in attrs:
        return attrs["state"]
    if kind == "weather" and attrs:
        return "ok"
    return state


def _meter_of(kind: str, attrs: dict) -> float | None:
    if kind == "light":
        return attrs.get("energy_wh")
    if kind == "cabinet":
        return attrs.get("energy_kwh")
    return None
