"""Generate months of plausible history directly as the facts the store keeps, deterministic from a seed.

No event goes through Kafka or the processor: the generator produces what they would have
written. Energy per cabinet and hour comes from the inventory wattages (the sodium/mercury
lamp until its renovation date, the LED after), the dark fraction of each hour (astral, Dijon)
and the dimming programme; faults are Poisson draws per asset with repair times around the
contract delays (some late, worse in winter and in a few storm weeks); feed outages and
planned maintenance complete the picture. Nothing is left open at the end of the window, so
the live processor starts from a clean slate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from streams.contract import Contract
from streams.darkness import dark_fraction

__all__ = [
    "ENERGY_PLAN_2022",
    "FAULTS",
    "MAINTENANCE",
    "SWITCH_OFF_COMMUNES",
    "FaultSpec",
    "History",
    "MaintenanceSpec",
    "dimming_level",
    "energy_chunks",
    "generate_history",
]

MS = 1000
HOUR_MS = 3_600_000
ENERGY_PLAN_2022 = pd.Timestamp("2022-10-01", tz="Europe/Paris")
# Small communes that switch their lights off from midnight to 05:00 under the 2022 energy plan.
SWITCH_OFF_COMMUNES = frozenset({"21270", "21192", "21370", "21106", "21315"})
OPERATORS = ("a.martin", "c.bernard", "l.petit", "s.durand", "m.leroy", "j.moreau")


@dataclass(frozen=True)
class FaultSpec:
    """A kind of equipment fault: which assets, the state and alert it gives, and how often (per asset a year)."""

    kind: str
    rule: str
    state: str
    domain: str
    severity: str
    priority: str
    title: str
    rate_per_year: float
    team: str


@dataclass(frozen=True)
class MaintenanceSpec:
    """Planned maintenance of a kind of asset: visits per asset a year and their length."""

    kind: str
    rate_per_year: float
    hours: float


FAULTS = (
    FaultSpec("light", "lamp_failure", "fault", "lighting", "minor", "P3", "Lamp failure", 0.12, "eclairage"),
    FaultSpec("cabinet", "cabinet_supply_loss", "fault", "lighting", "critical", "P1",
              "Control cabinet supply loss", 0.8, "eclairage"),
    FaultSpec("signal", "signal_fault", "fault", "traffic", "major", "P1", "Traffic controller fault", 2.5,
              "signalisation"),
    FaultSpec("signal", "signal_fault", "fault", "traffic", "minor", "P2", "Traffic controller fault", 1.5,
              "signalisation"),
    FaultSpec("camera", "camera_fault", "offline", "cameras", "minor", "P3", "Camera fault", 4.0, "video"),
    FaultSpec("camera", "camera_fault", "videoLoss", "cameras", "minor", "P2", "Camera fault", 1.5, "video"),
)
MAINTENANCE = (MaintenanceSpec("cabinet", 1.0, 3.0), MaintenanceSpec("signal", 2.0, 2.0),
               MaintenanceSpec("camera", 2.0, 1.5))
# (category, priority, severity, share) of citizen reports; about 25 reach the room a day.
REPORTS = (("fallen_tree", "P1", "major", 0.03), ("flooding", "P1", "major", 0.02), ("ice", "P1", "major", 0.03),
           ("pothole", "P2", "minor", 0.22), ("damaged_sign", "P2", "minor", 0.12),
           ("illegal_dumping", "P3", "minor", 0.25), ("graffiti", "P3", "info", 0.15),
           ("abandoned_vehicle", "P3", "info", 0.08), ("other", "P3", "minor", 0.10))
REPORTS_PER_DAY = 25.0
FEED_OUTAGES_PER_MONTH = 1.0
FEED_SILENT_S = 300


@dataclass(frozen=True, eq=False)
class History:
    """Generated facts of [start, end): state intervals, alerts with their lifecycle, interventions, feed outages.

    Times are epoch milliseconds, as in the store. Energy is produced separately, chunk by
    chunk (`energy_chunks`), because a year of it is millions of rows.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    intervals: pd.DataFrame
    alerts: pd.DataFrame
    outages: pd.DataFrame


