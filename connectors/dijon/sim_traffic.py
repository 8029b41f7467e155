"""Traffic of the simulator: 113 signal controllers and 180 buses asking for priority along the lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely

from connectors.dijon.geography import LAMBERT93, to_lambert93
from connectors.dijon.scenarios import ScenarioRun
from connectors.dijon.sim_base import (
    MINUTE_MS, TZ, Agenda, Periodic, arrivals, distance_m, ou_step, repair_delay_ms,
)
from streams.schemas import BusPriority, SignalFault, SignalStatus

__all__ = ["BUSES", "SIGNAL_FAULTS", "SignalFaultSpec", "Traffic"]

SIGNAL_PERIOD_MS = 60_000
BUSES = 180
TRIGGER_M = 80.0  # the bus announces itself this far before the stop line


@dataclass(frozen=True)
class SignalFaultSpec:
    """One kind of traffic-controller fault: yearly rate per crossroads, the mode it forces, repair time."""

    fault: str
    per_year: float
    mode: str
    repair_median_h: float
    rate_key: str = "signal_fault"


SIGNAL_FAULTS: tuple[SignalFaultSpec, ...] = (
    SignalFaultSpec("lampOut", 6.0, "normal", 6.0),
    SignalFaultSpec("detectorFault", 4.0, "normal", 30.0),
    SignalFaultSpec("controllerFault", 1.0, "fault", 4.0),
    SignalFaultSpec("conflict", 0.3, "flashing", 3.0),
    SignalFaultSpec("powerFailure", 0.5, "dark", 2.0, rate_key="signal_power"),
)


def _plan(ts: int) -> str:
    moment = datetime.fromtimestamp(ts / 1000, TZ)
    hour = moment.hour + moment.minute / 60
    if hour < 6 or hour >= 21.5:
        return "night"
    if moment.weekday() >= 5:
        return "weekend"
    if 7 <= hour < 9.5:
        return "am-peak"
    if 16.5 <= hour < 19:
        return "pm-peak"
    return "day"


class Traffic:
    """Signal controllers (status, faults, flash commands) and the buses that ask them for priority."""

    def __init__(self, inventory, rng: np.random.Generator, agenda: Agenda, run: ScenarioRun, *, start_ms: int) -> None:
        signals = inventory.of_kind("signal")
        self.rng, self.agenda, self.run = rng, agenda, run
        self.ids = signals["asset_id"].to_numpy(dtype=object)
        self.index = {aid: i for i, aid in enumerate(self.ids.tolist())}
        self.lat, self.lon = signals["lat"].to_numpy(float), signals["lon"].to_numpy(float)
        n = self.n = len(self.ids)
        self.fault = np.zeros(n, dtype=np.int8)
        self.flash_until = np.zeros(n, dtype=np.int64)
        self.sched = Periodic(rng.integers(0, SIGNAL_PERIOD_MS, n), SIGNAL_PERIOD_MS)
        self.mode = np.array([self._mode(i, start_ms) for i in range(n)], dtype=object)
        hot = run.scenario.hotspot if run.scenario else None
        self.hot = hot
        self.near_hot = (distance_m(self.lat, self.lon, hot.lat, hot.lon) <= hot.radius_m) if hot else np.zeros(n, bool)
        self._setup_buses(inventory, signals, start_ms)

    # -- signals --------------------------------------------------------------------------------
    def _mode(self, i: int, ts: int) -> str:
        if self.fault[i]:
            forced = SIGNAL_FAULTS[self.fault[i] - 1].mode
            if forced != "normal":
                return forced
        return "flashing" if self.flash_until[i] > ts else "normal"

    def _status(self, i: int, ts: int, plan: str, out: list) -> None:
        mode = self.mode[i]
        if mode == "normal" and self.near_hot[i] and self.run.intensity(ts) > 0:
            plan = self.hot.plan
        out.append(SignalStatus(asset_id=self.ids[i], ts=ts, mode=mode, plan=plan if mode == "normal" else None))

    def _refresh(self, i: int, ts: int, out: list) -> None:
        mode = self._mode(i, ts)
        if mode != self.mode[i]:
            self.mode[i] = mode
            self._status(i, ts, _plan(ts), out)

    def _raise_fault(self, ts: int, code: int, out: list) -> None:
        i = int(self.rng.integers(self.n))
        if self.fault[i]:
            return
        spec = SIGNAL_FAULTS[code - 1]
        self.fault[i] = code
        out.append(SignalFault(asset_id=self.ids[i], ts=ts, fault=spec.fault, active=True))
        self._refresh(i, ts, out)
        self.agenda.push(ts + repair_delay_ms(self.rng, spec.repair_median_h), self._repair, (i, code))

    def _repair(self, ts: int, payload: tuple[int, int], out: list) -> None:
        i, code = payload
        if self.fault[i] != code:
            return
        self.fault[i] = 0
        out.append(SignalFault(asset_id=self.ids[i], ts=ts, fault=SIGNAL_FAULTS[code - 1].fault, active=False))
        self._refresh(i, ts, out)

    def _flash_expiry(self, ts: int, i: int, out: list) -> None:
        self._refresh(i, ts, out)

    def command(self, action: str, idx: list[int], now: int, until: int, out: list) -> int:
        """Put signals on flashing amber until `until` (`flash`) or back to normal (`normal`); return how many took it."""
        applied = 0
        for i in sorted(set(idx)):
            if self.mode[i] == "dark":
                continue
            self.flash_until[i] = until if action == "flash" else 0
            if action == "flash":
                self.agenda.push(until, self._flash_expiry, i)
            self._refresh(i, now, out)
            applied += 1
        return applied

    def abnormal(self) -> np.ndarray:
        """Signals out of normal operation because of a fault (not a command)."""
        return np.array([i for i in range(self.n) if self.fault[i] and self.mode[i] != "normal"], dtype=np.int64)

    # -- buses ----------------------------------------------------------------------------------
    def _setup_buses(self, inventory, signals, start_ms: int) -> None:
        rng, lines = self.rng, inventory.lines
        geoms = np.asarray(lines.to_crs(LAMBERT93).geometry.values)
        self.line_ids = lines["line_id"].tolist()
        self.length = shapely.length(geoms)
        tram = (lines["mode"] == "tram").to_numpy()
        weight = self.length * np.where(tram, 1.5, 1.0)
        share = weight / weight.sum() * BUSES
        count = np.floor(share).astype(int)
        count[np.argsort(count - share)[: BUSES - count.sum()]] += 1
        self.bus_line = np.repeat(np.arange(len(geoms)), count)
        nb = len(self.bus_line)
        self.bus_ids = [f"BUS-{k:03d}" for k in range(1, nb + 1)]
        self.pos = rng.uniform(0, 1, nb) * self.length[self.bus_line]
        self.dir = rng.choice([-1.0, 1.0], nb)
        self.speed = np.where(tram[self.bus_line], 5.6, 4.7) * rng.uniform(0.9, 1.1, nb)
        self.start_h = 5.25 + rng.uniform(0, 1.5, nb)
        self.end_h = 20.0 + rng.uniform(0, 4.5, nb)
        self.layover = np.zeros(nb, dtype=np.int64)
        self.late_s = rng.uniform(0, 120, nb)
        self.requests = np.zeros(nb, dtype=np.int64)
        self.shuttle_requests = 0
        x, y = to_lambert93(signals["lon"].to_numpy(), signals["lat"].to_numpy())
        points = shapely.points(x, y)
        self.stops: list[tuple[np.ndarray, np.ndarray]] = []
        for k, line_id in enumerate(self.line_ids):
            served = [i for i, names in enumerate(signals["lines"].tolist()) if line_id in names.split(",")]
            at = shapely.line_locate_point(geoms[k], points[served]) if served else np.empty(0)
            self.stops.append((np.array(served, dtype=np.int64), np.asarray(at, float)))
        self.hot_signals = np.nonzero(self.near_hot)[0]

    def _move(self, a: int, b: int, out: list) -> None:
        moment = datetime.fromtimestamp(a / 1000, TZ)
        hour = moment.hour + moment.minute / 60
        in_service = ((hour >= self.start_h) & (hour < self.end_h)) | (hour + 24 < self.end_h)
        moving = in_service & (self.layover <= a)
        peak = 0.8 if (7 <= hour < 9.5 or 16.5 <= hour < 19) else 1.0
        dt_s = (b - a) / 1000
        self.late_s = np.clip(ou_step(self.late_s, self.rng, b - a, 1.0, 80.0, 60.0), 0, 600)
        step = self.speed * peak * self.rng.lognormal(0.0, 0.15, len(self.pos)) * dt_s
        old = self.pos.copy()
        length = self.length[self.bus_line]
        new = np.where(moving, np.clip(old + self.dir * step, 0, length), old)
        for k, (served, at) in enumerate(self.stops):
            if not len(served):
                continue
            buses = np.nonzero(moving & (self.bus_line == k))[0]
            if not len(buses):
                continue
            trig = at[None, :] - self.dir[buses, None] * TRIGGER_M
            lo, hi = np.minimum(old[buses], new[buses])[:, None], np.maximum(old[buses], new[buses])[:, None]
            crossed = (trig > lo) & (trig <= hi) & (hi > lo)
            for r, c in zip(*np.nonzero(crossed)):
                bus = buses[r]
                frac = abs(trig[r, c] - old[bus]) / max(abs(new[bus] - old[bus]), 1e-9)
                self._request(int(a + frac * (b - a)), int(served[c]), self.bus_ids[bus], self.line_ids[k], bus, out)
        ended = moving & ((new <= 0) | (new >= length))
        if ended.any():
            turn = np.nonzero(ended)[0]
            self.dir[turn] *= -1
            self.layover[turn] = b + self.rng.integers(3 * MINUTE_MS, 8 * MINUTE_MS, len(turn))
        self.pos = new

    def _request(self, ts: int, sig: int, bus_id: str, line: str, bus: int | None, out: list) -> None:
        if bus is not None:
            self.requests[bus] += 1
            number, late = int(self.requests[bus]), round(float(self.late_s[bus]), 1)
        else:
            self.shuttle_requests += 1
            number, late = self.shuttle_requests, round(float(self.rng.uniform(0, 300)), 1)
        request_id = f"{bus_id}-{number}"
        out.append(BusPriority(asset_id=self.ids[sig], ts=ts, phase="request", request_id=request_id,
                               bus_id=bus_id, line=line, delay_s=late))
        self.agenda.push(ts + int(self.rng.integers(1000, 4000)), self._answer, (sig, request_id, bus_id, line))

    def _answer(self, ts: int, payload: tuple[int, str, str, str], out: list) -> None:
        sig, request_id, bus_id, line = payload
        grant = 0.0 if self.mode[sig] != "normal" else (0.7 if _plan(ts).endswith("peak") else 0.85)
        if self.near_hot[sig]:
            grant *= 1.0 - self.hot.deny_share * self.run.intensity(ts)
        granted = bool(self.rng.random() < grant)
        wait = self.rng.uniform(0, 4) if granted else self.rng.uniform(10, 45)
        out.append(BusPriority(asset_id=self.ids[sig], ts=ts, phase="grant" if granted else "deny",
                               request_id=request_id, bus_id=bus_id, line=line, delay_s=round(float(wait), 1)))

    # -- step -----------------------------------------------------------------------------------
    def schedule(self, a: int, b: int) -> None:
        """Draw the controller faults arriving in [a, b) onto the agenda."""
        healthy = self.n - int(np.count_nonzero(self.fault))
        for code, spec in enumerate(SIGNAL_FAULTS, start=1):
            rate_h = healthy * spec.per_year / 8760.0 * self.run.rate(spec.rate_key, a)
            for ts in arrivals(self.rng, rate_h, a, b).tolist():
                self.agenda.push(ts, self._raise_fault, code)

    def step(self, a: int, b: int, out: list) -> None:
        """Move the buses, add event shuttles and emit the controllers' periodic status in [a, b)."""
        self._move(a, b, out)
        if self.hot is not None and len(self.hot_signals):
            rate = self.hot.shuttle_requests_per_h * self.run.intensity(a)
            for ts in arrivals(self.rng, rate, a, b).tolist():
                sig = int(self.rng.choice(self.hot_signals))
                self._request(ts, sig, f"NAV-{int(self.rng.integers(1, 25)):02d}", "Navette stade", None, out)
        idx, ts = self.sched.due(a, b)
        plan = _plan(a)
        for i, t in zip(idx.tolist(), ts.tolist()):
            self._status(i, t, plan, out)

