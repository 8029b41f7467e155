"""Street lighting of the simulator: 34,000 light points behind their cabinets, as numpy arrays.

Lamps follow dusk and dawn (each cabinet a few minutes apart), a night dimming programme and
operator overrides; they report every 15 minutes at their own phase and on every change; faults
arrive as Poisson processes and are repaired later. Energy is integrated exactly between changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

import numpy as np
import pandas as pd

from connectors.dijon.scenarios import ScenarioRun
from connectors.dijon.sim_base import (
    HOUR_MS, MINUTE_MS, Agenda, Periodic, arrivals, local_date, local_ms, repair_delay_ms, sun_times,
)
from streams.schemas import CabinetMetering, LampFault, LampTelemetry

__all__ = [
    "DEFAULT_PROGRAMME",
    "LAMP_FAULTS",
    "PROGRAMMES",
    "DimmingProgramme",
    "LampFaultSpec",
    "Lighting",
]

LAMP_PERIOD_MS = 900_000
CABINET_PERIOD_MS = 300_000
COMM_DETECT_MS = 2 * LAMP_PERIOD_MS  # the central system flags a node after two missed reports
SUPPLY_LOSSES_PER_MONTH = 4.0
SUPPLY_RESTORE_MEDIAN_H = 2.0
_NOON = time(12, 0)
_NEVER = np.iinfo(np.int64).max
_WH_PER_W_MS = 1.0 / 3_600_000.0
_STATES = np.array(["off", "low", "on"], dtype=object)
_STATUS = np.array(["ok", "defectiveLamp"], dtype=object)
_NO_OVERRIDE, _DIM, _FORCE = 0, 1, 2


@dataclass(frozen=True)
class DimmingProgramme:
    """A night dimming programme: lamps at `level` % from `start` to `end`, local time (0 switches off)."""

    name: str
    level: float
    start: time
    end: time

    def window(self, night: date) -> tuple[int, int]:
        """Start and end (epoch ms) of the programme in the night that begins on `night`."""
        def at(moment: time) -> int:
            return local_ms(night if moment >= _NOON else night + timedelta(days=1), moment)
        return at(self.start), at(self.end)


PROGRAMMES: dict[str, DimmingProgramme] = {
    "70": DimmingProgramme("70 % 22:00-05:00", 70.0, time(22, 0), time(5, 0)),
    "50": DimmingProgramme("50 % 23:00-05:00", 50.0, time(23, 0), time(5, 0)),
    "off": DimmingProgramme("off 00:00-05:00", 0.0, time(0, 0), time(5, 0)),
}
DEFAULT_PROGRAMME = PROGRAMMES["70"]


@dataclass(frozen=True)
class LampFaultSpec:
    """One kind of light-point fault: its TALQ flag, yearly rate per lamp and median repair time."""

    fault: str
    per_year: float
    repair_median_h: float
    rate_key: str = "lamp_failure"


LAMP_FAULTS: tuple[LampFaultSpec, ...] = (
    LampFaultSpec("lampFailure", 0.02, 40.0),
    LampFaultSpec("dimmingFailure", 0.01, 96.0),
    LampFaultSpec("controlGearCommFailure", 0.01, 10.0),
)
_LAMP_FAIL, _DIM_FAIL, _COMM_LOST = 1, 2, 3


class Lighting:
    """The light points and control cabinets of the metropolis, advanced step by step."""

    def __init__(self, inventory, rng: np.random.Generator, agenda: Agenda, run: ScenarioRun, *,
                 start_ms: int, programme: DimmingProgramme) -> None:
        lights, cabinets = inventory.of_kind("light"), inventory.of_kind("cabinet")
        self.rng, self.agenda, self.run, self.programme = rng, agenda, run, programme
        self.ids = lights["asset_id"].to_numpy(dtype=object)
        self.cab_ids = cabinets["asset_id"].to_numpy(dtype=object)
        self.lamp_cab_ids = lights["cabinet_id"].to_numpy(dtype=object)
        self.commune = lights["commune_code"].to_numpy(dtype=object)
        self.cab_commune = cabinets["commune_code"].to_numpy(dtype=object)
        self.lat, self.lon = lights["lat"].to_numpy(float), lights["lon"].to_numpy(float)
        self.cab_lat, self.cab_lon = cabinets["lat"].to_numpy(float), cabinets["lon"].to_numpy(float)
        self.watt = lights["wattage_w"].to_numpy(float)
        n, m = len(self.ids), len(self.cab_ids)
        self.n, self.m = n, m
        self.cab = pd.Series(np.arange(m), index=self.cab_ids).reindex(self.lamp_cab_ids).to_numpy(np.int64)
        order = np.argsort(self.cab, kind="stable")
        bounds = np.searchsorted(self.cab[order], np.arange(m + 1))
        self.members = [order[bounds[k]:bounds[k + 1]] for k in range(m)]
        self.lamps_total = np.bincount(self.cab, minlength=m)
        self.lamp_index = {aid: i for i, aid in enumerate(self.ids.tolist())}
        self.cab_index = {cid: k for k, cid in enumerate(self.cab_ids.tolist())}
        self.by_commune = {code: idx.to_numpy() for code, idx in pd.Series(np.arange(n)).groupby(self.commune)}

        self.on_offset = rng.integers(3 * MINUTE_MS, 13 * MINUTE_MS, m)
        self.off_offset = rng.integers(3 * MINUTE_MS, 13 * MINUTE_MS, m)
        self.dim_jitter = rng.integers(0, 2 * MINUTE_MS, m)
        self.lamp_sched = Periodic(rng.integers(0, LAMP_PERIOD_MS, n), LAMP_PERIOD_MS)
        self.cab_sched = Periodic(rng.integers(0, CABINET_PERIOD_MS, m), CABINET_PERIOD_MS)

        renovated = lights["renovated_on"].to_numpy("datetime64[ms]").astype(np.int64)
        hours = np.clip((start_ms - renovated) / HOUR_MS, 0, None)
        self.energy = np.round(self.watt * hours * rng.uniform(0.38, 0.48, n), 1)
        self.last_t = np.full(n, start_ms, dtype=np.int64)
        self.fault = np.zeros(n, dtype=np.int8)
        self.comm_reported = np.zeros(n, dtype=bool)
        self.supply_lost = np.zeros(m, dtype=bool)
        self.ovr_mode = np.zeros(n, dtype=np.int8)
        self.ovr_level = np.zeros(n)
        self.ovr_until = np.zeros(n, dtype=np.int64)
        self._nights: dict[date, tuple[int, int, int, int]] = {}
        self.cab_level, _ = self._schedule(start_ms - 1)
        self.cmd = self._commanded(self.cab_level)
        self.level, self.power = self._actual(self.cmd, np.arange(n))

    # -- schedule -------------------------------------------------------------------------------
    def _night(self, night: date) -> tuple[int, int, int, int]:
        bounds = self._nights.get(night)
        if bounds is None:
            sunset = sun_times(night)[1]
            sunrise = sun_times(night + timedelta(days=1))[0]
            bounds = self._nights[night] = (sunset, sunrise, *self.programme.window(night))
        return bounds

    def _schedule(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Programme level of every cabinet at t, and its switching times (4 x cabinets) that night."""
        sunset, sunrise, dim_start, dim_end = self._night(local_date(t - 12 * HOUR_MS))
        on, off = sunset + self.on_offset, sunrise - self.off_offset
        ds, de = dim_start + self.dim_jitter, dim_end + self.dim_jitter
        lit = (t >= on) & (t < off)
        dimmed = (t >= ds) & (t < de)
        level = np.where(lit, np.where(dimmed, self.programme.level, 100.0), 0.0)
        return level, np.stack([on, off, ds, de])

    def _commanded(self, cab_level: np.ndarray) -> np.ndarray:
        base = cab_level[self.cab]
        if not self.ovr_mode.any():
            return base
        dim = (self.ovr_mode == _DIM) & (base > 0)
        return np.where(self.ovr_mode == _FORCE, self.ovr_level, np.where(dim, self.ovr_level, base))

    def _actual(self, cmd: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Level the lamps really show and the power they draw, given their faults and supply."""
        fault = self.fault[idx]
        level = np.where((fault == _DIM_FAIL) & (cmd > 0), 100.0, cmd)
        level = np.where(self.supply_lost[self.cab[idx]], 0.0, level)
        power = np.where(fault == _LAMP_FAIL, 0.0, self.watt[idx] * level / 100.0)
        return level, power

    def _silent(self, idx: np.ndarray) -> np.ndarray:
        return (self.fault[idx] == _COMM_LOST) | self.supply_lost[self.cab[idx]]

    def _accrue(self, idx: np.ndarray, ts: int | np.ndarray) -> None:
        last = self.last_t[idx]
        self.energy[idx] += self.power[idx] * np.maximum(ts - last, 0) * _WH_PER_W_MS
        self.last_t[idx] = np.maximum(ts, last)

    def _reset(self, idx: np.ndarray, ts: int) -> None:
        """Bring lamps to their actual state at ts after a fault, repair or supply change."""
        self._accrue(idx, ts)
        self.level[idx], self.power[idx] = self._actual(self.cmd[idx], idx)

    # -- periodic step ----------------------------------------------------------------------------
    def schedule(self, a: int, b: int) -> None:
        """Draw the faults and supply losses arriving in [a, b) onto the agenda."""
        healthy = self.n - int(np.count_nonzero(self.fault))
        for code, spec in enumerate(LAMP_FAULTS, start=1):
            rate_h = healthy * spec.per_year / 8760.0 * self.run.rate(spec.rate_key, a)
            for ts in arrivals(self.rng, rate_h, a, b).tolist():
                self.agenda.push(ts, self._raise_fault, code)
        rate_h = SUPPLY_LOSSES_PER_MONTH / (30 * 24) * self.run.rate("cabinet_supply_loss", a)
        for ts in arrivals(self.rng, rate_h, a, b).tolist():
            self.agenda.push(ts, self.lose_supply, None)

    def step(self, a: int, b: int, out: list) -> None:
        """Apply programme changes and override expiries in [a, b) and emit the reports due."""
        self.cab_level, breaks = self._schedule(b - 1)
        cab_break = np.where((breaks >= a) & (breaks < b), breaks, a).max(axis=0)
        lamp_break = cab_break[self.cab]
        expiring = np.nonzero((self.ovr_mode > 0) & (self.ovr_until < b))[0]
        if len(expiring):
            lamp_break[expiring] = np.maximum(lamp_break[expiring], np.clip(self.ovr_until[expiring], a, b - 1))
            self.ovr_mode[expiring] = _NO_OVERRIDE
        self.cmd = self._commanded(self.cab_level)
        all_idx = np.arange(self.n)
        new_level, new_power = self._actual(self.cmd, all_idx)
        changed = np.nonzero(new_level != self.level)[0]
        change_at = np.full(self.n, _NEVER, dtype=np.int64)
        change_at[changed] = lamp_break[changed]

        idx, ts = self.lamp_sched.due(a, b)
        keep = ~self._silent(idx)
        idx, ts = idx[keep], ts[keep]
        after = ts >= change_at[idx]
        self._telemetry(idx, ts, np.where(after, new_level[idx], self.level[idx]),
                        np.where(after, new_power[idx], self.power[idx]),
                        self._energy_at(idx, ts, change_at, new_power), out)
        self._metering(a, b, change_at, new_level, new_power, out)

        if len(changed):
            at = change_at[changed]
            self._accrue(changed, at)
            self.level[changed], self.power[changed] = new_level[changed], new_power[changed]
            shown = changed[~self._silent(changed)]
            self._telemetry(shown, change_at[shown], self.level[shown], self.power[shown], self.energy[shown], out)

    def _energy_at(self, idx: np.ndarray, ts: np.ndarray, change_at: np.ndarray, new_power: np.ndarray) -> np.ndarray:
        at = change_at[idx]
        before = np.maximum(np.minimum(ts, at) - self.last_t[idx], 0)
        after = np.where(ts >= at, ts - np.minimum(at, ts), 0)
        return self.energy[idx] + (self.power[idx] * before + new_power[idx] * after) * _WH_PER_W_MS

    def _telemetry(self, idx, ts, level, power, energy, out: list) -> None:
        n = len(idx)
        if not n:
            return
        reading = np.round(np.maximum(power * (1.0 + 0.01 * self.rng.standard_normal(n)), 0.0), 1)
        volts = np.round(230.0 + 1.5 * self.rng.standard_normal(n), 1)
        states = _STATES[np.where(level <= 0, 0, np.where(level < 100, 1, 2))]
        status = _STATUS[(self.fault[idx] == _LAMP_FAIL).astype(np.int8)]
        out.extend([
            LampTelemetry(asset_id=aid, ts=t, power_state=st, level=lv, power_w=pw, energy_wh=en, status=ok,
                          voltage_v=v, cabinet_id=cab)
            for aid, t, st, lv, pw, en, ok, v, cab in zip(
                self.ids[idx].tolist(), np.asarray(ts).tolist(), states.tolist(), level.tolist(), reading.tolist(),
                np.round(energy, 1).tolist(), status.tolist(), volts.tolist(), self.lamp_cab_ids[idx].tolist())
        ])

    def _metering(self, a: int, b: int, change_at, new_level, new_power, out: list) -> None:
        cabs, ts = self.cab_sched.due(a, b)
        if not len(cabs):
            return
        when = np.full(self.m, -1, dtype=np.int64)
        when[cabs] = ts
        lamp_ts = when[self.cab]
        idx = np.nonzero(lamp_ts >= 0)[0]
        t = lamp_ts[idx]
        after = t >= change_at[idx]
        power = np.where(after, new_power[idx], self.power[idx])
        group = self.cab[idx]
        energy = np.bincount(group, self._energy_at(idx, t, change_at, new_power), self.m)[cabs]
        power_kw = np.bincount(group, power, self.m)[cabs] / 1000.0
        lamps_on = np.bincount(group, power > 0, self.m)[cabs].astype(np.int64)
        manual = np.bincount(group, self.ovr_mode[idx] > 0, self.m)[cabs] > 0
        self._cabinet_events(cabs, ts, energy, power_kw, lamps_on, manual, out)

    def _cabinet_events(self, cabs, ts, energy_wh, power_kw, lamps_on, manual, out: list) -> None:
        noise = 1.0 + 0.003 * self.rng.standard_normal(len(cabs))
        for k, t, e, p, on, man, ns in zip(cabs.tolist(), np.asarray(ts).tolist(), (energy_wh / 1000.0).tolist(),
                                           power_kw.tolist(), lamps_on.tolist(), manual.tolist(), noise.tolist()):
            out.append(CabinetMetering(
                asset_id=self.cab_ids[k], ts=t, energy_kwh=round(e, 3), active_power_kw=round(p * ns, 3),
                working_mode="manual" if man else "automatic", supply_ok=not self.supply_lost[k],
                lamps_on=on, lamps_total=int(self.lamps_total[k]), level=float(self.cab_level[k]),
            ))

    def _cabinet_now(self, k: int, ts: int, out: list) -> None:
        members = self.members[k]
        self._accrue(members, ts)
        power = self.power[members]
        self._cabinet_events(np.array([k]), [ts], np.array([self.energy[members].sum()]),
                             np.array([power.sum() / 1000.0]), np.array([int(np.count_nonzero(power))]),
                             np.array([bool((self.ovr_mode[members] > 0).any())]), out)

    # -- faults -----------------------------------------------------------------------------------
    def _raise_fault(self, ts: int, code: int, out: list) -> None:
        for _ in range(20):
            i = int(self.rng.integers(self.n))
            if self.fault[i] == 0 and not self.supply_lost[self.cab[i]]:
                break
        else:
            return
        spec, one = LAMP_FAULTS[code - 1], np.array([i])
        self.fault[i] = code
        before = self.level[i]
        self._reset(one, ts)
        if code == _COMM_LOST:
            self.agenda.push(ts + COMM_DETECT_MS, self._detect_comm_loss, i)
        else:
            out.append(LampFault(asset_id=self.ids[i], ts=ts, fault=spec.fault, active=True,
                                 cabinet_id=self.lamp_cab_ids[i]))
            if code == _LAMP_FAIL or self.level[i] != before:
                self._telemetry(one, [ts], self.level[one], self.power[one], self.energy[one], out)
        self.agenda.push(ts + repair_delay_ms(self.rng, spec.repair_median_h, min_h=1.0), self._repair, (i, code))

    def _detect_comm_loss(self, ts: int, i: int, out: list) -> None:
        if self.fault[i] == _COMM_LOST and not self.comm_reported[i]:
            self.comm_reported[i] = True
            out.append(LampFault(asset_id=self.ids[i], ts=ts, fault="controlGearCommFailure", active=True,
                                 cabinet_id=self.lamp_cab_ids[i]))

    def _repair(self, ts: int, payload: tuple[int, int], out: list) -> None:
        i, code = payload
        if self.fault[i] != code:
            return
        one = np.array([i])
        self.fault[i] = 0
        self._reset(one, ts)
        if code != _COMM_LOST or self.comm_reported[i]:
            out.append(LampFault(asset_id=self.ids[i], ts=ts, fault=LAMP_FAULTS[code - 1].fault, active=False,
                                 cabinet_id=self.lamp_cab_ids[i]))
        self.comm_reported[i] = False
        if not self._silent(one)[0]:
            self._telemetry(one, [ts], self.level[one], self.power[one], self.energy[one], out)

    def lose_supply(self, ts: int, payload: tuple[int, int] | None, out: list) -> None:
        """Agenda action: a cabinet (random if payload is None, else (cabinet, duration_ms)) loses its supply."""
        if payload is None:
            k = int(self.rng.integers(self.m))
            duration = repair_delay_ms(self.rng, SUPPLY_RESTORE_MEDIAN_H, min_h=0.5)
        else:
            k, duration = payload
        if self.supply_lost[k]:
            return
        members = self.members[k]
        self.supply_lost[k] = True
        self._reset(members, ts)
        cab = self.cab_ids[k]
        for aid in self.ids[members].tolist():
            out.append(LampFault(asset_id=aid, ts=ts, fault="supplyLoss", active=True, cabinet_id=cab))
        self._cabinet_now(k, ts, out)
        self.agenda.push(ts + duration, self._restore_supply, k)

    def _restore_supply(self, ts: int, k: int, out: list) -> None:
        members = self.members[k]
        self.supply_lost[k] = False
        self._reset(members, ts)
        cab = self.cab_ids[k]
        for aid in self.ids[members].tolist():
            out.append(LampFault(asset_id=aid, ts=ts, fault="supplyLoss", active=False, cabinet_id=cab))
        shown = members[~self._silent(members)]
        self._telemetry(shown, np.full(len(shown), ts), self.level[shown], self.power[shown], self.energy[shown], out)
        self._cabinet_now(k, ts, out)

    # -- commands and queries ---------------------------------------------------------------------
    def resolve(self, target: str) -> np.ndarray | None:
        """Lamp indices of a target (a light, a cabinet or `commune:<INSEE code>`); None if unknown."""
        if target.startswith("commune:"):
            return self.by_commune.get(target.split(":", 1)[1])
        if target in self.lamp_index:
            return np.array([self.lamp_index[target]])
        if target in self.cab_index:
            return self.members[self.cab_index[target]]
        return None

    def command(self, action: str, idx: np.ndarray, level: float | None, now: int, until: int, out: list) -> int:
        """Apply an override to reachable lamps at `now` until `until`; return how many received it."""
        idx = np.unique(idx)
        idx = idx[~self._silent(idx)]
        if action == "normal":
            self.ovr_mode[idx] = _NO_OVERRIDE
        else:
            self.ovr_mode[idx] = _DIM if action == "dim" else _FORCE
            self.ovr_level[idx] = {"dim": level, "switch_on": 100.0, "switch_off": 0.0}[action]
            self.ovr_until[idx] = until
        self.cmd[idx] = self._commanded(self.cab_level)[idx]
        level_now, power_now = self._actual(self.cmd[idx], idx)
        moved = idx[level_now != self.level[idx]]
        self._reset(moved, now)
        self._telemetry(moved, np.full(len(moved), now), self.level[moved], self.power[moved],
                        self.energy[moved], out)
        return len(idx)

    def dark_by_fault(self) -> np.ndarray:
        """Lamps that should be lit but are dark because of a lamp failure or a supply loss."""
        dark = (self.fault == _LAMP_FAIL) | self.supply_lost[self.cab]
        return np.nonzero(dark & (self.cmd > 0))[0]

    def frame(self) -> pd.DataFrame:
        """The current state of every light point, for inspection and tests."""
        faults = np.array(["", *(s.fault for s in LAMP_FAULTS)], dtype=object)
        return pd.DataFrame({
            "asset_id": self.ids, "cabinet_id": self.lamp_cab_ids, "commune_code": self.commune,
            "level": self.level, "power_w": self.power, "energy_wh": self.energy,
            "fault": faults[self.fault], "supply_ok": ~self.supply_lost[self.cab],
            "override": self.ovr_mode > 0,
        })

