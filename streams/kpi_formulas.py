"""The contract's KPI formulas, as pure functions over pandas frames (no store, no clock).

Times are tz-aware UTC timestamps; an interval's missing end (NaT) means "still going" and is
read as the end of the window measured. Frames and their columns:

- energy: cabinet_id, hour (start of the bucket, an hour or any span that does not cross a
  period boundary), kwh
- lighting: cabinet_id, commune_code, baseline_w (pre-renovation wattage behind the cabinet)
- assets: asset_id, kind, commune_code, parent_id (the cabinet of a light point, else empty)
- states: asset_id, state, start, end
- outages: feed, start, end (a data feed down: counts against IT availability)
- incidents: id, priority, domain, commune_code, opened, safe (made safe), resolved
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "AvailabilityFigures",
    "ComplianceFigures",
    "EnergyFigures",
    "STATUSES",
    "FamilyIntervals",
    "availability",
    "availability_in",
    "backlog",
    "energy_by_month",
    "energy_saving",
    "family_intervals",
    "forecast_ratios",
    "intervention_compliance",
    "it_availability",
    "mean_time_to_repair",
    "status",
    "to_seconds",
]

STATUSES = ("on_track", "at_risk", "breached", "no_target", "no_data")
_EPOCH = pd.Timestamp(0, tz="UTC")


def to_seconds(values) -> np.ndarray:
    """Epoch seconds (float) of timestamps; naive ones are taken as UTC, NaT becomes NaN."""
    if isinstance(values, pd.Timestamp):
        values = [values]
    s = pd.to_datetime(pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values, utc=True)
    return ((s - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def _sec(t: pd.Timestamp) -> float:
    return float(to_seconds(pd.Timestamp(t))[0])


def _pct(num: float, den: float) -> float | None:
    return None if den <= 0 else 100.0 * num / den


def status(value: float | None, target: float | None, margin: float, *, higher_is_better: bool = True) -> str:
    """`breached` past the target, `at_risk` within `margin` of it, `on_track` beyond; `no_data`/`no_target`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "no_data"
    if target is None:
        return "no_target"
    gap = value - target if higher_is_better else target - value
    if gap < 0:
        return "breached"
    if gap < margin:
        return "at_risk"
    return "on_track"


# --- energy ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnergyFigures:
    """Energy consumed and the baseline (kWh) over a window, and the saving (%), overall and per commune."""

    consumed_kwh: float
    baseline_kwh: float
    saving_pct: float | None
    by_commune: Mapping[str, float] = field(default_factory=dict)


def _in_window(times: np.ndarray, start: float, end: float) -> np.ndarray:
    return (times >= start) & (times < end)


def energy_saving(energy: pd.DataFrame, lighting: pd.DataFrame, dark: pd.Series,
                  start: pd.Timestamp, end: pd.Timestamp) -> EnergyFigures:
    """Saving against the baseline = baseline wattage x dark hours of [start, end) (night-length normalised)."""
    s, e = _sec(start), _sec(end)
    e_mask = _in_window(to_seconds(energy["hour"]), s, e)
    d_mask = _in_window(to_seconds(dark.index.to_series()), s, e)
    dark_h = float(dark.to_numpy()[d_mask].sum())
    used = energy.loc[e_mask, ["cabinet_id", "kwh"]]
    consumed = float(used["kwh"].sum())
    baseline = float(lighting["baseline_w"].sum()) / 1000.0 * dark_h
    commune_of = lighting.set_index("cabinet_id")["commune_code"]
    used_c = used.groupby(used["cabinet_id"].map(commune_of))["kwh"].sum()
    base_c = lighting.groupby("commune_code")["baseline_w"].sum() / 1000.0 * dark_h
    by_commune = {str(c): 100.0 * (1.0 - float(used_c.get(c, 0.0)) / b) for c, b in base_c.items() if b > 0}
    saving = None if baseline <= 0 else 100.0 * (1.0 - consumed / baseline)
    return EnergyFigures(consumed, baseline, saving, by_commune)


def energy_by_month(energy: pd.DataFrame, lighting: pd.DataFrame, dark: pd.Series,
                    edges: list[pd.Timestamp], labels: list[str]) -> pd.DataFrame:
    """Consumed and baseline kWh and their ratio per month; `edges` are the n+1 month boundaries."""
    bounds = to_seconds(pd.Series(edges))
    watts = float(lighting["baseline_w"].sum()) / 1000.0
    e_bin = np.searchsorted(bounds, to_seconds(energy["hour"]), side="right") - 1
    ok = (e_bin >= 0) & (e_bin < len(labels))
    consumed = np.bincount(e_bin[ok], energy["kwh"].to_numpy(dtype=float)[ok], minlength=len(labels))
    d_bin = np.searchsorted(bounds, to_seconds(dark.index.to_series()), side="right") - 1
    ok = (d_bin >= 0) & (d_bin < len(labels))
    dark_h = np.bincount(d_bin[ok], dark.to_numpy()[ok], minlength=len(labels))
    baseline = watts * dark_h
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(baseline > 0, consumed / baseline, np.nan)
    return pd.DataFrame({"consumed_kwh": consumed, "baseline_kwh": baseline, "ratio": ratio},
                        index=pd.Index(labels, name="month"))


