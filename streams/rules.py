"""Alert rules as configuration (`rules.yaml`), loaded with clear errors, and the pure functions that apply them.

Nothing here touches Kafka or the store: a rule reads one event and the conditions already
active on its asset, and says which condition it raises or clears. The stateful part
(de-duplication, flapping, topology, fusion, timers) is `streams.rules_engine.AlertEngine`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .schemas import EVENT_TYPES, INCIDENT_CATEGORIES, SEVERITIES, Event, IncidentReport, WeatherObservation

__all__ = [
    "DEFAULT_RULES",
    "CommLossRule",
    "EquipmentRule",
    "FeedDownRule",
    "ReportCategory",
    "RuleConfigError",
    "RuleSet",
    "Signal",
    "WeatherRule",
    "comm_loss_deadline",
    "distance_m",
    "escalation_of",
    "evaluate",
    "is_flapping",
    "load_rules",
    "nearest_within",
    "parse_rules",
    "report_decision",
    "worse",
]

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")
PRIORITIES = ("P1", "P2", "P3")
_EARTH_M = 6_371_000.0


class RuleConfigError(ValueError):
    """The rules file is not valid; the message names the file, the place and the problem."""


@dataclass(frozen=True)
class Signal:
    """A rule's verdict on one event: a condition raised (`active`) or cleared on an asset."""

    rule: str
    asset_id: str
    active: bool
    value: str
    ts: int
    severity: str = "minor"
    priority: str | None = None
    domain: str = ""
    title: str = ""
    level: bool = False  # a level replaces the condition's value; an edge adds to its values


@dataclass(frozen=True)
class EquipmentRule:
    """A fault condition read from one field of one event kind."""

    id: str
    event: str
    field: str
    values: tuple[Any, ...]
    domain: str
    severity: str
    title: str
    priority: str | None = None
    active_field: str | None = None
    severity_by_value: Mapping[str, str] = field(default_factory=dict)
    priority_by_value: Mapping[str, str] = field(default_factory=dict)
    absorbs: tuple[str, ...] = ()

    def severity_of(self, value: str) -> str:
        """Severity of the condition for a field value."""
        return self.severity_by_value.get(value, self.severity)

    def priority_of(self, value: str) -> str | None:
        """Contract priority of the condition for a field value."""
        return self.priority_by_value.get(value, self.priority)


@dataclass(frozen=True)
class WeatherRule:
    """A weather threshold with hysteresis: raised past one value, cleared past another."""

    id: str
    field: str
    severity: str
    title: str
    above: float | None = None
    below: float | None = None
    clear_below: float | None = None
    clear_above: float | None = None
    critical_above: float | None = None
    critical_below: float | None = None
    priority: str | None = None
    domain: str = "weather"


@dataclass(frozen=True)
class ReportCategory:
    """How a citizen report of a category becomes an alert."""

    priority: str
    severity: str
    fuse_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommLossRule:
    """Communication loss: an asset silent for `factor` times its period."""

    rule: str
    factor: float
    severity: str
    title: str
    kinds: Mapping[str, Mapping[str, Any]]
    priority: str | None = None
    severity_by_kind: Mapping[str, str] = field(default_factory=dict)
    priority_by_kind: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedDownRule:
    """A whole feed (topic suffix) silent past its delay."""

    rule: str
    severity: str
    title: str
    silent_after_s: Mapping[str, float]
    priority: str | None = None


@dataclass(frozen=True)
class RuleSet:
    """Every rule of a rules file, checked and indexed."""

    due_s: Mapping[str, float]
    equipment: tuple[EquipmentRule, ...]
    weather: tuple[WeatherRule, ...]
    report_rule: str
    report_domain: str
    fusion_distance_m: float
    report_default: ReportCategory
    report_categories: Mapping[str, ReportCategory]
    comm_loss: CommLossRule
    feed_down: FeedDownRule
    flap_toggles: int
    flap_window_s: float
    flap_settle_s: float
    escalate_after_s: Mapping[str, float]
    escalate_raise_to: Mapping[str, str]
    by_event: Mapping[str, tuple[EquipmentRule, ...]] = field(default_factory=dict)
    by_type: Mapping[type, tuple[EquipmentRule, ...]] = field(default_factory=dict)

    def rule_ids(self) -> set[str]:
        """Every rule id an alert can carry."""
        ids = {r.id for r in self.equipment} | {r.id for r in self.weather}
        return ids | {self.report_rule, self.comm_loss.rule, self.feed_down.rule}

    def equipment_rule(self, rule_id: str) -> EquipmentRule | None:
        """The equipment rule of an id, if any."""
        return next((r for r in self.equipment if r.id == rule_id), None)

    def category(self, name: str) -> ReportCategory:
        """The alert settings of a report category."""
        return self.report_categories.get(name, self.report_default)

    def due_ts(self, priority: str | None, opened_ts: int) -> int | None:
        """Due time (epoch ms) of an alert of a priority opened at a time."""
        if priority is None:
            return None
        return opened_ts + int(self.due_s[priority] * 1000)