def dimming_level(hours: pd.DatetimeIndex, communes: np.ndarray, tz: str) -> np.ndarray:
    """Light level (0-1) of LED lamps per commune (rows) and hour (columns) under the dimming programme.

    70 % from 22:00 to 05:00 until the 2022 energy plan; then 50 % from 23:00 to 05:00, and off
    from midnight to 05:00 in a few small communes.
    """
    local = hours.tz_convert(tz)
    hod = local.hour.to_numpy()
    plan = np.asarray(hours >= ENERGY_PLAN_2022)
    old = np.where((hod >= 22) | (hod < 5), 0.7, 1.0)
    new = np.where((hod >= 23) | (hod < 5), 0.5, 1.0)
    night_off = np.where(hod < 5, 0.0, new)
    level = np.where(plan, new, old)
    off = np.where(plan, night_off, old)
    switch = np.isin(communes.astype(str), list(SWITCH_OFF_COMMUNES))
    return np.where(switch[:, None], off[None, :], level[None, :])


def _renovated_watts(lights: pd.DataFrame, cab_index: pd.Index, days: pd.DatetimeIndex) -> tuple[np.ndarray, ...]:
    """LED watts and legacy watts per cabinet (rows) and day (columns): a lamp is LED from its renovation day."""
    c = cab_index.get_indexer(lights["cabinet_id"])
    ren = pd.to_datetime(lights["renovated_on"]).dt.tz_localize("UTC")
    k = np.searchsorted(days.to_numpy(), ren.to_numpy(), side="left")
    k = np.where(ren.isna().to_numpy(), len(days), k)
    led = np.zeros((len(cab_index), len(days) + 1))
    base = np.zeros((len(cab_index), len(days) + 1))
    np.add.at(led, (c, k), lights["wattage_w"].to_numpy(dtype=float))
    np.add.at(base, (c, k), lights["baseline_w"].to_numpy(dtype=float))
    led, renovated_base = np.cumsum(led, axis=1)[:, :-1], np.cumsum(base, axis=1)[:, :-1]
    total = np.bincount(c, lights["baseline_w"].to_numpy(dtype=float), minlength=len(cab_index))
    return led, total[:, None] - renovated_base


def energy_chunks(assets: pd.DataFrame, contract: Contract, start: pd.Timestamp, end: pd.Timestamp, *,
                  seed: int, chunk_days: int = 28) -> Iterator[pd.DataFrame]:
    """Energy per cabinet and hour over [start, end) (hours with some darkness only), chunk by chunk.

    Yields frames of cabinet_id, hour_ts (epoch ms), kwh (hours with no energy are left out).
    Faulty lamps still count (a small overestimate of about 0.1 %).
    """
    cabinets = assets[assets["kind"] == "cabinet"]
    lights = assets[assets["kind"] == "light"]
    cab_index = pd.Index(cabinets["asset_id"].astype(str))
    communes = cabinets["commune_code"].to_numpy()
    cab_ids = cab_index.to_numpy(dtype=object)
    t = start
    while t < end:
        stop = min(t + pd.Timedelta(days=chunk_days), end)
        rng = np.random.default_rng([seed, 1, int(t.timestamp())])
        hours = pd.date_range(t, stop, freq="h", inclusive="left")
        dark = dark_fraction(hours, contract.lat, contract.lon)
        hours, dark = hours[dark > 0], dark[dark > 0]
        days = pd.date_range(t.normalize(), stop.normalize() + pd.Timedelta(days=1), freq="D", inclusive="left")
        led, legacy = _renovated_watts(lights, cab_index, days)
        d = np.searchsorted(days.to_numpy(), hours.normalize().to_numpy(), side="right") - 1
        level = dimming_level(hours, communes, contract.timezone)
        watts = legacy[:, d] + led[:, d] * level
        kwh = watts * dark[None, :] / 1000.0 * rng.normal(1.0, 0.015, watts.shape)
        kwh = np.round(kwh.ravel(), 4)
        lit = kwh > 0  # a cabinet switched off for the night reports nothing new
        yield pd.DataFrame({
            "cabinet_id": np.repeat(cab_ids, len(hours))[lit],
            "hour_ts": np.tile(_to_ms(hours), len(cab_ids))[lit],
            "kwh": kwh[lit],
        })
        t = stop


