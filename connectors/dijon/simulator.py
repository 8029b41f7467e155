"""The Dijon Métropole live simulator: a deterministic core that turns simulated time into field events.

`Simulator.advance(to_ms)` returns every event between its clock and `to_ms`, in time order;
the same seed and the same calls give the same events. Each domain (lighting, traffic, cameras,
weather, reports) draws from its own numpy Generator stream, and works on arrays, so the 34,000
lamps cost a few vector operations a step. `apply_command` executes remote-control commands the
way the field equipment would, and answers with acknowledgements.
"""

from __future__ import annotations

from datetime import timedelta
from operator import attrgetter

import numpy as np
import pandas as pd

from connectors.dijon.scenarios import Scenario, ScenarioRun, get_scenario
from connectors.dijon.sim_base import MINUTE_MS, Agenda, distance_m, local_date, local_ms
from connectors.dijon.sim_cameras import Cameras
from connectors.dijon.sim_lighting import DEFAULT_PROGRAMME, PROGRAMMES, DimmingProgramme, Lighting
from connectors.dijon.sim_reports import Reports
from connectors.dijon.sim_traffic import Traffic
from connectors.dijon.sim_weather import Weather
from streams.schemas import CommandAck, CommandRequest, Event

__all__ = [
    "COMMAND_LATENCY_MS",
    "DEFAULT_PROGRAMME",
    "MAX_STEP_MS",
    "PROGRAMMES",
    "DimmingProgramme",
    "Simulator",
    "first_onset",
]

MAX_STEP_MS = 300_000  # at most one cabinet metering period, so a cabinet reports at most once a step
COMMAND_LATENCY_MS = 1_000
LAMP_ACTIONS = ("dim", "switch_on", "switch_off")
_STREAMS = {"lighting": 1, "traffic": 2, "cameras": 3, "weather": 4, "reports": 5, "scenario": 6}
_by_ts = attrgetter("ts")


def first_onset(scenario: Scenario, start_ms: int) -> int:
    """The scenario's first onset (its local wall-clock time) at or after the start, in epoch ms."""
    day = local_date(start_ms)
    onset = local_ms(day, scenario.onset)
    return onset if onset >= start_ms else local_ms(day + timedelta(days=1), scenario.onset)


