"""Hours of darkness per hour of the clock, from sunset and sunrise computed with astral.

Street lights follow dusk and dawn, so the energy a lamp would draw at full power in an hour is
its wattage times the dark fraction of that hour. Sunset and sunrise are the standard ones
(sun centre 0.833° below the horizon), computed once per day and cached.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd
from astral import Observer
from astral.sun import sunrise, sunset

__all__ = ["HOUR", "dark_fraction", "dark_hours", "sun_times"]

HOUR = pd.Timedelta(hours=1)


@lru_cache(maxsize=64)
def _sun_table(lat: float, lon: float, year: int) -> tuple[np.ndarray, np.ndarray]:
    """Sunrise and sunset (epoch seconds, UTC) of every UTC day of a year."""
    observer = Observer(latitude=lat, longitude=lon)
    day, rises, sets = dt.date(year, 1, 1), [], []
    while day.year == year:
        rises.append(sunrise(observer, day, tzinfo=dt.timezone.utc).timestamp())
        sets.append(sunset(observer, day, tzinfo=dt.timezone.utc).timestamp())
        day += dt.timedelta(days=1)
    return np.array(rises), np.array(sets)


def sun_times(days: pd.DatetimeIndex, lat: float, lon: float) -> tuple[np.ndarray, np.ndarray]:
    """Sunrise and sunset (epoch seconds) of each UTC day in `days` (tz-aware UTC midnights)."""
    rises, sets = np.empty(len(days)), np.empty(len(days))
    years = days.year.to_numpy()
    doy = days.day_of_year.to_numpy() - 1
    for year in np.unique(years):
        r, s = _sun_table(float(lat), float(lon), int(year))
        mask = years == year
        rises[mask], sets[mask] = r[doy[mask]], s[doy[mask]]
    return rises, sets


def dark_fraction(hours: pd.DatetimeIndex, lat: float, lon: float) -> np.ndarray:
    """Dark share (0-1) of each hour starting at `hours` (tz-aware UTC, on the hour).

    Assumes sunrise and sunset fall on the same UTC day, which holds at French latitudes.
    """
    hours = pd.DatetimeIndex(hours)
    if hours.tz is None:
        raise ValueError("hours must be tz-aware (UTC)")
    hours = hours.tz_convert("UTC")
    days = hours.normalize()
    rise, set_ = sun_times(days, lat, lon)
    t0 = (hours - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    t0 = np.asarray(t0, dtype=float)
    t1 = t0 + 3600.0
    before_dawn = np.clip(np.minimum(t1, rise) - t0, 0.0, 3600.0)
    after_dusk = np.clip(t1 - np.maximum(t0, set_), 0.0, 3600.0)
    return (before_dawn + after_dusk) / 3600.0


def dark_hours(start: pd.Timestamp, end: pd.Timestamp, lat: float, lon: float) -> pd.Series:
    """Dark fraction of every hour in [start, end) (UTC, hourly index), 0 to 1."""
    start, end = pd.Timestamp(start).tz_convert("UTC").ceil("h"), pd.Timestamp(end).tz_convert("UTC")
    hours = pd.date_range(start, end, freq="h", inclusive="left")
    return pd.Series(dark_fraction(hours, lat, lon), index=hours, name="dark")
