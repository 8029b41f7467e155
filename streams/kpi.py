"""Contract KPIs of a period, with targets, status, penalties and forecasts, from pandas frames only.

`compute_kpis(frames, contract, period)` is the one entry point; the formulas live in
`streams.kpi_formulas`, the periods in `streams.kpi_periods`, and `streams.kpi_store` reads the
store into `KpiFrames`. Penalties are assessed month by month (a month's total is capped by
the contract) and summed over the period.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from streams.contract import Contract
from streams.darkness import dark_hours
from streams.kpi_formulas import (
    availability_in,
    backlog,
    energy_by_month,
    energy_saving,
    family_intervals,
    forecast_ratios,
    intervention_compliance,
    it_availability,
    mean_time_to_repair,
    status,
)
from streams.kpi_periods import Period, months_of

__all__ = [
    "FORECAST_METHOD",
    "FRAME_COLUMNS",
    "KpiFrames",
    "KpiResult",
    "asset_table",
    "compute_kpis",
    "empty_frames",
    "energy_forecast",
    "kpi_history",
    "lighting_table",
]

_PREPARED: "weakref.WeakKeyDictionary[KpiFrames, dict]" = weakref.WeakKeyDictionary()
FORECAST_METHOD = ("seasonal naive on the consumed/baseline ratio: same month a year earlier plus the "
                   "year-over-year change of the last three complete months (first year ahead only)")
FRAME_COLUMNS = {
    "assets": ("asset_id", "kind", "commune_code", "parent_id"),
    "lighting": ("cabinet_id", "commune_code", "baseline_w"),
    "energy": ("cabinet_id", "hour", "kwh"),
    "states": ("asset_id", "state", "start", "end"),
    "outages": ("feed", "start", "end"),
    "incidents": ("id", "priority", "domain", "commune_code", "opened", "safe", "resolved"),
}


@dataclass(frozen=True, eq=False)
class KpiFrames:
    """The facts KPIs are computed from (see `streams.kpi_formulas` for the columns) and the time they describe.

    `since` is when the record starts (None: at the earliest fact); nothing is measured before it.
    """

    as_of: pd.Timestamp
    assets: pd.DataFrame
    lighting: pd.DataFrame
    energy: pd.DataFrame
    states: pd.DataFrame
    outages: pd.DataFrame
    incidents: pd.DataFrame
    since: pd.Timestamp | None = None

    def __post_init__(self) -> None:
        for name, columns in FRAME_COLUMNS.items():
            missing = [c for c in columns if c not in getattr(self, name).columns]
            if missing:
                raise ValueError(f"frame {name!r} lacks column(s) {', '.join(missing)}")


@dataclass(frozen=True)
class KpiResult:
    """One KPI of a period: value against target, status, penalty at stake and its breakdowns."""

    key: str
    label_fr: str
    label_en: str
    value: float | None
    unit: str
    target: float | None
    status: str
    penalty_eur: float = 0.0
    by_commune: Mapping[str, float] | None = None
    by_family: Mapping[str, float] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain dict for JSON (NaN becomes None)."""
        return _clean(asdict(self))


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def empty_frames(as_of: pd.Timestamp) -> KpiFrames:
    """Frames with the right columns and no rows."""
    frames = {name: pd.DataFrame({c: [] for c in cols}) for name, cols in FRAME_COLUMNS.items()}
    return KpiFrames(as_of=pd.Timestamp(as_of), **frames)


def asset_table(assets: pd.DataFrame) -> pd.DataFrame:
    """The `assets` frame from inventory assets: a light point's parent is its cabinet."""
    light = (assets["kind"] == "light").to_numpy()
    return pd.DataFrame({
        "asset_id": assets["asset_id"].astype(str).to_numpy(),
        "kind": assets["kind"].to_numpy(),
        "commune_code": assets["commune_code"].to_numpy(),
        "parent_id": np.where(light, assets["cabinet_id"].to_numpy(dtype=object), None),
    })


def lighting_table(assets: pd.DataFrame) -> pd.DataFrame:
    """The `lighting` frame from inventory assets: each cabinet's pre-renovation wattage."""
    cabinets = assets[assets["kind"] == "cabinet"]
    return pd.DataFrame({
        "cabinet_id": cabinets["asset_id"].to_numpy(),
        "commune_code": cabinets["commune_code"].to_numpy(),
        "baseline_w": cabinets["baseline_w"].to_numpy(dtype=float),
    })


