"""The performance contract: its YAML definition loaded and checked into frozen dataclasses.

Every error names the file, the key (dotted path) and the problem, for example
`contract.yaml: energy.trajectory_pct: 2020 (40) is below 2019 (45); the trajectory must not go down`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

__all__ = [
    "DEFAULT_CONTRACT",
    "PRIORITIES",
    "Contract",
    "ContractError",
    "EnergyTerms",
    "FamilyTerms",
    "InterventionTerms",
    "ItTerms",
    "StateClasses",
    "load_contract",
    "parse_contract",
]

DEFAULT_CONTRACT = Path(__file__).with_name("contract.yaml")
PRIORITIES = ("P1", "P2", "P3")
_ASSET_KINDS = ("light", "cabinet", "signal", "camera", "weather", "bollard")


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the key and the problem."""


@dataclass(frozen=True)
class EnergyTerms:
    """The street-lighting energy saving: final target, yearly trajectory, margin and penalty."""

    target_saving_pct: float
    trajectory: tuple[tuple[int, float], ...]
    at_risk_margin_pts: float
    penalty_eur_per_point_month: float

    def target_for_year(self, year: int) -> float:
        """Minimum saving (%) of a calendar year; before the first year 0, after the last its value."""
        value = 0.0
        for y, pct in self.trajectory:
            if y <= year:
                value = pct
        return value


@dataclass(frozen=True)
class InterventionTerms:
    """Contractual delays (hours) per priority, compliance target and penalty per late intervention."""

    delays_h: Mapping[str, float]
    compliance_target_pct: float
    at_risk_margin_pts: float
    penalty_eur_per_late: Mapping[str, float]


@dataclass(frozen=True)
class ItTerms:
    """Availability of the room's data feeds (IT systems), measured per month."""

    feeds: tuple[str, ...]
    target_pct: float
    at_risk_margin_pts: float
    penalty_eur_per_point_month: float


@dataclass(frozen=True)
class FamilyTerms:
    """Availability target of one equipment family, the asset kinds it covers and the feeds that carry them."""

    key: str
    label_fr: str
    label_en: str
    kinds: tuple[str, ...]
    feeds: tuple[str, ...]
    target_pct: float
    at_risk_margin_pts: float
    penalty_eur_per_point_month: float


@dataclass(frozen=True)
class StateClasses:
    """Which asset states are device faults and which are planned maintenance."""

    fault: frozenset[str]
    maintenance: frozenset[str]


@dataclass(frozen=True)
class Contract:
    """The whole performance contract, as loaded from its YAML file."""

    name: str
    start: dt.date
    years: int
    value_eur: float
    timezone: str
    lat: float
    lon: float
    energy: EnergyTerms
    interventions: InterventionTerms
    it: ItTerms
    families: tuple[FamilyTerms, ...]
    states: StateClasses
    monthly_cap_eur: float

    @property
    def end(self) -> dt.date:
        """First day after the contract (start plus its years)."""
        return self.start.replace(year=self.start.year + self.years)

    @property
    def tz(self) -> ZoneInfo:
        """The contract's time zone, where months and days are cut."""
        return ZoneInfo(self.timezone)

    def family(self, key: str) -> FamilyTerms:
        """One equipment family by key; KeyError if the contract has none."""
        for fam in self.families:
            if fam.key == key:
                return fam
        raise KeyError(key)