def _to_ms(index: pd.DatetimeIndex) -> np.ndarray:
    return ((index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(dtype=np.int64)


def _season(t_ms: np.ndarray) -> np.ndarray:
    """1 in mid-January, 0 in mid-July."""
    doy = (t_ms / 86_400_000.0) % 365.25
    return 0.5 + 0.5 * np.cos(2 * np.pi * (doy - 15) / 365.25)


def _repair_factor(rng: np.random.Generator, t_ms: np.ndarray, storms: np.ndarray) -> np.ndarray:
    """Time to make safe as a share of the contractual delay: about 5 % late, more in winter and storm weeks."""
    median = 0.35 * (1.0 + 0.25 * _season(t_ms))
    in_storm = np.zeros(len(t_ms), dtype=bool)
    for s in storms:
        in_storm |= (t_ms >= s) & (t_ms < s + 7 * 86_400_000)
    median = np.where(in_storm, 0.8, median)
    return median * np.exp(rng.normal(0.0, 0.45, len(t_ms)))


def _lifecycle(rng: np.random.Generator, opened: np.ndarray, safe: np.ndarray) -> dict:
    """Acknowledgement, dispatch and closing times between opening and resolution, and who did them."""
    n = len(opened)
    span = np.maximum(safe - opened, 2 * 60 * MS)
    ack = opened + np.minimum(rng.exponential(4 * 60 * MS, n), 0.3 * span).astype(np.int64)
    dispatch = ack + np.minimum(rng.exponential(10 * 60 * MS, n), 0.3 * span).astype(np.int64)
    who = np.array(OPERATORS, dtype=object)
    return {
        "acknowledged_ts": ack, "acknowledged_by": who[rng.integers(0, len(who), n)],
        "in_progress_ts": dispatch,
        "resolved_ts": safe, "resolved_by": who[rng.integers(0, len(who), n)],
        "closed_ts": safe + rng.integers(10 * 60 * MS, 4 * HOUR_MS, n), "closed_by": who[rng.integers(0, len(who), n)],
    }


def _faults(rng, assets, contract, start_ms, end_ms, storms) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    years = (end_ms - start_ms) / (365.25 * 86_400_000)
    intervals, alerts = [], []
    for spec in FAULTS:
        pool = assets[assets["kind"] == spec.kind]
        n = rng.poisson(spec.rate_per_year * years * len(pool))
        pick = pool.iloc[rng.integers(0, len(pool), n)]
        began = rng.integers(start_ms, end_ms, n)
        opened = began + rng.integers(30 * MS, 5 * 60 * MS, n)
        delay_ms = contract.interventions.delays_h[spec.priority] * HOUR_MS
        safe = opened + (_repair_factor(rng, opened, storms) * delay_ms).astype(np.int64)
        keep = safe < end_ms
        pick, began, opened, safe = pick.iloc[np.flatnonzero(keep)], began[keep], opened[keep], safe[keep]
        intervals.append(pd.DataFrame({"asset_id": pick["asset_id"].to_numpy(), "state": spec.state,
                                       "start_ts": began, "end_ts": safe}))
        alerts.append(pd.DataFrame({
            "rule": spec.rule, "asset_id": pick["asset_id"].to_numpy(), "domain": spec.domain,
            "severity": spec.severity, "priority": spec.priority, "title": spec.title, "opened_ts": opened,
            "due_ts": opened + int(delay_ms), "assigned_team": spec.team, "lat": pick["lat"].to_numpy(),
            "lon": pick["lon"].to_numpy(), "commune_code": pick["commune_code"].to_numpy(),
            **_lifecycle(rng, opened, safe),
        }))
    return intervals, alerts


def _reports(rng, assets, contract, start_ms, end_ms, storms) -> pd.DataFrame:
    n = rng.poisson(REPORTS_PER_DAY * (end_ms - start_ms) / 86_400_000)
    cat = rng.choice(len(REPORTS), n, p=[r[3] for r in REPORTS])
    spot = assets[assets["kind"] == "light"].iloc[rng.integers(0, (assets["kind"] == "light").sum(), n)]
    opened = np.sort(rng.integers(start_ms, end_ms, n))
    prio = np.array([REPORTS[c][1] for c in cat], dtype=object)
    delay_ms = pd.Series(prio).map(contract.interventions.delays_h).to_numpy(dtype=float) * HOUR_MS
    safe = opened + (_repair_factor(rng, opened, storms) * delay_ms).astype(np.int64)
    keep = safe < end_ms
    names = np.array([r[0] for r in REPORTS], dtype=object)[cat]
    frame = pd.DataFrame({
        "rule": "citizen_report", "asset_id": [f"BF-{i:07d}" for i in range(n)], "domain": "incidents",
        "severity": np.array([REPORTS[c][2] for c in cat], dtype=object), "priority": prio,
        "title": "Citizen report: " + pd.Series(names).str.replace("_", " "), "opened_ts": opened,
        "due_ts": opened + delay_ms.astype(np.int64), "assigned_team": "espace-public",
        "lat": spot["lat"].to_numpy(), "lon": spot["lon"].to_numpy(), "commune_code": spot["commune_code"].to_numpy(),
        **_lifecycle(rng, opened, safe),
    })
    return frame[keep].reset_index(drop=True)


def _maintenance(rng, assets, start_ms, end_ms) -> list[pd.DataFrame]:
    years = (end_ms - start_ms) / (365.25 * 86_400_000)
    out = []
    for spec in MAINTENANCE:
        pool = assets[assets["kind"] == spec.kind]
        n = rng.poisson(spec.rate_per_year * years * len(pool))
        day = rng.integers(start_ms // 86_400_000, end_ms // 86_400_000, n) * 86_400_000
        began = day + rng.integers(7, 14, n) * HOUR_MS  # working hours (UTC 07:00-14:00)
        stop = began + int(spec.hours * HOUR_MS)
        keep = (began >= start_ms) & (stop < end_ms)
        out.append(pd.DataFrame({"asset_id": pool["asset_id"].to_numpy()[rng.integers(0, len(pool), n)][keep],
                                 "state": "maintenance", "start_ts": began[keep], "end_ts": stop[keep]}))
    return out


def _outages(rng, contract, start_ms, end_ms) -> pd.DataFrame:
    months = (end_ms - start_ms) / (30.44 * 86_400_000)
    rows = []
    for feed in contract.it.feeds:
        n = rng.poisson(FEED_OUTAGES_PER_MONTH * months)
        began = rng.integers(start_ms, end_ms, n)
        minutes = np.minimum(25.0 * np.exp(rng.normal(0.0, 1.3, n)), 24 * 60.0)
        stop = began + (np.maximum(minutes, 6.0) * 60 * MS).astype(np.int64)
        keep = stop < end_ms
        rows.append(pd.DataFrame({"feed": feed, "start_ts": began[keep], "end_ts": stop[keep]}))
    return pd.concat(rows, ignore_index=True).sort_values("start_ts", kind="stable").reset_index(drop=True)


def _outage_alerts(rng, outages: pd.DataFrame, namespace: str) -> pd.DataFrame:
    opened = outages["start_ts"].to_numpy() + FEED_SILENT_S * MS
    safe = np.maximum(outages["end_ts"].to_numpy(), opened + MS)
    frame = pd.DataFrame({
        "rule": "feed_down", "asset_id": namespace + "." + outages["feed"],
        "domain": outages["feed"].str.split(".").str[0],
        "severity": "critical", "priority": "P1", "title": "Data feed down: " + outages["feed"], "opened_ts": opened,
        "due_ts": opened + 2 * HOUR_MS, "assigned_team": "informatique", "lat": None, "lon": None,
        "commune_code": None, **_lifecycle(rng, opened, safe),
    })
    frame["details"] = [{"feed": f, "last_event_ts": int(s), "backfill": True}
                        for f, s in zip(outages["feed"], outages["start_ts"])]
    return frame


def generate_history(assets: pd.DataFrame, contract: Contract, start: pd.Timestamp, end: pd.Timestamp, *,
                     seed: int = 42, namespace: str = "live") -> History:
    """Faults, repairs, alerts, maintenance and feed outages of [start, end) for the inventory `assets`."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    rng = np.random.default_rng([seed, 2, start_ms // 1000, end_ms // 1000])
    weeks = max(1, int((end_ms - start_ms) / (7 * 86_400_000)))
    storms = start_ms + rng.choice(weeks, size=min(3, weeks), replace=False) * 7 * 86_400_000
    fault_intervals, fault_alerts = _faults(rng, assets, contract, start_ms, end_ms, storms)
    outages = _outages(rng, contract, start_ms, end_ms)
    alerts = pd.concat([*fault_alerts, _reports(rng, assets, contract, start_ms, end_ms, storms),
                        _outage_alerts(rng, outages, namespace)], ignore_index=True)
    if "details" not in alerts:
        alerts["details"] = None
    alerts["details"] = [d if isinstance(d, dict) else {"backfill": True} for d in alerts["details"]]
    alerts = alerts.sort_values("opened_ts", kind="stable").reset_index(drop=True)
    intervals = pd.concat([*fault_intervals, *_maintenance(rng, assets, start_ms, end_ms)], ignore_index=True)
    intervals = _no_overlap(intervals.sort_values(["asset_id", "start_ts"], kind="stable").reset_index(drop=True))
    return History(start=start, end=end, intervals=intervals, alerts=alerts, outages=outages)


def _no_overlap(intervals: pd.DataFrame) -> pd.DataFrame:
    """One state at a time per asset, as the processor writes: an interval overlapping an earlier one is dropped."""
    same = intervals["asset_id"].eq(intervals["asset_id"].shift())
    run_end = intervals.groupby("asset_id", sort=False)["end_ts"].cummax().shift()
    clash = same & (intervals["start_ts"] < run_end)
    return intervals[~clash.to_numpy()].reset_index(drop=True)