def _months(contract: Contract, start: pd.Timestamp, end: pd.Timestamp) -> list[Period]:
    return [m for m in months_of(contract, Period("span", start, end, "")) if m.start < end]


def _history(frames: KpiFrames, contract: Contract, p: Period, dark: pd.Series) -> pd.DataFrame:
    """One row per month of the period, from `since` to as_of: each KPI's value and penalty, and the capped total."""
    since, as_of = _since(frames), frames.as_of
    months = [m for m in months_of(contract, p) if m.start < as_of and (since is None or m.end > since)]
    if not months or since is None:
        return pd.DataFrame()
    los = [max(m.start, since) for m in months]
    his = [min(m.end, as_of) for m in months]
    energy = _energy_months(frames, dark, months, his)
    rows = []
    terms = contract.interventions
    for m, lo, hi in zip(months, los, his):
        row: dict[str, Any] = {"month": m.label}
        traj = contract.energy.target_for_year(m.start.tz_convert(contract.timezone).year)
        en = energy.loc[m.label] if m.label in energy.index else None
        saving = None if en is None or en["baseline_kwh"] <= 0 else 100.0 * (1.0 - en["ratio"])
        row.update(energy_saving=saving, energy_target=traj,
                   consumed_kwh=None if en is None else float(en["consumed_kwh"]),
                   baseline_kwh=None if en is None else float(en["baseline_kwh"]),
                   penalty_energy_saving=_short(saving, traj) * contract.energy.penalty_eur_per_point_month)
        comp = intervention_compliance(frames.incidents, terms.delays_h, lo, hi)
        row.update(interventions_on_time=comp.pct, penalty_interventions_on_time=float(sum(
            n * terms.penalty_eur_per_late[prio] for prio, n in comp.late_by_priority.items())))
        it, _ = it_availability(frames.outages, contract.it.feeds, lo, hi)
        row.update(it_availability=it,
                   penalty_it_availability=_short(it, contract.it.target_pct) * contract.it.penalty_eur_per_point_month)
        for fam in contract.families:
            av = _family(frames, contract, fam, lo, hi)
            key = f"availability_{fam.key}"
            penalty = _short(av.pct, fam.target_pct) * fam.penalty_eur_per_point_month
            row.update({key: av.pct, f"penalty_{key}": penalty})
        raw = sum(v for k, v in row.items() if k.startswith("penalty_"))
        row.update(penalties_raw=raw, penalties=min(raw, contract.monthly_cap_eur))
        rows.append(row)
    return pd.DataFrame(rows).set_index("month")


def _energy_months(frames: KpiFrames, dark: pd.Series, months: list[Period], his: list) -> pd.DataFrame:
    """Consumed and baseline kWh of each month, measured from the first energy reading on."""
    first = _first_energy(frames)
    covered = [(m, hi) for m, hi in zip(months, his) if first is not None and hi > max(m.start, first)]
    if not covered:
        return pd.DataFrame(columns=["consumed_kwh", "baseline_kwh", "ratio"])
    edges = [max(covered[0][0].start, first)] + [hi for _, hi in covered]
    return energy_by_month(frames.energy, frames.lighting, dark, edges, [m.label for m, _ in covered])


def _since(frames: KpiFrames) -> pd.Timestamp | None:
    """When the record starts: `frames.since`, else the earliest fact."""
    if frames.since is not None:
        return pd.Timestamp(frames.since)
    firsts = [pd.to_datetime(col, utc=True).min() for col in (
        frames.energy["hour"], frames.states["start"], frames.incidents["opened"], frames.outages["start"])
        if len(col)]
    firsts = [t for t in firsts if not pd.isna(t)]
    return min(firsts) if firsts else None


def _short(value: float | None, target: float) -> float:
    """Points below target (0 if met or unknown)."""
    return 0.0 if value is None or np.isnan(value) else max(0.0, target - value)


def _first_energy(frames: KpiFrames) -> pd.Timestamp | None:
    if frames.energy.empty:
        return None
    return pd.to_datetime(frames.energy["hour"], utc=True).min()


def _family(frames: KpiFrames, contract: Contract, fam, start, end):
    """Availability of a family over a window; the family's intervals are merged once per frames (memoised)."""
    cache = _PREPARED.setdefault(frames, {})
    key = (fam.kinds, contract.states)
    if key not in cache:
        cache[key] = family_intervals(frames.states, frames.assets, kinds=fam.kinds,
                                      fault_states=contract.states.fault,
                                      maintenance_states=contract.states.maintenance)
    return availability_in(cache[key], frames.outages, feeds=fam.feeds, start=start, end=end)