class Simulator:
    """Dijon Métropole's field systems, deterministic from a seed: advance the clock, collect the events."""

    def __init__(self, inventory, *, seed: int = 0, start_ms: int, scenario: Scenario | str | None = None,
                 programme: DimmingProgramme = DEFAULT_PROGRAMME, scenario_at_ms: int | None = None) -> None:
        if isinstance(scenario, str):
            scenario = get_scenario(scenario)
        onset = scenario_at_ms if scenario_at_ms is not None else (
            first_onset(scenario, start_ms) if scenario else start_ms)
        self.inventory = inventory
        self.seed = seed
        self.run = ScenarioRun(scenario, int(onset))
        self.agenda = Agenda()
        self._clock = int(start_ms)
        self._pending: list[Event] = []

        def rng(name: str) -> np.random.Generator:
            return np.random.default_rng([seed, _STREAMS[name]])

        self.lighting = Lighting(inventory, rng("lighting"), self.agenda, self.run, start_ms=start_ms,
                                 programme=programme)
        self.traffic = Traffic(inventory, rng("traffic"), self.agenda, self.run, start_ms=start_ms)
        self.cameras = Cameras(inventory, rng("cameras"), self.agenda, self.run)
        self.weather = Weather(inventory, rng("weather"), self.agenda, self.run, start_ms=start_ms)
        self.reports = Reports(inventory, rng("reports"), self.agenda, self.run, start_ms=start_ms,
                               lighting=self.lighting, traffic=self.traffic, weather=self.weather)
        self._domains = (self.lighting, self.traffic, self.cameras, self.weather, self.reports)
        if scenario is not None and scenario.outage is not None:
            self._plan_outage(scenario, rng("scenario"))

    @property
    def clock(self) -> int:
        """The simulated time reached so far, epoch ms."""
        return self._clock

    @property
    def scenario(self) -> Scenario | None:
        """The scenario being played, if any."""
        return self.run.scenario

    @property
    def scenario_window(self) -> tuple[int, int] | None:
        """Onset and end of the scenario (epoch ms), None without a scenario."""
        return (self.run.onset_ms, self.run.end_ms) if self.run.scenario else None

    def _plan_outage(self, scenario: Scenario, rng: np.random.Generator) -> None:
        outage, light = scenario.outage, self.lighting
        candidates = np.nonzero(light.cab_commune == outage.commune_code)[0]
        if not len(candidates):
            raise ValueError(f"scenario {scenario.name}: no cabinet in commune {outage.commune_code}")
        first = int(rng.choice(candidates))
        gap = distance_m(light.cab_lat[candidates], light.cab_lon[candidates], light.cab_lat[first], light.cab_lon[first])
        chosen = candidates[np.argsort(gap, kind="stable")[: outage.cabinets]]
        at = self.run.onset_ms + int(outage.after_min * MINUTE_MS)
        for k in chosen.tolist():
            duration = int(rng.uniform(*outage.duration_h) * 60 * MINUTE_MS)
            self.agenda.push(at + int(rng.integers(0, MINUTE_MS)), light.lose_supply, (k, duration))

    def advance(self, to_ms: int) -> list[Event]:
        """Every event from the clock up to `to_ms` (excluded), in time order; the clock moves to `to_ms`."""
        out, self._pending = self._pending, []
        a = self._clock
        while a < to_ms:
            b = min(int(to_ms), a + MAX_STEP_MS)
            for domain in self._domains:
                domain.schedule(a, b)
            self.agenda.run_until(b, out)
            for domain in self._domains:
                domain.step(a, b, out)
            a = b
        self._clock = max(a, self._clock)
        out.sort(key=_by_ts)
        return out

    def apply_command(self, command: CommandRequest, now_ms: int) -> list[CommandAck]:
        """Execute a command at simulated time `now_ms`: 'accepted' then 'done' with the count ('failed' if none).

        Unknown targets, a dim without level, or an action that does not fit its targets are
        'rejected' with a detail. The override lasts `expires_at - ts` of simulated time from
        `now_ms`; the lamps' and signals' change reports come out of the next `advance`.
        """
        if now_ms > self._clock:
            self._pending = self.advance(now_ms)
        now = self._clock

        def ack(status: str, *, applied: int = 0, detail: str | None = None, ts: int = now) -> CommandAck:
            return CommandAck(asset_id=command.asset_id, ts=ts, command_id=command.command_id, status=status,
                              applied=applied, detail=detail)

        action = command.action
        if action == "dim" and (command.level is None or not 0 <= command.level <= 100):
            return [ack("rejected", detail="a dim command needs a level between 0 and 100")]
        lamps, signals, unknown = [], [], []
        for target in command.targets:
            found = self.lighting.resolve(target)
            if found is not None:
                lamps.append(found)
            elif target in self.traffic.index:
                signals.append(self.traffic.index[target])
            else:
                unknown.append(target)
        if unknown:
            return [ack("rejected", detail=_short(f"unknown target(s): {', '.join(unknown)}"))]
        if action in LAMP_ACTIONS and signals:
            return [ack("rejected", detail=_short(f"{action} applies to lights, cabinets or communes, not signals"))]
        if action == "flash" and lamps:
            return [ack("rejected", detail="flash applies to traffic signals only")]
        until = now + max(command.expires_at - command.ts, 1)
        out: list[Event] = []
        applied = 0
        if lamps:
            applied += self.lighting.command(action, np.concatenate(lamps), command.level, now, until, out)
        if signals:
            applied += self.traffic.command(action, signals, now, until, out)
        self._pending.extend(out)
        if not applied:
            return [ack("accepted"), ack("failed", detail="no target equipment could be reached",
                                         ts=now + COMMAND_LATENCY_MS)]
        return [ack("accepted"), ack("done", applied=applied, ts=now + COMMAND_LATENCY_MS)]

    def lamp_frame(self) -> pd.DataFrame:
        """The current state of every light point (level, power, energy, fault, supply, override)."""
        return self.lighting.frame()

    def signal_modes(self) -> dict[str, str]:
        """The current operating mode of every traffic controller."""
        return dict(zip(self.traffic.ids.tolist(), self.traffic.mode.tolist()))


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
