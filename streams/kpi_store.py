"""The adapter between the operational store and the KPI engine: store rows in, `KpiFrames` out.

Conventions read from the processor: equipment states come from `state_intervals`, and from
`asset_state` for each asset's current one (only the contract's fault and maintenance states
are read); a data feed's outage is a `feed_down` alert (from `details.last_event_ts`, else its
opening, to its resolution); an incident is an alert with a priority that is neither a feed
outage nor a child absorbed by a parent alert, made safe when its first intervention closed
(else when resolved). Energy is summed per
cabinet and calendar month in SQL, so a year of KPIs never loads millions of hourly rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, func, or_, select

from streams.contract import Contract
from streams.kpi import KpiFrames, asset_table, lighting_table
from streams.kpi_periods import Period, months_of
from streams.store.schema import alerts, all_intervals, energy_hourly, interventions

__all__ = ["FEED_RULE", "frames_from_tables", "incidents_from_alerts", "inventory_assets", "outages_from_alerts",
           "read_frames"]

FEED_RULE = "feed_down"
# Fifteen complete months: the same month a year earlier and the year-over-year change of the last three.
FORECAST_LOOKBACK = pd.Timedelta(days=470)


def _ts(values) -> pd.Series:
    """UTC timestamps of epoch-ms values (None/NaN become NaT)."""
    ms = np.asarray(pd.Series(values, dtype="float64"))
    ns = np.full(len(ms), np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(ms)
    ns[ok] = (ms[ok].astype(np.int64) * 1_000_000).astype("datetime64[ns]")
    return pd.Series(ns).dt.tz_localize("UTC")


def outages_from_alerts(rows: pd.DataFrame) -> pd.DataFrame:
    """Feed outages (feed, start, end) from `feed_down` alerts."""
    rows = rows[rows["rule"] == FEED_RULE]
    details = rows["details"] if "details" in rows else pd.Series([None] * len(rows), index=rows.index)
    feed = [d.get("feed") if isinstance(d, dict) and d.get("feed") else a.split(".", 1)[-1]
            for d, a in zip(details, rows["asset_id"])]
    start = [d.get("last_event_ts") if isinstance(d, dict) and d.get("last_event_ts") else o
             for d, o in zip(details, rows["opened_ts"])]
    end = rows["resolved_ts"].where(rows["resolved_ts"].notna(), rows.get("closed_ts"))
    return pd.DataFrame({"feed": feed, "start": _ts(start).to_numpy(), "end": _ts(end.to_numpy()).to_numpy()})


def incidents_from_alerts(rows: pd.DataFrame, made_safe: pd.Series | None, assets: pd.DataFrame) -> pd.DataFrame:
    """Incidents (id, priority, domain, commune_code, opened, safe, resolved) from alerts with a priority."""
    keep = rows["priority"].notna() & (rows["rule"] != FEED_RULE)
    if "parent_id" in rows:
        keep &= rows["parent_id"].isna()
    rows = rows[keep]
    resolved = rows["resolved_ts"].where(rows["resolved_ts"].notna(), rows.get("closed_ts"))
    safe = resolved.copy()
    if made_safe is not None and len(made_safe):
        first = rows["id"].map(made_safe)
        safe = pd.concat([first, resolved], axis=1).min(axis=1)
    commune = rows["commune_code"] if "commune_code" in rows else pd.Series(None, index=rows.index)
    commune = commune.fillna(rows["asset_id"].map(assets.set_index("asset_id")["commune_code"]))
    return pd.DataFrame({
        "id": rows["id"].to_numpy() if "id" in rows else np.arange(len(rows)),
        "priority": rows["priority"].to_numpy(), "domain": rows["domain"].to_numpy(),
        "commune_code": commune.to_numpy(), "opened": _ts(rows["opened_ts"].to_numpy()).to_numpy(),
        "safe": _ts(safe.to_numpy()).to_numpy(), "resolved": _ts(resolved.to_numpy()).to_numpy(),
    })


def frames_from_tables(inventory_assets: pd.DataFrame, *, as_of: pd.Timestamp, energy: pd.DataFrame,
                       intervals: pd.DataFrame, alert_rows: pd.DataFrame,
                       made_safe: pd.Series | None = None) -> KpiFrames:
    """KpiFrames from store-shaped rows (epoch-ms columns, as in the tables or a generated History)."""
    assets = asset_table(inventory_assets)
    return KpiFrames(
        as_of=pd.Timestamp(as_of),
        assets=assets,
        lighting=lighting_table(inventory_assets),
        energy=pd.DataFrame({"cabinet_id": energy["cabinet_id"].to_numpy(),
                             "hour": _ts(energy["hour_ts"].to_numpy()).to_numpy(),
                             "kwh": energy["kwh"].to_numpy(dtype=float)}),
        states=pd.DataFrame({"asset_id": intervals["asset_id"].to_numpy(), "state": intervals["state"].to_numpy(),
                             "start": _ts(intervals["start_ts"].to_numpy()).to_numpy(),
                             "end": _ts(intervals["end_ts"].to_numpy()).to_numpy()}),
        outages=outages_from_alerts(alert_rows),
        incidents=incidents_from_alerts(alert_rows, made_safe, assets),
    )


def _rows(conn, result_or_query) -> list[tuple]:
    """Plain tuples of a query's rows (pandas builds frames from them fastest)."""
    return [tuple(r) for r in conn.execute(result_or_query)]