class _Reader:
    """Reads typed values out of nested mappings, raising ContractError with the dotted key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> ContractError:
        """The error for a key path and its problem."""
        return ContractError(f"{self.source}: {path}: {problem}")

    def section(self, data: Mapping, key: str, path: str, allowed: tuple[str, ...]) -> Mapping:
        """A nested mapping that holds only the allowed keys."""
        full = f"{path}.{key}" if path else key
        value = self.get(data, key, path)
        if not isinstance(value, Mapping):
            raise self.fail(full, f"expected a mapping of keys, got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.fail(full, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(allowed)}")
        return value

    def get(self, data: Mapping, key: str, path: str) -> Any:
        """A required value."""
        if key not in data:
            raise self.fail(f"{path}.{key}" if path else key, "missing")
        return data[key]

    def number(self, data: Mapping, key: str, path: str, *, lo: float | None = 0.0, hi: float | None = None,
               what: str = "a number") -> float:
        """A number within bounds."""
        full = f"{path}.{key}"
        return self.check_number(self.get(data, key, path), full, lo=lo, hi=hi, what=what)

    def check_number(self, value: Any, full: str, *, lo: float | None = 0.0, hi: float | None = None,
                     what: str = "a number") -> float:
        """Check a value already read is a number within bounds."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(full, f"expected {what}, got {type(value).__name__} {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else (
                f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
            raise self.fail(full, f"{value!r} is out of range; expected {what} {bounds}")
        return float(value)

    def pct(self, data: Mapping, key: str, path: str) -> float:
        """A percentage between 0 and 100."""
        return self.number(data, key, path, lo=0.0, hi=100.0, what="a percentage")

    def text(self, data: Mapping, key: str, path: str) -> str:
        """A non-empty text."""
        value = self.get(data, key, path)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{path}.{key}", f"expected a non-empty text, got {value!r}")
        return value

    def texts(self, data: Mapping, key: str, path: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A non-empty list of distinct names, optionally among `choices`."""
        full = f"{path}.{key}"
        value = self.get(data, key, path)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.fail(full, f"expected a non-empty list of names, got {value!r}")
        if len(set(value)) != len(value):
            raise self.fail(full, "names are repeated")
        if choices is not None:
            wrong = [v for v in value if v not in choices]
            if wrong:
                raise self.fail(full, f"unknown name(s) {', '.join(wrong)}; expected some of {', '.join(choices)}")
        return tuple(value)

    def per_priority(self, data: Mapping, key: str, path: str, *, positive: bool) -> Mapping[str, float]:
        """A read-only mapping P1/P2/P3 -> non-negative (or positive) number."""
        full = f"{path}.{key}"
        value = self.get(data, key, path)
        if not isinstance(value, Mapping):
            raise self.fail(full, f"expected a mapping P1/P2/P3 -> number, got {type(value).__name__}")
        if set(value) != set(PRIORITIES):
            raise self.fail(full, f"expected exactly the priorities P1, P2, P3, got {', '.join(map(str, value))}")
        out = {}
        for p in PRIORITIES:
            out[p] = self.check_number(value[p], f"{full}.{p}", lo=0.0, what="a number")
            if positive and out[p] <= 0:
                raise self.fail(f"{full}.{p}", f"{value[p]!r} must be above 0")
        return MappingProxyType(out)


def _energy(r: _Reader, root: Mapping, start: dt.date, end: dt.date) -> EnergyTerms:
    path = "energy"
    d = r.section(root, "energy", "", ("target_saving_pct", "trajectory_pct", "at_risk_margin_pts",
                                       "penalty_eur_per_point_month"))
    target = r.pct(d, "target_saving_pct", path)
    raw = r.get(d, "trajectory_pct", path)
    full = f"{path}.trajectory_pct"
    if not isinstance(raw, Mapping) or not raw:
        raise r.fail(full, "expected a mapping of year -> percentage")
    points = []
    for year, pct in raw.items():
        if isinstance(year, bool) or not isinstance(year, int):
            raise r.fail(full, f"year {year!r} is not a whole number")
        points.append((year, r.check_number(pct, f"{full}.{year}", lo=0.0, hi=100.0, what="a percentage")))
    points.sort()
    years = [y for y, _ in points]
    if years[0] != start.year:
        raise r.fail(full, f"starts in {years[0]}; it must start in the contract's first year {start.year}")
    if years != list(range(years[0], years[-1] + 1)):
        missing = sorted(set(range(years[0], years[-1] + 1)) - set(years))
        raise r.fail(full, f"year(s) {', '.join(map(str, missing))} missing; the trajectory needs every year")
    if years[-1] >= end.year + 1:
        raise r.fail(full, f"goes on to {years[-1]}, after the contract ends ({end.isoformat()})")
    for (y0, p0), (y1, p1) in zip(points, points[1:]):
        if p1 < p0:
            raise r.fail(full, f"{y1} ({p1:g}) is below {y0} ({p0:g}); the trajectory must not go down")
    if points[-1][1] != target:
        raise r.fail(full, f"ends at {points[-1][1]:g} in {years[-1]}; it must reach target_saving_pct ({target:g})")
    return EnergyTerms(
        target_saving_pct=target,
        trajectory=tuple(points),
        at_risk_margin_pts=r.number(d, "at_risk_margin_pts", path, hi=100.0),
        penalty_eur_per_point_month=r.number(d, "penalty_eur_per_point_month", path),
    )


def _interventions(r: _Reader, root: Mapping) -> InterventionTerms:
    path = "interventions"
    d = r.section(root, "interventions", "", ("delays_h", "compliance_target_pct", "at_risk_margin_pts",
                                              "penalty_eur_per_late"))
    delays = r.per_priority(d, "delays_h", path, positive=True)
    for hi, lo in (("P1", "P2"), ("P2", "P3")):
        if delays[hi] > delays[lo]:
            raise r.fail(f"{path}.delays_h", f"{hi} ({delays[hi]:g} h) is longer than {lo} ({delays[lo]:g} h); "
                                             "a higher priority must not get more time")
    return InterventionTerms(
        delays_h=delays,
        compliance_target_pct=r.pct(d, "compliance_target_pct", path),
        at_risk_margin_pts=r.number(d, "at_risk_margin_pts", path, hi=100.0),
        penalty_eur_per_late=r.per_priority(d, "penalty_eur_per_late", path, positive=False),
    )


def _it(r: _Reader, root: Mapping) -> ItTerms:
    path = "it_availability"
    d = r.section(root, "it_availability", "", ("feeds", "target_pct", "at_risk_margin_pts",
                                                "penalty_eur_per_point_month"))
    return ItTerms(
        feeds=r.texts(d, "feeds", path),
        target_pct=r.pct(d, "target_pct", path),
        at_risk_margin_pts=r.number(d, "at_risk_margin_pts", path, hi=100.0),
        penalty_eur_per_point_month=r.number(d, "penalty_eur_per_point_month", path),
    )


def _families(r: _Reader, root: Mapping, feeds: tuple[str, ...]) -> tuple[tuple[FamilyTerms, ...], StateClasses]:
    d = r.section(root, "availability", "", ("families", "states"))
    fams = r.get(d, "families", "availability")
    if not isinstance(fams, Mapping) or not fams:
        raise r.fail("availability.families", "expected a mapping of family -> terms")
    out, seen_kinds = [], {}
    keys = ("label_fr", "label_en", "kinds", "feeds", "target_pct", "at_risk_margin_pts", "penalty_eur_per_point_month")
    for key in fams:
        path = f"availability.families.{key}"
        f = r.section(fams, key, "availability.families", keys)
        kinds = r.texts(f, "kinds", path, _ASSET_KINDS)
        for kind in kinds:
            if kind in seen_kinds:
                raise r.fail(f"{path}.kinds", f"{kind} is already in family {seen_kinds[kind]}")
            seen_kinds[kind] = key
        fam_feeds = r.texts(f, "feeds", path)
        wrong = [x for x in fam_feeds if x not in feeds]
        if wrong:
            raise r.fail(f"{path}.feeds", f"{', '.join(wrong)} not in it_availability.feeds ({', '.join(feeds)})")
        out.append(FamilyTerms(
            key=str(key), label_fr=r.text(f, "label_fr", path), label_en=r.text(f, "label_en", path),
            kinds=kinds, feeds=fam_feeds, target_pct=r.pct(f, "target_pct", path),
            at_risk_margin_pts=r.number(f, "at_risk_margin_pts", path, hi=100.0),
            penalty_eur_per_point_month=r.number(f, "penalty_eur_per_point_month", path),
        ))
    s = r.section(d, "states", "availability", ("fault", "maintenance"))
    fault = frozenset(r.texts(s, "fault", "availability.states"))
    maintenance = frozenset(r.texts(s, "maintenance", "availability.states"))
    if fault & maintenance:
        raise r.fail("availability.states", f"{', '.join(sorted(fault & maintenance))} is both fault and maintenance")
    return tuple(out), StateClasses(fault=fault, maintenance=maintenance)


def parse_contract(data: Any, source: str = "contract") -> Contract:
    """Check a parsed YAML document and build the Contract, or raise ContractError naming the key."""
    r = _Reader(source)
    if not isinstance(data, Mapping):
        raise ContractError(f"{source}: expected a mapping at the top level, got {type(data).__name__}; "
                            "is this a contract file?")
    top = ("contract", "energy", "interventions", "it_availability", "availability", "penalties")
    unknown = sorted(str(k) for k in data if k not in top)
    if unknown:
        raise ContractError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; expected {', '.join(top)}")
    c = r.section(data, "contract", "", ("name", "start", "years", "value_eur", "timezone", "site"))
    start = r.get(c, "start", "contract")
    if isinstance(start, dt.datetime) or not isinstance(start, dt.date):
        raise r.fail("contract.start", f"expected a date like 2018-02-01, got {start!r}")
    years = r.get(c, "years", "contract")
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= 50:
        raise r.fail("contract.years", f"expected a whole number of years between 1 and 50, got {years!r}")
    timezone = r.text(c, "timezone", "contract")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail("contract.timezone", f"unknown time zone {timezone!r}") from None
    site = r.section(c, "site", "contract", ("lat", "lon"))
    start_date = start
    end_date = start.replace(year=start.year + years)
    it = _it(r, data)
    families, states = _families(r, data, it.feeds)
    pen = r.section(data, "penalties", "", ("monthly_cap_eur",))
    return Contract(
        name=r.text(c, "name", "contract"),
        start=start_date,
        years=years,
        value_eur=r.number(c, "value_eur", "contract"),
        timezone=timezone,
        lat=r.number(site, "lat", "contract.site", lo=-90.0, hi=90.0, what="a latitude"),
        lon=r.number(site, "lon", "contract.site", lo=-180.0, hi=180.0, what="a longitude"),
        energy=_energy(r, data, start_date, end_date),
        interventions=_interventions(r, data),
        it=it,
        families=families,
        states=states,
        monthly_cap_eur=r.number(pen, "monthly_cap_eur", "penalties"),
    )


def load_contract(path: str | Path = DEFAULT_CONTRACT) -> Contract:
    """Read and check a contract YAML file (the bundled OnDijon-like one by default)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{path}: no such contract file") from None
    except UnicodeDecodeError:
        raise ContractError(f"{path}: not a text file; is this a contract file?") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path.name}: not valid YAML: {exc}") from None
    return parse_contract(data, source=path.name)
