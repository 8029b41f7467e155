"""Shared machinery of the Dijon simulator: timed agenda, staggered periodic schedules, local time and the sun."""

from __future__ import annotations

import heapq
import math
from datetime import date, datetime, time, timezone
from functools import lru_cache
from itertools import count
from typing import Callable
from zoneinfo import ZoneInfo

import numpy as np
from astral import Observer
from astral.sun import elevation, sun

__all__ = [
    "DAY_MS",
    "DIJON",
    "HOUR_MS",
    "MINUTE_MS",
    "TZ",
    "YEAR_MS",
    "Agenda",
    "Periodic",
    "arrivals",
    "distance_m",
    "local_date",
    "local_hour",
    "local_ms",
    "ou_step",
    "repair_delay_ms",
    "sun_elevation",
    "sun_times",
]

TZ = ZoneInfo("Europe/Paris")
DIJON = Observer(latitude=47.32, longitude=5.04)
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
YEAR_MS = 365 * DAY_MS


def local_date(ts_ms: int) -> date:
    """The Europe/Paris calendar date of an instant."""
    return datetime.fromtimestamp(ts_ms / 1000, TZ).date()


def local_hour(ts_ms: int) -> float:
    """The Europe/Paris wall-clock hour of an instant, as a fraction (21.5 for 21:30)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, TZ)
    return moment.hour + moment.minute / 60 + moment.second / 3600


def local_ms(day: date, at: time) -> int:
    """Epoch milliseconds of a Europe/Paris wall-clock time on a date."""
    return int(datetime.combine(day, at, TZ).timestamp() * 1000)


@lru_cache(maxsize=128)
def sun_times(day: date) -> tuple[int, int]:
    """Sunrise and sunset in Dijon on a date, in epoch milliseconds."""
    times = sun(DIJON, day, tzinfo=timezone.utc)
    return int(times["sunrise"].timestamp() * 1000), int(times["sunset"].timestamp() * 1000)


def sun_elevation(ts_ms: int) -> float:
    """Elevation of the sun above the horizon in Dijon, in degrees."""
    return float(elevation(DIJON, datetime.fromtimestamp(ts_ms / 1000, timezone.utc)))


def distance_m(lat1, lon1, lat2, lon2):
    """Approximate ground distance in metres (equirectangular, good to a few metres at city scale)."""
    k = 111_320.0
    dx = (np.asarray(lon2) - np.asarray(lon1)) * k * math.cos(math.radians(47.32))
    dy = (np.asarray(lat2) - np.asarray(lat1)) * k
    return np.hypot(dx, dy)


class Agenda:
    """Timed actions (repairs, restorations, answers) run in time order as the clock passes them."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Callable, object]] = []
        self._seq = count()

    def push(self, ts: int, action: Callable[[int, object, list], None], payload: object = None) -> None:
        """Schedule `action(ts, payload, out)` at `ts` (epoch ms)."""
        heapq.heappush(self._heap, (int(ts), next(self._seq), action, payload))

    def run_until(self, end_ms: int, out: list) -> None:
        """Run every action due before `end_ms`, including those scheduled meanwhile."""
        heap = self._heap
        while heap and heap[0][0] < end_ms:
            ts, _, action, payload = heapq.heappop(heap)
            action(ts, payload, out)

    def __len__(self) -> int:
        return len(self._heap)


class Periodic:
    """Assets reporting every `period_ms`, each at its own phase, so reports are spread evenly."""

    def __init__(self, phases_ms: np.ndarray, period_ms: int) -> None:
        phases = np.asarray(phases_ms, dtype=np.int64) % period_ms
        self.period = int(period_ms)
        self.order = np.argsort(phases, kind="stable")
        self.sorted = phases[self.order]

    def due(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and timestamps of the reports falling in [a, b), in time order."""
        period, idx, ts = self.period, [], []
        window = a - a % period
        while window < b:
            lo, hi = max(a, window) - window, min(b, window + period) - window
            i0, i1 = np.searchsorted(self.sorted, [lo, hi], side="left")
            if i1 > i0:
                idx.append(self.order[i0:i1])
                ts.append(window + self.sorted[i0:i1])
            window += period
        if not idx:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(idx), np.concatenate(ts)


def arrivals(rng: np.random.Generator, rate_per_h: float, a: int, b: int) -> np.ndarray:
    """Times of a Poisson process of `rate_per_h` arrivals an hour within [a, b), sorted."""
    n = int(rng.poisson(max(rate_per_h, 0.0) * (b - a) / HOUR_MS)) if b > a else 0
    return np.sort(rng.integers(a, b, n)) if n else np.empty(0, dtype=np.int64)


def ou_step(x, rng: np.random.Generator, dt_ms: int, tau_h: float, sigma: float, mean: float = 0.0):
    """Advance an Ornstein-Uhlenbeck process (mean reversion time `tau_h`, stationary spread `sigma`) by dt."""
    k = math.exp(-dt_ms / (tau_h * HOUR_MS))
    noise = rng.standard_normal(np.shape(x)) if np.ndim(x) else float(rng.standard_normal())
    return mean + (x - mean) * k + sigma * math.sqrt(max(1.0 - k * k, 0.0)) * noise


def repair_delay_ms(rng: np.random.Generator, median_h: float, *, spread: float = 0.6, min_h: float = 0.5) -> int:
    """A log-normal repair or restoration delay around `median_h` hours, never below `min_h`."""
    hours = max(min_h, median_h * math.exp(spread * float(rng.standard_normal())))
    return int(hours * HOUR_MS)