def _ms(t: pd.Timestamp) -> int:
    return int(t.value // 1_000_000)


def _energy_by_month(conn, contract: Contract, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Per cabinet and calendar month: kWh, labelled with the first hour that has a reading.

    One pass over the window, grouped by cabinet (the primary key's order, so nothing is sorted),
    with one running sum per month end. On SQLite the range is written `hour_ts + 0` so the
    hour index is not used: it would visit the rows out of storage order, ten times slower.
    """
    months = [m for m in months_of(contract, Period("span", since, until, "")) if m.end > since]
    if not months or since >= until:
        return pd.DataFrame(columns=["cabinet_id", "hour_ts", "kwh"])
    hour, kwh = energy_hourly.c.hour_ts, energy_hourly.c.kwh
    scan = hour + 0 if conn.dialect.name == "sqlite" else hour
    ends = [_ms(min(m.end, until)) for m in months]
    running = [func.sum(case((hour < end, kwh))).label(f"m{i}") for i, end in enumerate(ends)]
    q = (select(energy_hourly.c.cabinet_id, func.min(hour).label("first"), *running)
         .where(and_(scan >= _ms(since), scan < _ms(until))).group_by(energy_hourly.c.cabinet_id))
    rows = pd.DataFrame(_rows(conn, q),
                        columns=["cabinet_id", "first", *[f"m{i}" for i in range(len(ends))]])
    sums = rows[[f"m{i}" for i in range(len(ends))]].astype(float).fillna(0.0).to_numpy()
    per_month = np.diff(sums, axis=1, prepend=0.0)
    starts = np.array([_ms(max(m.start, since)) for m in months], dtype=np.int64)
    first = rows["first"].to_numpy(dtype=np.int64)
    label = np.maximum(starts[None, :], first[:, None])
    has = label < np.array(ends, dtype=np.int64)[None, :]
    return pd.DataFrame({"cabinet_id": np.repeat(rows["cabinet_id"].to_numpy(dtype=object), len(ends))[has.ravel()],
                         "hour_ts": label.ravel()[has.ravel()], "kwh": per_month.ravel()[has.ravel()]})


def read_frames(store: Any, contract: Contract, inventory_assets: pd.DataFrame, *, as_of: pd.Timestamp,
                since: pd.Timestamp, lookback: pd.Timedelta = FORECAST_LOOKBACK) -> KpiFrames:
    """Read what the KPIs of periods from `since` up to `as_of` need.

    Energy is read from `lookback` before `as_of` when that is earlier, for the seasonal
    forecast; a caller that does not show the forecast passes `lookback=pd.Timedelta(0)` and
    reads only its period (the energy scan is most of the cost).
    """
    states = sorted(contract.states.fault | contract.states.maintenance)
    lo_ms, hi_ms = _ms(since), _ms(as_of)
    energy_since = max(min(since, as_of - lookback),
                       pd.Timestamp(contract.start, tz=contract.timezone).tz_convert("UTC"))
    margin_ms = 31 * 86_400_000
    iv = all_intervals()
    iv_q = (select(iv.c.asset_id, iv.c.state, iv.c.start_ts, iv.c.end_ts)
            .where(and_(iv.c.state.in_(states), iv.c.start_ts < hi_ms,
                        or_(iv.c.end_ts.is_(None), iv.c.end_ts >= lo_ms))))
    cols = [alerts.c.id, alerts.c.rule, alerts.c.asset_id, alerts.c.domain, alerts.c.priority, alerts.c.opened_ts,
            alerts.c.resolved_ts, alerts.c.closed_ts, alerts.c.parent_id, alerts.c.commune_code, alerts.c.details]
    alert_q = select(*cols).where(and_(alerts.c.opened_ts < hi_ms, or_(
        alerts.c.resolved_ts.is_(None), alerts.c.resolved_ts >= lo_ms - margin_ms,
        alerts.c.opened_ts >= lo_ms - margin_ms)))
    safe_q = (select(interventions.c.alert_id, func.min(interventions.c.closed_ts))
              .where(and_(interventions.c.opened_ts < hi_ms, interventions.c.closed_ts.is_not(None)))
              .group_by(interventions.c.alert_id))
    with store.engine.connect() as conn:
        first = conn.scalar(select(func.min(energy_hourly.c.hour_ts)))
        if first is not None:
            energy_since = max(energy_since, pd.Timestamp(first, unit="ms", tz="UTC"))
        energy = _energy_by_month(conn, contract, energy_since, as_of)
        iv = pd.DataFrame(_rows(conn, iv_q), columns=["asset_id", "state", "start_ts", "end_ts"])
        alert_rows = pd.DataFrame(_rows(conn, alert_q), columns=[c.name for c in cols])
        safe = pd.DataFrame(_rows(conn, safe_q), columns=["alert_id", "closed_ts"])
    made_safe = safe.set_index("alert_id")["closed_ts"] if len(safe) else None
    return frames_from_tables(inventory_assets, as_of=as_of, energy=energy, intervals=iv, alert_rows=alert_rows,
                              made_safe=made_safe)


def inventory_assets(settings: Any) -> pd.DataFrame:
    """The inventory assets saved under the data folder, else the default one built from seed 42 (slower)."""
    from connectors.dijon.inventory import build_inventory, inventory_exists, load_inventory

    if inventory_exists(settings.inventory_dir):
        return load_inventory(settings.inventory_dir).assets
    return build_inventory(seed=42).assets