def energy_forecast(frames: KpiFrames, contract: Contract, dark: pd.Series) -> dict:
    """Forecast saving (%) of the current calendar year and of the contract's last twelve months."""
    first = _first_energy(frames)
    as_of = frames.as_of
    if first is None or first >= as_of:
        return {"method": FORECAST_METHOD, "year_end_pct": None, "contract_end_pct": None}
    all_months = _months(contract, pd.Timestamp(contract.start, tz=contract.timezone).tz_convert("UTC"),
                         pd.Timestamp(contract.end, tz=contract.timezone).tz_convert("UTC"))
    edges = [m.start for m in all_months] + [all_months[-1].end]
    table = energy_by_month(frames.energy, frames.lighting, dark, edges, [m.label for m in all_months])
    complete = [m.label for m in all_months if m.end <= as_of and m.start >= first]
    future = [m.label for m in all_months if m.end > as_of]
    ratios = forecast_ratios(table.loc[complete, "ratio"], future)
    local = as_of.tz_convert(contract.timezone)
    current = next(m for m in all_months if m.end > as_of) if future else None
    consumed = table["consumed_kwh"].copy()
    if current is not None:
        # The month in progress: what was used so far plus the forecast for its remaining dark hours.
        rest = energy_by_month(frames.energy.iloc[:0], frames.lighting, dark, [as_of.ceil("h"), current.end], ["r"])
        consumed[current.label] += ratios[current.label] * float(rest["baseline_kwh"].iloc[0])
    for label in future[1:]:
        consumed[label] = ratios[label] * table.at[label, "baseline_kwh"]
    year_labels = [m.label for m in all_months if m.label.startswith(f"{local.year}-") and m.start >= first]
    last12 = [m.label for m in all_months[-12:]]

    def saving(labels):
        """Saving (%) over some months, actual where known and forecast after."""
        base = float(table.loc[labels, "baseline_kwh"].sum())
        return None if base <= 0 else 100.0 * (1.0 - float(consumed[labels].sum()) / base)

    return {"method": FORECAST_METHOD, "year_end_pct": saving(year_labels), "contract_end_pct": saving(last12),
            "ratios": {k: float(v) for k, v in ratios.items()}}


def _dark(frames: KpiFrames, contract: Contract, p: Period) -> pd.Series:
    start = min(p.start, pd.Timestamp(contract.start, tz=contract.timezone).tz_convert("UTC"))
    end = max(p.end, pd.Timestamp(contract.end, tz=contract.timezone).tz_convert("UTC"))
    return dark_hours(start, end, contract.lat, contract.lon)


def kpi_history(frames: KpiFrames, contract: Contract, p: Period) -> pd.DataFrame:
    """Month-by-month KPI values, targets and penalties of a period (for trend charts and the report)."""
    return _history(frames, contract, p, _dark(frames, contract, p))


def compute_kpis(frames: KpiFrames, contract: Contract, p: Period) -> list[KpiResult]:
    """Every contract KPI of a period, measured up to `frames.as_of`."""
    dark = _dark(frames, contract, p)
    end = min(p.end, frames.as_of)
    if end <= p.start:
        raise ValueError(f"period {p.label} starts after the data ({frames.as_of.isoformat()})")
    since = _since(frames)
    measured = p if since is None or since <= p.start else Period(p.kind, min(since, end), p.end, p.label)
    hist = _history(frames, contract, p, dark)
    pen = hist.filter(like="penalty_").sum() if len(hist) else pd.Series(dtype=float)
    return [
        _energy_kpi(frames, contract, measured, end, dark, hist, pen),
        _interventions_kpi(frames, contract, measured, end, pen),
        _it_kpi(frames, contract, measured, end, pen),
        *(_family_kpi(frames, contract, fam, measured, end, pen) for fam in contract.families),
        _backlog_kpi(frames, contract, end),
        _mttr_kpi(frames, measured, end),
        _penalties_kpi(contract, hist, pen),
    ]


