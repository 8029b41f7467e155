"""Video cameras of the simulator: health every minute, with losses, black video and tampering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connectors.dijon.scenarios import ScenarioRun
from connectors.dijon.sim_base import Agenda, Periodic, arrivals, local_hour, repair_delay_ms
from streams.schemas import CameraHealth

__all__ = ["CAMERA_FAULTS", "CameraFaultSpec", "Cameras"]

CAMERA_PERIOD_MS = 60_000


@dataclass(frozen=True)
class CameraFaultSpec:
    """One kind of camera trouble: the state it shows, yearly rate per camera, median repair time."""

    state: str
    per_year: float
    repair_median_h: float
    rate_key: str | None = "camera_loss"


CAMERA_FAULTS: tuple[CameraFaultSpec, ...] = (
    CameraFaultSpec("offline", 6.0, 6.0),
    CameraFaultSpec("videoLoss", 3.0, 20.0),
    CameraFaultSpec("tamper", 0.5, 30.0, rate_key=None),
)
_STATES = ("online", *(spec.state for spec in CAMERA_FAULTS))


class Cameras:
    """The 269 cameras, as seen by the video management system."""

    def __init__(self, inventory, rng: np.random.Generator, agenda: Agenda, run: ScenarioRun) -> None:
        cameras = inventory.of_kind("camera")
        self.rng, self.agenda, self.run = rng, agenda, run
        self.ids = cameras["asset_id"].to_numpy(dtype=object)
        n = self.n = len(self.ids)
        self.state = np.zeros(n, dtype=np.int8)
        self.base_kbps = rng.uniform(2000, 6000, n)
        self.sched = Periodic(rng.integers(0, CAMERA_PERIOD_MS, n), CAMERA_PERIOD_MS)

    def _bitrates(self, idx: np.ndarray, night: bool) -> list:
        state = self.state[idx]
        rate = self.base_kbps[idx] * (1.0 + 0.05 * self.rng.standard_normal(len(idx))) * (1.15 if night else 1.0)
        rate = np.where(state == 2, self.rng.uniform(30, 60, len(idx)), np.where(state == 3, rate * 0.3, rate))
        values = np.round(rate, 0).tolist()
        return [None if s == 1 else v for s, v in zip(state.tolist(), values)]

    def _emit(self, idx: np.ndarray, ts, night: bool, out: list) -> None:
        for i, t, rate in zip(idx.tolist(), np.asarray(ts).tolist(), self._bitrates(idx, night)):
            out.append(CameraHealth(asset_id=self.ids[i], ts=t, state=_STATES[self.state[i]], bitrate_kbps=rate))

    def _raise(self, ts: int, code: int, out: list) -> None:
        i = int(self.rng.integers(self.n))
        if self.state[i]:
            return
        self.state[i] = code
        self._emit(np.array([i]), [ts], False, out)
        spec = CAMERA_FAULTS[code - 1]
        self.agenda.push(ts + repair_delay_ms(self.rng, spec.repair_median_h), self._repair, (i, code))

    def _repair(self, ts: int, payload: tuple[int, int], out: list) -> None:
        i, code = payload
        if self.state[i] == code:
            self.state[i] = 0
            self._emit(np.array([i]), [ts], False, out)

    def schedule(self, a: int, b: int) -> None:
        """Draw the camera troubles arriving in [a, b) onto the agenda."""
        healthy = self.n - int(np.count_nonzero(self.state))
        for code, spec in enumerate(CAMERA_FAULTS, start=1):
            factor = self.run.rate(spec.rate_key, a) if spec.rate_key else 1.0
            for ts in arrivals(self.rng, healthy * spec.per_year / 8760.0 * factor, a, b).tolist():
                self.agenda.push(ts, self._raise, code)

    def step(self, a: int, b: int, out: list) -> None:
        """Emit the health reports due in [a, b)."""
        idx, ts = self.sched.due(a, b)
        if len(idx):
            hour = local_hour(a)
            self._emit(idx, ts, hour < 6.5 or hour >= 20.5, out)
