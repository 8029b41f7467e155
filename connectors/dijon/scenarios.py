"""Training scenarios of the Dijon simulator: a table of what each one bends, and the trainee's brief."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from connectors.dijon.sim_base import HOUR_MS, MINUTE_MS

__all__ = [
    "SCENARIOS",
    "STADIUM",
    "CabinetOutage",
    "Hotspot",
    "RateFactors",
    "ReportBurst",
    "Scenario",
    "ScenarioRun",
    "WeatherForcing",
    "get_scenario",
]

STADIUM = (47.3247, 5.0684)  # Stade Gaston-Gérard


@dataclass(frozen=True)
class WeatherForcing:
    """How a scenario bends the weather while it is active; None keeps the natural value."""

    air_c: tuple[float, float] | None = None  # (night minimum, afternoon maximum) in open country
    wind_ms: tuple[float, float] | None = None
    gust_ms: tuple[float, float] | None = None
    rain_mm_h: tuple[float, float] | None = None
    cloud: float | None = None  # 0 clear sky .. 1 overcast
    humidity_pct: float | None = None


@dataclass(frozen=True)
class RateFactors:
    """Multipliers of the field fault rates while a scenario is active."""

    lamp_failure: float = 1.0
    cabinet_supply_loss: float = 1.0
    camera_loss: float = 1.0
    signal_fault: float = 1.0
    signal_power: float = 1.0


@dataclass(frozen=True)
class ReportBurst:
    """Extra incident reports of one category, an hour at full intensity, optionally around a place."""

    category: str
    per_hour: float
    near: tuple[float, float] | None = None
    radius_m: float = 800.0


@dataclass(frozen=True)
class Hotspot:
    """A crowd around a place: busy crossroads, shuttle buses asking for priority."""

    lat: float
    lon: float
    radius_m: float
    shuttle_requests_per_h: float
    deny_share: float
    plan: str


@dataclass(frozen=True)
class CabinetOutage:
    """Several neighbouring cabinets of one commune losing supply together shortly after the onset."""

    commune_code: str
    cabinets: int
    after_min: float = 5.0
    duration_h: tuple[float, float] = (2.0, 3.0)


@dataclass(frozen=True)
class Scenario:
    """A ready training situation: when it starts, how long it lasts, what it changes, what to do."""

    name: str
    title: str
    onset: time  # Europe/Paris wall-clock time of the onset, the first one at or after the start
    duration_h: float
    brief_fr: str
    brief_en: str
    ramp_min: float = 30.0
    weather: WeatherForcing = field(default_factory=WeatherForcing)
    rates: RateFactors = field(default_factory=RateFactors)
    reports: tuple[ReportBurst, ...] = ()
    hotspot: Hotspot | None = None
    outage: CabinetOutage | None = None

    def intensity(self, ts_ms: int, onset_ms: int) -> float:
        """How strongly the scenario acts at an instant: 0 outside, ramping to 1 and back."""
        end_ms = onset_ms + int(self.duration_h * HOUR_MS)
        if not onset_ms <= ts_ms < end_ms:
            return 0.0
        ramp = max(self.ramp_min * MINUTE_MS, 1.0)
        return float(min(1.0, (ts_ms - onset_ms) / ramp, (end_ms - ts_ms) / ramp))


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(
        name="storm-night",
        title="Nuit de tempête / Storm night",
        onset=time(20, 0),
        duration_h=8.0,
        ramp_min=45.0,
        weather=WeatherForcing(wind_ms=(12.0, 18.0), gust_ms=(25.0, 35.0), rain_mm_h=(8.0, 30.0), cloud=1.0),
        rates=RateFactors(lamp_failure=4.0, cabinet_supply_loss=400.0, camera_loss=40.0, signal_power=40.0,
                          signal_fault=5.0),
        reports=(ReportBurst("fallen_tree", 5.0), ReportBurst("flooding", 3.0), ReportBurst("damaged_sign", 2.0)),
        brief_fr=("Tempête de 20 h à 4 h : rafales de 25 à 35 m/s et fortes pluies. Priorisez les chutes d'arbres "
                  "et inondations qui bloquent la voirie, reliez les pannes d'armoires à leurs points lumineux, "
                  "signalez les caméras perdues et tenez les délais contractuels d'intervention."),
        brief_en=("Storm from 20:00 to 04:00: gusts of 25 to 35 m/s and heavy rain. Prioritise fallen trees and "
                  "flooding that block roads, tie cabinet supply losses to their light points, flag lost "
                  "cameras and keep the contractual intervention delays."),
    ),
    Scenario(
        name="ice-morning",
        title="Matin verglacé / Ice morning",
        onset=time(2, 0),
        duration_h=9.0,
        ramp_min=90.0,
        weather=WeatherForcing(air_c=(-5.0, 2.0), wind_ms=(0.5, 2.0), gust_ms=(1.5, 4.0), cloud=0.0,
                               humidity_pct=93.0),
        reports=(ReportBurst("ice", 8.0),),
        brief_fr=("Nuit claire et calme : la chaussée passe sous 0 °C avant l'aube. Surveillez les stations "
                  "météo, déclenchez le service hivernal sur les axes et les lignes de bus, traitez les "
                  "signalements de verglas avant l'heure de pointe."),
        brief_en=("Clear, calm night: road surfaces drop below 0 °C before dawn. Watch the weather stations, "
                  "call out the winter service on main roads and bus lines, handle ice reports before the "
                  "morning rush."),
    ),
    Scenario(
        name="heatwave",
        title="Canicule / Heatwave",
        onset=time(6, 0),
        duration_h=60.0,
        ramp_min=360.0,
        weather=WeatherForcing(air_c=(22.0, 38.0), wind_ms=(1.0, 3.0), gust_ms=(3.0, 7.0), rain_mm_h=(0.0, 0.0),
                               cloud=0.05),
        rates=RateFactors(camera_loss=2.0, signal_fault=2.0),
        reports=(ReportBurst("noise", 2.0), ReportBurst("other", 1.5)),
        brief_fr=("Canicule de trois jours : 35 à 40 °C le jour, 25 °C la nuit en centre-ville (îlot de "
                  "chaleur). Suivez l'écart centre/périphérie, anticipez les alertes aux personnes "
                  "vulnérables et surveillez les équipements qui chauffent."),
        brief_en=("Three-day heatwave: 35 to 40 °C by day, 25 °C at night in the centre (heat island). Follow "
                  "the centre/suburb gap, anticipate alerts for vulnerable people and watch equipment that "
                  "overheats."),
    ),
    Scenario(
        name="cabinet-outage",
        title="Panne d'armoires / Cabinet outage",
        onset=time(19, 0),
        duration_h=3.5,
        ramp_min=5.0,
        outage=CabinetOutage(commune_code="21166", cabinets=6),
        brief_fr=("Coupure d'alimentation en soirée sur six armoires voisines de Chenôve : des rues entières "
                  "s'éteignent. Reconnaissez une seule cause (armoires, pas 200 lampes), appelez le "
                  "distributeur, informez la commune et suivez le rétablissement."),
        brief_en=("Evening supply cut on six neighbouring cabinets in Chenôve: whole streets go dark. Recognise "
                  "one cause (cabinets, not 200 lamps), call the grid operator, inform the commune and follow "
                  "the restoration."),
    ),
    Scenario(
        name="stadium-event",
        title="Match au stade / Stadium event",
        onset=time(19, 30),
        duration_h=4.0,
        ramp_min=30.0,
        hotspot=Hotspot(lat=STADIUM[0], lon=STADIUM[1], radius_m=1500.0, shuttle_requests_per_h=120.0,
                        deny_share=0.45, plan="event"),
        reports=(ReportBurst("noise", 6.0, STADIUM), ReportBurst("abandoned_vehicle", 5.0, STADIUM),
                 ReportBurst("illegal_dumping", 3.0, STADIUM), ReportBurst("other", 3.0, STADIUM)),
        brief_fr=("Match au stade Gaston-Gérard (coup d'envoi 21 h) : afflux de bus et navettes, carrefours "
                  "saturés autour du stade, signalements de stationnement gênant et de bruit. Gardez les "
                  "carrefours en mode normal, surveillez les caméras du secteur et les priorités bus."),
        brief_en=("Match at Stade Gaston-Gérard (kick-off 21:00): buses and shuttles pour in, crossroads around "
                  "the stadium are busy, reports of obstructive parking and noise. Keep the crossroads in "
                  "normal mode, watch the area's cameras and the bus priorities."),
    ),
)}


def get_scenario(name: str | None) -> Scenario | None:
    """The scenario of that name (None for none); ValueError listing the known ones otherwise."""
    if name is None:
        return None
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None


@dataclass(frozen=True)
class ScenarioRun:
    """A scenario placed on the simulated timeline (or none), as the domain models ask about it."""

    scenario: Scenario | None = None
    onset_ms: int = 0

    @property
    def end_ms(self) -> int:
        """When the scenario stops acting (epoch ms); the onset when there is none."""
        return self.onset_ms + (int(self.scenario.duration_h * HOUR_MS) if self.scenario else 0)

    def intensity(self, ts_ms: int) -> float:
        """How strongly the scenario acts at an instant, 0 to 1."""
        return self.scenario.intensity(ts_ms, self.onset_ms) if self.scenario else 0.0

    def rate(self, name: str, ts_ms: int) -> float:
        """The factor on one fault rate (a RateFactors field) at an instant."""
        if self.scenario is None:
            return 1.0
        return 1.0 + (getattr(self.scenario.rates, name) - 1.0) * self.intensity(ts_ms)