# -- loading ------------------------------------------------------------------------------------

class _Reader:
    """Reads one mapping of the rules file, raising RuleConfigError with the path of what is wrong."""

    def __init__(self, source: str, where: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise RuleConfigError(f"{source}: {where or 'the file'} must be a mapping, got {type(data).__name__}")
        self.source, self.where, self.data = source, where, data

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, problem: str) -> RuleConfigError:
        """An error about one key."""
        return RuleConfigError(f"{self.source}: {self._path(key)}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, choices: Iterable | None = None):
        """A value of the expected type (and among choices), or the default when absent."""
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise self.fail(key, "is required")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {value!r}")
        if choices is not None and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def child(self, key: str, default: Any = ...) -> "_Reader":
        """The reader of a nested mapping."""
        return _Reader(self.source, self._path(key), self.get(key, dict, default))

    def mapping(self, key: str, choices: Iterable | None = None, *, value_kind=str, keys: Iterable | None = None,
                default: Any = None) -> dict:
        """A flat mapping whose values are of one kind (and among choices)."""
        raw = self.get(key, dict, default if default is not None else {})
        out = {}
        for k, v in raw.items():
            if keys is not None and k not in keys:
                raise self.fail(f"{key}.{k}", f"unknown key; expected one of {', '.join(map(str, keys))}")
            out[k] = _Reader(self.source, self._path(key), raw).get(k, value_kind, choices=choices)
        return out

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Reject keys nobody reads (a typo must not silently disable a rule)."""
        allowed = set(allowed)
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _equipment(r: _Reader, events: set[str]) -> EquipmentRule:
    r.check_keys({"id", "event", "field", "values", "active_field", "domain", "severity", "severity_by_value",
                  "priority", "priority_by_value", "title", "absorbs"})
    values = r.get("values", list)
    if not values:
        raise r.fail("values", "must list at least one value")
    return EquipmentRule(
        id=r.get("id", str), event=r.get("event", str, choices=sorted(events)), field=r.get("field", str),
        values=tuple(values), domain=r.get("domain", str), severity=r.get("severity", str, choices=SEVERITIES),
        title=r.get("title", str), priority=r.get("priority", str, None, choices=PRIORITIES),
        active_field=r.get("active_field", str, None),
        severity_by_value=r.mapping("severity_by_value", SEVERITIES),
        priority_by_value=r.mapping("priority_by_value", PRIORITIES),
        absorbs=tuple(r.get("absorbs", list, [])),
    )


def _weather(r: _Reader) -> WeatherRule:
    r.check_keys({"id", "field", "above", "below", "clear_below", "clear_above", "critical_above", "critical_below",
                  "severity", "priority", "title", "domain"})
    fields = set(WeatherObservation.__struct_fields__)
    rule = WeatherRule(
        id=r.get("id", str), field=r.get("field", str, choices=sorted(fields - {"asset_id", "ts", "v"})),
        severity=r.get("severity", str, choices=SEVERITIES), title=r.get("title", str),
        above=r.get("above", float, None), below=r.get("below", float, None),
        clear_below=r.get("clear_below", float, None), clear_above=r.get("clear_above", float, None),
        critical_above=r.get("critical_above", float, None), critical_below=r.get("critical_below", float, None),
        priority=r.get("priority", str, None, choices=PRIORITIES), domain=r.get("domain", str, "weather"),
    )
    if (rule.above is None) == (rule.below is None):
        raise r.fail("above", "give exactly one of `above` or `below`")
    if rule.above is not None and rule.clear_below is not None and rule.clear_below > rule.above:
        raise r.fail("clear_below", f"{rule.clear_below} is above the raise threshold {rule.above}")
    if rule.below is not None and rule.clear_above is not None and rule.clear_above < rule.below:
        raise r.fail("clear_above", f"{rule.clear_above} is below the raise threshold {rule.below}")
    return rule


def _category(r: _Reader) -> ReportCategory:
    r.check_keys({"priority", "severity", "fuse_with"})
    return ReportCategory(priority=r.get("priority", str, choices=PRIORITIES),
                          severity=r.get("severity", str, choices=SEVERITIES),
                          fuse_with=tuple(r.get("fuse_with", list, [])))


def parse_rules(data: Any, source: str = "rules") -> RuleSet:
    """Check a parsed rules document and build the RuleSet, or raise RuleConfigError."""
    top = _Reader(source, "", data)
    top.check_keys({"version", "priorities", "equipment", "weather", "reports", "comm_loss", "feed_down",
                    "flapping", "escalation"})
    if top.get("version", int) != 1:
        raise top.fail("version", "only version 1 is understood")
    pr = top.child("priorities")
    due = {}
    for p in PRIORITIES:
        c = pr.child(p)
        c.check_keys({"due_s"})
        due[p] = c.get("due_s", float)
        if due[p] <= 0:
            raise c.fail("due_s", "must be positive")
    kinds = {t.__struct_config__.tag for t in EVENT_TYPES}
    equipment = tuple(_equipment(_Reader(source, f"equipment[{i}]", e), kinds)
                      for i, e in enumerate(top.get("equipment", list)))
    weather = tuple(_weather(_Reader(source, f"weather[{i}]", w)) for i, w in enumerate(top.get("weather", list, [])))
    rep = top.child("reports")
    rep.check_keys({"rule", "domain", "fusion_distance_m", "default", "categories"})
    cats_reader = rep.child("categories")
    categories = {}
    for name in cats_reader.data:
        if name not in INCIDENT_CATEGORIES:
            raise cats_reader.fail(name, f"unknown report category; expected one of {', '.join(INCIDENT_CATEGORIES)}")
        categories[name] = _category(cats_reader.child(name))
    cl = top.child("comm_loss")
    cl.check_keys({"rule", "factor", "severity", "severity_by_kind", "priority", "priority_by_kind", "title", "kinds"})
    kinds_reader = cl.child("kinds")
    kinds = {}
    for kind in kinds_reader.data:
        k = kinds_reader.child(kind)
        k.check_keys({"feed", "domain", "period_s"})
        kinds[kind] = {"feed": k.get("feed", str), "domain": k.get("domain", str), "period_s": k.get("period_s", float)}
    comm = CommLossRule(rule=cl.get("rule", str), factor=cl.get("factor", float),
                        severity=cl.get("severity", str, choices=SEVERITIES), title=cl.get("title", str), kinds=kinds,
                        priority=cl.get("priority", str, None, choices=PRIORITIES),
                        severity_by_kind=cl.mapping("severity_by_kind", SEVERITIES, keys=kinds),
                        priority_by_kind=cl.mapping("priority_by_kind", PRIORITIES, keys=kinds))
    if comm.factor < 1:
        raise cl.fail("factor", "must be at least 1 (an asset is not lost before its period ends)")
    fd = top.child("feed_down")
    fd.check_keys({"rule", "severity", "priority", "title", "silent_after_s"})
    feed = FeedDownRule(rule=fd.get("rule", str), severity=fd.get("severity", str, choices=SEVERITIES),
                        title=fd.get("title", str),
                        silent_after_s=fd.mapping("silent_after_s", value_kind=(int, float)),
                        priority=fd.get("priority", str, None, choices=PRIORITIES))
    fl = top.child("flapping")
    fl.check_keys({"toggles", "window_s", "settle_s"})
    es = top.child("escalation")
    es.check_keys({"after_s", "raise_to"})
    ruleset = RuleSet(
        due_s=due, equipment=equipment, weather=weather, report_rule=rep.get("rule", str),
        report_domain=rep.get("domain", str), fusion_distance_m=rep.get("fusion_distance_m", float),
        report_default=_category(rep.child("default")), report_categories=categories, comm_loss=comm,
        feed_down=feed, flap_toggles=fl.get("toggles", int), flap_window_s=fl.get("window_s", float),
        flap_settle_s=fl.get("settle_s", float),
        escalate_after_s=es.mapping("after_s", value_kind=(int, float), keys=SEVERITIES),
        escalate_raise_to=es.mapping("raise_to", SEVERITIES, keys=SEVERITIES),
        by_event={kind: tuple(r for r in equipment if r.event == kind) for kind in {r.event for r in equipment}},
        by_type={t: tuple(r for r in equipment if r.event == t.__struct_config__.tag) for t in EVENT_TYPES},
    )
    _check_references(ruleset, source)
    return ruleset


def _check_references(rs: RuleSet, source: str) -> None:
    ids = [r.id for r in rs.equipment] + [r.id for r in rs.weather] + [rs.report_rule, rs.comm_loss.rule,
                                                                       rs.feed_down.rule]
    seen = set()
    for rule_id in ids:
        if rule_id in seen:
            raise RuleConfigError(f"{source}: rule id {rule_id!r} is used twice")
        seen.add(rule_id)
    for r in rs.equipment:
        for ref in r.absorbs:
            if ref not in seen:
                raise RuleConfigError(f"{source}: rule {r.id!r} absorbs unknown rule {ref!r}")
    for name, cat in rs.report_categories.items():
        for ref in cat.fuse_with:
            if ref not in seen:
                raise RuleConfigError(f"{source}: report category {name!r} fuses with unknown rule {ref!r}")
    if rs.flap_toggles < 2:
        raise RuleConfigError(f"{source}: flapping.toggles must be at least 2")


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and check a rules file (the packaged `rules.yaml` by default)."""
    path = Path(path) if path else DEFAULT_RULES
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RuleConfigError(f"cannot read the rules file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RuleConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_rules(data, str(path))


# -- pure evaluation ----------------------------------------------------------------------------

def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if SEVERITIES.index(a) <= SEVERITIES.index(b) else b


def _value_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equipment_signals(event: Event, rules: Iterable[EquipmentRule],
                       active: Mapping[str, Iterable[str]]) -> list[Signal]:
    out = []
    for rule in rules:
        raw = getattr(event, rule.field)
        if rule.active_field is not None:
            if raw not in rule.values:
                continue
            value = _value_key(raw)
            on = bool(getattr(event, rule.active_field))
            if not on and value not in active.get(rule.id, ()):
                continue  # a clear of something never raised: nothing to do
        elif raw in rule.values:
            on = True
            value = _value_key(raw)
            if value in active.get(rule.id, ()):
                continue  # the same reading again: not a new occurrence
        else:
            held = active.get(rule.id)
            if not held:
                continue  # a normal reading, nothing held: the usual case
            on = False
            value = next(iter(held))
        out.append(Signal(rule.id, event.asset_id, on, value, event.ts, rule.severity_of(value),
                          rule.priority_of(value), rule.domain, rule.title, rule.active_field is None))
    return out


def _weather_signals(event: WeatherObservation, rules: Iterable[WeatherRule],
                     active: Mapping[str, Iterable[str]]) -> list[Signal]:
    out = []
    for rule in rules:
        x = getattr(event, rule.field)
        held = set(active.get(rule.id, ()))
        if rule.above is not None:
            raised = x > rule.above
            cleared = x < (rule.clear_below if rule.clear_below is not None else rule.above)
            critical = rule.critical_above is not None and x > rule.critical_above
        else:
            raised = x < rule.below
            cleared = x > (rule.clear_above if rule.clear_above is not None else rule.below)
            critical = rule.critical_below is not None and x < rule.critical_below
        severity = "critical" if critical else rule.severity
        if raised or (held and not cleared):
            if severity not in held:  # new, or its severity changed: otherwise the same occurrence
                out.append(Signal(rule.id, event.asset_id, True, severity, event.ts, severity, rule.priority,
                                  rule.domain, rule.title, True))
        elif held:
            out.append(Signal(rule.id, event.asset_id, False, severity, event.ts, rule.severity, rule.priority,
                              rule.domain, rule.title, True))
    return out


def evaluate(event: Event, active: Mapping[str, Iterable[str]], rules: RuleSet) -> list[Signal]:
    """Conditions an event raises or clears on its asset, given the conditions already active there.

    Edge rules (alarm flags) raise on every flag, each an occurrence; level rules (readings)
    raise when the reading enters or changes fault value, and clear on the first reading out.
    """
    cls = type(event)
    if cls is WeatherObservation:
        return _weather_signals(event, rules.weather, active)
    equipment = rules.by_type.get(cls)
    return _equipment_signals(event, equipment, active) if equipment else []


def report_decision(report: IncidentReport, rules: RuleSet) -> tuple[ReportCategory, int | None]:
    """The alert settings of a citizen report and its due time."""
    category = rules.category(report.category)
    return category, rules.due_ts(category.priority, report.ts)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def nearest_within(lat: float, lon: float, candidates: Iterable[tuple[Any, float, float]],
                   max_m: float) -> Any | None:
    """The candidate (item, lat, lon) nearest to a point within max_m metres, or None."""
    best, best_d = None, max_m
    for item, c_lat, c_lon in candidates:
        if c_lat is None or c_lon is None:
            continue
        d = distance_m(lat, lon, c_lat, c_lon)
        if d <= best_d:
            best, best_d = item, d
    return best


def comm_loss_deadline(last_seen_ms: int, period_s: float, factor: float) -> int:
    """Event time (ms) after which a silent asset counts as lost."""
    return last_seen_ms + int(period_s * factor * 1000)


def is_flapping(toggles: Iterable[int], now_ms: int, rules: RuleSet) -> bool:
    """True when a condition toggled at least `flapping.toggles` times in the last window."""
    floor = now_ms - int(rules.flap_window_s * 1000)
    return sum(1 for t in toggles if t >= floor) >= rules.flap_toggles


def escalation_of(state: str, severity: str, opened_ts: int, escalated: bool, now_ms: int,
                  rules: RuleSet) -> str | None:
    """The severity an unacknowledged alert escalates to now, or None if it does not escalate."""
    if escalated or state != "open":
        return None
    after = rules.escalate_after_s.get(severity)
    if after is None or now_ms - opened_ts < after * 1000:
        return None
    return rules.escalate_raise_to.get(severity, severity)