def forecast_ratios(history: pd.Series, future: Iterable[str]) -> pd.Series:
    """Forecast the consumed/baseline ratio of future months (`YYYY-MM`) from complete past months.

    Seasonal naive: the same month a year earlier, plus the year-over-year change of the last
    three months (applied for the first year ahead, then held); with less than a year of
    history, the mean of the last three months.
    """
    hist = {pd.Period(k, "M"): float(v) for k, v in history.dropna().items()}
    out: dict[pd.Period, float] = {}
    if not hist:
        return pd.Series(np.nan, index=list(future), dtype=float)
    last = sorted(hist)[-3:]
    recent = float(np.mean([hist[m] for m in last]))
    year_before = [m - 12 for m in last]
    yoy = recent - float(np.mean([hist[m] for m in year_before])) if all(m in hist for m in year_before) else 0.0
    labels = list(future)
    for label in labels:
        f = pd.Period(label, "M")
        ago = f - 12
        if ago in hist:
            value = hist[ago] + yoy
        elif ago in out:
            value = out[ago]
        else:
            value = recent
        out[f] = min(max(value, 0.0), 1.5)
    return pd.Series([out[pd.Period(k, "M")] for k in labels], index=labels, dtype=float)


# --- interventions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ComplianceFigures:
    """Interventions due in a window: how many, how many on time, shares per priority, domain and commune."""

    due: int
    on_time: int
    pct: float | None
    late_by_priority: Mapping[str, int]
    by_priority: Mapping[str, float]
    by_domain: Mapping[str, float]
    by_commune: Mapping[str, float]


def _share(on_time: pd.Series, key: pd.Series) -> dict[str, float]:
    grouped = on_time.groupby(key.astype(str))
    return {k: 100.0 * float(v.mean()) for k, v in grouped if len(v) and k}


def intervention_compliance(incidents: pd.DataFrame, delays_h: Mapping[str, float],
                            start: pd.Timestamp, end: pd.Timestamp) -> ComplianceFigures:
    """Share of incidents whose deadline (opened + delay of its priority) falls in [start, end) made safe in time.

    An incident past its deadline and not yet made safe is late.
    """
    inc = incidents[incidents["priority"].isin(list(delays_h))]
    delay_s = inc["priority"].map(delays_h).to_numpy(dtype=float) * 3600.0
    due = to_seconds(inc["opened"]) + delay_s
    counted = _in_window(due, _sec(start), _sec(end))
    safe = to_seconds(inc["safe"])[counted]
    on_time = pd.Series(~np.isnan(safe) & (safe <= due[counted]), index=inc.index[counted])
    sel = inc.loc[counted]
    late = (~on_time).groupby(sel["priority"]).sum()
    return ComplianceFigures(
        due=int(counted.sum()),
        on_time=int(on_time.sum()),
        pct=_pct(float(on_time.sum()), float(counted.sum())),
        late_by_priority={p: int(late.get(p, 0)) for p in delays_h},
        by_priority=_share(on_time, sel["priority"]),
        by_domain=_share(on_time, sel["domain"]),
        by_commune=_share(on_time, sel["commune_code"].fillna("")),
    )


def backlog(incidents: pd.DataFrame, delays_h: Mapping[str, float], at: pd.Timestamp) -> dict:
    """Incidents open at `at`, and those past their deadline not made safe, per priority, domain and commune."""
    t = _sec(at)
    opened, resolved = to_seconds(incidents["opened"]), to_seconds(incidents["resolved"])
    is_open = (opened <= t) & (np.isnan(resolved) | (resolved > t))
    delay = incidents["priority"].map(delays_h).to_numpy(dtype=float) * 3600.0
    safe = to_seconds(incidents["safe"])
    overdue = is_open & (opened + delay < t) & (np.isnan(safe) | (safe > t))
    sel = incidents.loc[is_open]
    return {
        "open": int(is_open.sum()),
        "overdue": int(overdue.sum()),
        "by_priority": {str(k): int(v) for k, v in sel["priority"].fillna("none").value_counts().sort_index().items()},
        "by_domain": {str(k): int(v) for k, v in sel["domain"].value_counts().sort_index().items()},
        "by_commune": {str(k): int(v) for k, v in sel["commune_code"].dropna().value_counts().sort_index().items()},
    }