def _energy_kpi(frames, contract, p, end, dark, hist, pen) -> KpiResult:
    first = _first_energy(frames)
    start = max(p.start, first) if first is not None else end
    en = energy_saving(frames.energy, frames.lighting, dark, start, end) if start < end else None
    target = None
    if len(hist) and hist["baseline_kwh"].fillna(0).sum() > 0:
        w = hist["baseline_kwh"].fillna(0.0)
        target = float((w * hist["energy_target"]).sum() / w.sum())
    forecast = energy_forecast(frames, contract, dark)
    value = en.saving_pct if en else None
    return KpiResult(
        "energy_saving", "Économie d'énergie (éclairage)", "Energy saving (street lighting)", value, "%", target,
        status(value, target, contract.energy.at_risk_margin_pts), float(pen.get("penalty_energy_saving", 0.0)),
        by_commune=dict(en.by_commune) if en else None,
        details={"consumed_kwh": en.consumed_kwh if en else None, "baseline_kwh": en.baseline_kwh if en else None,
                 "measured_from": start.isoformat() if en else None, "contract_target_pct":
                 contract.energy.target_saving_pct, "forecast_year_end_pct": forecast["year_end_pct"],
                 "forecast_contract_end_pct": forecast["contract_end_pct"], "forecast_method": forecast["method"],
                 "forecast_by_month": {k: 100.0 * (1.0 - r) for k, r in forecast.get("ratios", {}).items()}},
    )


def _interventions_kpi(frames, contract, p, end, pen) -> KpiResult:
    terms = contract.interventions
    comp = intervention_compliance(frames.incidents, terms.delays_h, p.start, end)
    return KpiResult(
        "interventions_on_time", "Interventions dans les délais", "Interventions within their delay", comp.pct, "%",
        terms.compliance_target_pct, status(comp.pct, terms.compliance_target_pct, terms.at_risk_margin_pts),
        float(pen.get("penalty_interventions_on_time", 0.0)), by_commune=dict(comp.by_commune),
        by_family=dict(comp.by_domain),
        details={"due": comp.due, "on_time": comp.on_time, "late_by_priority": dict(comp.late_by_priority),
                 "by_priority": dict(comp.by_priority), "delays_h": dict(terms.delays_h)},
    )


def _it_kpi(frames, contract, p, end, pen) -> KpiResult:
    value, by_feed = it_availability(frames.outages, contract.it.feeds, p.start, end)
    return KpiResult(
        "it_availability", "Disponibilité des systèmes informatiques", "IT systems availability", value, "%",
        contract.it.target_pct, status(value, contract.it.target_pct, contract.it.at_risk_margin_pts),
        float(pen.get("penalty_it_availability", 0.0)), details={"by_feed": by_feed},
    )


def _family_kpi(frames, contract, fam, p, end, pen) -> KpiResult:
    av = _family(frames, contract, fam, p.start, end)
    key = f"availability_{fam.key}"
    return KpiResult(
        key, f"Disponibilité · {fam.label_fr}", f"Availability · {fam.label_en}", av.pct, "%", fam.target_pct,
        status(av.pct, fam.target_pct, fam.at_risk_margin_pts), float(pen.get(f"penalty_{key}", 0.0)),
        by_commune=dict(av.by_commune),
        details={"accountable_h": av.accountable_h, "fault_h": av.fault_h, "maintenance_h": av.maintenance_h,
                 "feed_outage_h": av.feed_outage_h, "kinds": list(fam.kinds)},
    )


def _backlog_kpi(frames, contract, end) -> KpiResult:
    b = backlog(frames.incidents, contract.interventions.delays_h, end)
    return KpiResult(
        "backlog", "Incidents ouverts", "Open incidents", float(b["open"]), "incidents", None, "no_target",
        by_commune={k: float(v) for k, v in b["by_commune"].items()},
        by_family={k: float(v) for k, v in b["by_domain"].items()},
        details={"at": end.isoformat(), "overdue": b["overdue"], "by_priority": b["by_priority"]},
    )


def _mttr_kpi(frames, p, end) -> KpiResult:
    m = mean_time_to_repair(frames.incidents, p.start, end)
    return KpiResult(
        "mttr", "Temps moyen de réparation", "Mean time to repair", m["hours"], "h", None,
        "no_data" if m["hours"] is None else "no_target", by_family=m["by_domain"],
        details={"resolved": m["count"], "by_priority": m["by_priority"]},
    )


def _penalties_kpi(contract, hist, pen) -> KpiResult:
    total = float(hist["penalties"].sum()) if len(hist) else 0.0
    raw = float(hist["penalties_raw"].sum()) if len(hist) else 0.0
    by_kpi = {k.removeprefix("penalty_"): float(v) for k, v in pen.items()}
    return KpiResult(
        "penalties", "Pénalités en jeu", "Penalties at stake", total, "EUR", None, "no_target", total,
        by_family=by_kpi,
        details={"uncapped_eur": raw, "monthly_cap_eur": contract.monthly_cap_eur,
                 "by_month": {k: float(v) for k, v in hist["penalties"].items()} if len(hist) else {}},
    )

