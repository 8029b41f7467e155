"""Weather of the simulator: 12 stations sharing one regional weather, each with its own microclimate.

Air temperature follows the season and the hour, damped by clouds; the dense centre keeps a few
degrees more at night (heat island, strongest when calm and clear); road surfaces gain heat in
the sun and lose it to a clear night sky; humidity follows from a dew point; rain comes in
episodes. Scenarios bend each quantity towards their forcing as their intensity rises.
"""

from __future__ import annotations

import math

import numpy as np

from connectors.dijon.geography import landmark
from connectors.dijon.scenarios import ScenarioRun
from connectors.dijon.sim_base import HOUR_MS, Agenda, Periodic, distance_m, local_date, local_hour, ou_step, sun_elevation
from streams.schemas import WeatherObservation

__all__ = ["Weather"]

WEATHER_PERIOD_MS = 300_000
UHI_NIGHT_C = 4.0
UHI_DAY_C = 0.8


def _lerp(natural, forced, weight: float):
    return natural if forced is None or weight <= 0 else (1.0 - weight) * natural + weight * forced


class Weather:
    """The weather stations and the regional weather they sample."""

    def __init__(self, inventory, rng: np.random.Generator, agenda: Agenda, run: ScenarioRun, *, start_ms: int) -> None:
        stations = inventory.of_kind("weather")
        self.rng, self.run = rng, run
        self.ids = stations["asset_id"].to_numpy(dtype=object)
        n = self.n = len(self.ids)
        centre = landmark("liberation")
        km = distance_m(stations["lat"].to_numpy(float), stations["lon"].to_numpy(float), centre.lat, centre.lon) / 1000
        uhi = np.exp(-km / 2.5)
        self.uhi = uhi.tolist()
        self.offset = (rng.normal(0.0, 0.4, n) * (1.0 - uhi)).tolist()
        self.exposure = np.clip(1.2 - 0.5 * uhi + rng.normal(0, 0.05, n), 0.6, 1.3).tolist()
        self.rain_factor = rng.lognormal(0.0, 0.25, n).tolist()
        self.sched = Periodic(rng.integers(0, WEATHER_PERIOD_MS, n), WEATHER_PERIOD_MS)
        self.t_anom = float(rng.normal(0, 2.5))
        self.cloud_x = float(rng.normal(0, 1))
        self.wind_x = float(rng.normal(0, 0.45))
        self.direction = float(rng.uniform(180, 260))
        self.pressure = float(1016 + rng.normal(0, 6))
        self.rain_mm_h, self.rain_until = 0.0, start_ms
        self.last_gust = np.zeros(n)
        self.last_rain = np.zeros(n)
        self.last_road = np.full(n, 10.0)

    def _evolve(self, a: int, b: int) -> None:
        rng, dt = self.rng, b - a
        self.t_anom = ou_step(self.t_anom, rng, dt, 72.0, 3.0)
        self.cloud_x = ou_step(self.cloud_x, rng, dt, 8.0, 1.0)
        self.wind_x = ou_step(self.wind_x, rng, dt, 10.0, 0.45)
        self.direction = ou_step(self.direction, rng, dt, 12.0, 40.0, 220.0)
        self.pressure = ou_step(self.pressure, rng, dt, 48.0, 7.0, 1016.0)
        if a >= self.rain_until:
            self.rain_mm_h = 0.0
            chance = 1.0 - math.exp(-(0.01 + 0.05 * self.cloud) * dt / HOUR_MS)
            if rng.random() < chance:
                self.rain_mm_h = float(min(40.0, rng.lognormal(math.log(1.5), 0.8)))
                self.rain_until = a + int(rng.lognormal(math.log(2.5), 0.6) * HOUR_MS)

    @property
    def cloud(self) -> float:
        """Regional cloud cover, 0 (clear) to 1 (overcast)."""
        return 0.95 if self.rain_mm_h > 0 else float(np.clip(0.55 + 0.3 * self.cloud_x, 0.0, 1.0))

    def _observe(self, i: int, ts: int) -> WeatherObservation:
        rng, forcing = self.rng, (self.run.scenario.weather if self.run.scenario else None)
        w = self.run.intensity(ts)
        doy = local_date(ts).timetuple().tm_yday
        season = math.cos(2 * math.pi * (doy - 15) / 365.25)
        hour = local_hour(ts)
        diurnal = math.cos(2 * math.pi * (hour - 15.0) / 24.0)
        cloud = _lerp(self.cloud, forcing and forcing.cloud, w)
        mean = 11.5 - 9.5 * season + self.t_anom
        amp = (5.0 - 1.5 * season) * (1.0 - 0.5 * cloud)
        if forcing and forcing.air_c:
            low, high = forcing.air_c
            mean, amp = _lerp(mean, (low + high) / 2, w), _lerp(amp, (high - low) / 2, w)
        wind = math.exp(math.log(3.0) + self.wind_x) * self.exposure[i] * (1 + 0.25 * max(0.0, diurnal))
        gust = wind * (1.4 + 0.3 * abs(float(rng.standard_normal()))) + 0.5
        rain = self.rain_mm_h * self.rain_factor[i] * float(rng.lognormal(0, 0.2)) if self.rain_mm_h else 0.0
        if forcing:
            wind = _lerp(wind, forcing.wind_ms and float(rng.uniform(*forcing.wind_ms)), w)
            gust = _lerp(gust, forcing.gust_ms and float(rng.uniform(*forcing.gust_ms)), w)
            rain = _lerp(rain, forcing.rain_mm_h and float(rng.uniform(*forcing.rain_mm_h)), w)
        wind, gust = min(wind, 74.0), min(max(gust, wind + 0.1), 99.0)
        elevation = sun_elevation(ts)
        calm = min(max(1.0 - wind / 6.0, 0.0), 1.0)
        dusk = min(max((4.0 - elevation) / 8.0, 0.0), 1.0)  # 0 with the sun well up, 1 once it has set
        island = self.uhi[i] * (UHI_DAY_C + (UHI_NIGHT_C - UHI_DAY_C) * dusk) * (1 - 0.6 * cloud) * (0.4 + 0.6 * calm)
        air = mean + amp * diurnal + island + self.offset[i] + 0.15 * float(rng.standard_normal())
        wet = rain > 0.1
        solar = max(0.0, math.sin(math.radians(elevation))) * (1 - 0.75 * cloud) * 20.0 * (0.5 if wet else 1.0)
        radiative = (0.5 + 2.5 * (1 - cloud)) * (1 - min(wind / 8.0, 0.7)) * (0.5 if wet else 1.0)
        road = air + solar - (radiative if elevation < 5 else 0.0) + 0.25 * island + 0.2 * float(rng.standard_normal())
        dew = mean - amp - 0.5 - 3.0 * (1 - cloud) + (2.0 if wet else 0.0)
        humidity = 100 * math.exp(17.625 * dew / (243.04 + dew) - 17.625 * air / (243.04 + air))
        humidity = max(humidity, 88 + 10 * float(rng.random())) if wet else humidity
        if forcing and forcing.humidity_pct is not None:
            humidity = _lerp(humidity, forcing.humidity_pct + 3 * float(rng.standard_normal()), w)
        pressure = self.pressure - (20.0 * w if forcing and forcing.gust_ms else 0.0)
        self.last_gust[i], self.last_rain[i], self.last_road[i] = gust, rain, road
        return WeatherObservation(
            asset_id=self.ids[i], ts=ts,
            temperature_c=round(min(max(air, -40.0), 55.0), 1),
            road_temperature_c=round(min(max(road, -40.0), 75.0), 1),
            humidity_pct=round(min(max(humidity, 5.0), 100.0), 1),
            wind_speed_ms=round(wind, 1), gust_ms=round(max(gust, round(wind, 1) + 0.1), 1),
            precipitation_mm_h=round(min(rain, 300.0), 1),
            wind_direction_deg=round((self.direction + 10 * float(rng.standard_normal())) % 360.0, 0),
            pressure_hpa=round(min(max(pressure, 900.0), 1090.0), 1),
        )

    def schedule(self, a: int, b: int) -> None:
        """Evolve the regional weather over [a, b)."""
        self._evolve(a, b)

    def step(self, a: int, b: int, out: list) -> None:
        """Emit the observations due in [a, b)."""
        idx, ts = self.sched.due(a, b)
        for i, t in zip(idx.tolist(), ts.tolist()):
            out.append(self._observe(i, t))

    def conditions(self) -> tuple[float, float, float]:
        """Latest worst gust (m/s), mean rain (mm/h) and share of stations with a frozen road surface."""
        return float(self.last_gust.max()), float(self.last_rain.mean()), float(np.mean(self.last_road <= 0.0))