def mean_time_to_repair(incidents: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict:
    """Mean hours from opening to resolution of incidents resolved in [start, end), overall and per priority."""
    resolved = to_seconds(incidents["resolved"])
    mask = _in_window(resolved, _sec(start), _sec(end))
    hours = pd.Series((resolved[mask] - to_seconds(incidents["opened"])[mask]) / 3600.0,
                      index=incidents.index[mask])
    sel = incidents.loc[mask]
    return {
        "hours": float(hours.mean()) if len(hours) else None,
        "count": int(len(hours)),
        "by_priority": {str(k): float(v) for k, v in hours.groupby(sel["priority"].fillna("none")).mean().items()},
        "by_domain": {str(k): float(v) for k, v in hours.groupby(sel["domain"]).mean().items()},
    }


# --- availability -----------------------------------------------------------------------------------

def _union(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, sorted union of intervals clipped to [lo, hi]."""
    s, e = np.clip(starts, lo, hi), np.clip(np.where(np.isnan(ends), hi, ends), lo, hi)
    keep = e > s
    s, e = s[keep], e[keep]
    if not len(s):
        return s, e
    order = np.argsort(s, kind="stable")
    s, run = s[order], np.maximum.accumulate(e[order])
    new = np.r_[True, s[1:] > run[:-1]]
    last = np.r_[np.flatnonzero(new)[1:] - 1, len(s) - 1]
    return s[new], run[last]


def _covered(t: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Measure of the union [s_i, e_i) lying before each time t (piecewise linear, by interpolation)."""
    if not len(s):
        return np.zeros_like(t, dtype=float)
    x = np.column_stack([s, e]).ravel()
    y = np.column_stack([np.r_[0.0, np.cumsum(e - s)[:-1]], np.cumsum(e - s)]).ravel()
    return np.interp(t, x, y)


@dataclass(frozen=True)
class AvailabilityFigures:
    """Availability (%) of a family over a window, overall and per commune, with its parts in device-hours."""

    pct: float | None
    by_commune: Mapping[str, float]
    accountable_h: float
    fault_h: float
    maintenance_h: float
    feed_outage_h: float


def _outage_union(outages: pd.DataFrame, feeds: Iterable[str], lo: float, hi: float):
    sel = outages[outages["feed"].isin(list(feeds))]
    return _union(to_seconds(sel["start"]), to_seconds(sel["end"]), lo, hi)


def _union_per_asset(rows: pd.DataFrame) -> pd.DataFrame:
    """Merge overlapping or touching intervals of the same (asset_id, cls)."""
    if rows.empty:
        return rows
    rows = rows.sort_values(["asset_id", "cls", "s"], kind="stable").reset_index(drop=True)
    key = rows["asset_id"] + "|" + rows["cls"]
    run = rows.groupby(key, sort=False)["e"].cummax()
    new = (key != key.shift()) | (rows["s"] > run.shift())
    group = new.cumsum()
    out = rows.assign(e=run).groupby(group, sort=False).agg(asset_id=("asset_id", "first"), cls=("cls", "first"),
                                                             s=("s", "min"), e=("e", "max"))
    return out.reset_index(drop=True)


def _class_rows(states: pd.DataFrame, fam: pd.DataFrame, fault_states, maintenance_states) -> pd.DataFrame:
    """Fault and maintenance intervals (epoch s) of the family's assets, their parents' passed down to them."""
    fault_states, maintenance_states = set(fault_states), set(maintenance_states)
    cls = states[states["state"].isin(fault_states | maintenance_states)]
    own = cls.merge(fam[["asset_id"]], on="asset_id")
    children = fam[["asset_id", "parent_id"]].dropna()
    inherited = cls.rename(columns={"asset_id": "parent_id"}).merge(children, on="parent_id")
    rows = pd.concat([own[["asset_id", "state", "start", "end"]], inherited[["asset_id", "state", "start", "end"]]],
                     ignore_index=True)
    out = pd.DataFrame({"asset_id": rows["asset_id"].astype(str).to_numpy(),
                        "cls": np.where(rows["state"].isin(fault_states), "fault", "maintenance"),
                        "s": to_seconds(rows["start"]), "e": np.nan_to_num(to_seconds(rows["end"]), nan=np.inf)})
    return out[out["e"] > out["s"]]


@dataclass(frozen=True, eq=False)
class FamilyIntervals:
    """A family's devices and their merged fault and maintenance intervals, ready to measure any window."""

    units: pd.Series
    fault: pd.DataFrame
    maintenance: pd.DataFrame
    both: pd.DataFrame


def family_intervals(states: pd.DataFrame, assets: pd.DataFrame, *, kinds: Iterable[str],
                     fault_states: Iterable[str], maintenance_states: Iterable[str]) -> FamilyIntervals:
    """Prepare a family once (merging its intervals per device) to measure many windows with `availability_in`."""
    fam = assets[assets["kind"].isin(list(kinds))]
    merged = _union_per_asset(_class_rows(states, fam, fault_states, maintenance_states))
    if merged.empty:
        merged = pd.DataFrame({"asset_id": pd.Series(dtype=str), "cls": pd.Series(dtype=str),
                               "s": pd.Series(dtype=float), "e": pd.Series(dtype=float)})
    commune = fam.set_index("asset_id")["commune_code"]
    merged["commune"] = merged["asset_id"].map(commune).to_numpy()
    faults, maint = merged[merged["cls"] == "fault"], merged[merged["cls"] == "maintenance"]
    both = faults.merge(maint[["asset_id", "s", "e"]], on="asset_id", suffixes=("_f", "_m"))
    both = pd.DataFrame({"commune": both["commune"].to_numpy(),
                         "s": np.maximum(both["s_f"].to_numpy(dtype=float), both["s_m"].to_numpy(dtype=float)),
                         "e": np.minimum(both["e_f"].to_numpy(dtype=float), both["e_m"].to_numpy(dtype=float))})
    return FamilyIntervals(units=fam.groupby("commune_code").size().astype(float),
                           fault=faults, maintenance=maint, both=both[both["e"] > both["s"]])


def _measure(rows: pd.DataFrame, lo: float, hi: float, os_: np.ndarray, oe: np.ndarray) -> pd.Series:
    """Seconds of each commune's intervals inside [lo, hi) and outside the outages."""
    s = np.clip(rows["s"].to_numpy(dtype=float), lo, hi)
    e = np.clip(rows["e"].to_numpy(dtype=float), lo, hi)
    dur = (e - s) - (_covered(e, os_, oe) - _covered(s, os_, oe))
    return pd.Series(dur).groupby(rows["commune"].to_numpy()).sum()


def availability_in(prepared: FamilyIntervals, outages: pd.DataFrame, *, feeds: Iterable[str],
                    start: pd.Timestamp, end: pd.Timestamp) -> AvailabilityFigures:
    """Availability of a prepared family over [start, end) (see `availability`)."""
    lo, hi = _sec(start), _sec(end)
    os_, oe = _outage_union(outages, feeds, lo, hi)
    outage_s = float((oe - os_).sum())
    units = prepared.units
    fault_c = (_measure(prepared.fault, lo, hi, os_, oe)
               .sub(_measure(prepared.both, lo, hi, os_, oe), fill_value=0.0)).reindex(units.index, fill_value=0.0)
    maint_c = _measure(prepared.maintenance, lo, hi, os_, oe).reindex(units.index, fill_value=0.0)
    account = units * ((hi - lo) - outage_s) - maint_c
    by_commune = {str(c): 100.0 * (1.0 - fault_c[c] / a_) for c, a_ in account.items() if a_ > 0}
    total_account, total_fault = float(account.sum()), float(fault_c.sum())
    return AvailabilityFigures(
        pct=None if total_account <= 0 else 100.0 * (1.0 - total_fault / total_account),
        by_commune=by_commune,
        accountable_h=total_account / 3600.0,
        fault_h=total_fault / 3600.0,
        maintenance_h=float(maint_c.sum()) / 3600.0,
        feed_outage_h=outage_s / 3600.0,
    )


def availability(states: pd.DataFrame, assets: pd.DataFrame, outages: pd.DataFrame, *, kinds: Iterable[str],
                 feeds: Iterable[str], fault_states: Iterable[str], maintenance_states: Iterable[str],
                 start: pd.Timestamp, end: pd.Timestamp) -> AvailabilityFigures:
    """Device availability of a family: 1 - fault time / accountable time, per device of the given kinds.

    A device is in fault (or maintenance) while it or its parent (`parent_id`, a light point's
    cabinet) is. Accountable time is the window minus the family's feed outages (the devices were
    not observed: that counts against IT availability) minus planned maintenance; fault time
    during maintenance or a feed outage is not counted.
    """
    prepared = family_intervals(states, assets, kinds=kinds, fault_states=fault_states,
                                maintenance_states=maintenance_states)
    return availability_in(prepared, outages, feeds=feeds, start=start, end=end)


def it_availability(outages: pd.DataFrame, feeds: Iterable[str], start: pd.Timestamp,
                    end: pd.Timestamp) -> tuple[float | None, dict[str, float]]:
    """IT availability (%): 1 - time the contract's feeds were down / (feeds x window); also per feed."""
    lo, hi = _sec(start), _sec(end)
    feeds = list(feeds)
    if not feeds or hi <= lo:
        return None, {}
    by_feed = {}
    for name in feeds:
        s, e = _outage_union(outages, [name], lo, hi)
        by_feed[name] = 100.0 * (1.0 - float((e - s).sum()) / (hi - lo))
    return float(np.mean(list(by_feed.values()))), by_feed
