"""Citizen and agent incident reports of the simulator: about 630 a day, clustered in time and place.

Most reports are drawn at random near the streets (light points stand for streets, so denser
where people live), more by day than by night, with bursts; some follow real trouble (a dark
lamp, a signal on flashing, gusts, heavy rain, frozen roads); each may be reported again by a
neighbour a little later; scenarios add their own bursts.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from connectors.dijon.scenarios import ScenarioRun
from connectors.dijon.sim_base import (
    MINUTE_MS, Agenda, arrivals, local_date, local_hour, ou_step,
)
from streams.schemas import INCIDENT_CATEGORIES, METROPOLIS_BBOX, IncidentReport

__all__ = ["CATEGORY_WEIGHTS", "HOURLY_PROFILE", "REPORTS_PER_DAY", "Reports"]

REPORTS_PER_DAY = 630.0
FOLLOW_UP_SHARE = 0.12  # share of reports that a neighbour reports again
CATEGORY_WEIGHTS: dict[str, float] = {
    "street_light_out": 0.12, "traffic_light_fault": 0.04, "pothole": 0.14, "illegal_dumping": 0.19,
    "graffiti": 0.10, "damaged_sign": 0.07, "fallen_tree": 0.03, "flooding": 0.02, "ice": 0.0,
    "abandoned_vehicle": 0.08, "noise": 0.11, "other": 0.10,
}
HOURLY_PROFILE = np.array([0.4, 0.25, 0.2, 0.15, 0.2, 0.4, 1.0, 2.5, 5.0, 7.0, 7.5, 7.0,
                           5.0, 5.5, 7.0, 7.5, 7.5, 7.0, 6.0, 4.5, 3.5, 2.5, 1.6, 0.9])
HOURLY_PROFILE = HOURLY_PROFILE / HOURLY_PROFILE.mean()
SOURCES = (("citizen", 0.45), ("app", 0.35), ("agent", 0.20))
DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "street_light_out": ("Lampadaire éteint", "Rue plongée dans le noir", "Éclairage public en panne"),
    "traffic_light_fault": ("Feu tricolore en panne", "Feu orange clignotant", "Feu rouge bloqué"),
    "pothole": ("Nid-de-poule dangereux", "Chaussée dégradée", "Trou sur la piste cyclable"),
    "illegal_dumping": ("Dépôt sauvage d'encombrants", "Sacs poubelle sur le trottoir", "Gravats abandonnés"),
    "graffiti": ("Tags sur une façade", "Graffiti sur du mobilier urbain"),
    "damaged_sign": ("Panneau renversé", "Panneau de signalisation illisible"),
    "fallen_tree": ("Arbre tombé sur la chaussée", "Grosse branche sur le trottoir"),
    "flooding": ("Chaussée inondée", "Avaloir bouché, eau sur la route"),
    "ice": ("Verglas sur le trottoir", "Chaussée glissante, verglas"),
    "abandoned_vehicle": ("Véhicule ventouse", "Voiture stationnée gênante depuis des jours"),
    "noise": ("Nuisances sonores", "Bruit tard dans la soirée"),
    "other": ("Mobilier urbain endommagé", "Fontaine hors service", "Autre problème sur l'espace public"),
}
_M_PER_DEG_LAT = 111_320.0
_M_PER_DEG_LON = _M_PER_DEG_LAT * math.cos(math.radians(47.32))


class Reports:
    """Incident reports, drawn from the time of day, the field's real trouble and the scenario."""

    def __init__(self, inventory, rng: np.random.Generator, agenda: Agenda, run: ScenarioRun, *,
                 start_ms: int, lighting, traffic, weather) -> None:
        self.rng, self.agenda, self.run = rng, agenda, run
        self.lighting, self.traffic, self.weather = lighting, traffic, weather
        self.prefix = f"RPT-{local_date(start_ms):%Y%m%d}-"
        self.count = 0
        communes = inventory.communes.assign(code=inventory.communes["code"].astype(str)).set_index("code")
        lamp_communes = pd.Series(lighting.commune)
        self.lamp_address = lamp_communes.map(communes["name"]).fillna("Dijon Métropole").to_numpy(dtype=object)
        # each commune gets reports in proportion to its people, spread over its streets (its lamps)
        people = lamp_communes.map(communes["population"]).fillna(0).to_numpy(float)
        weight = people / lamp_communes.map(lamp_communes.value_counts()).to_numpy(float)
        self.lamp_cdf = np.cumsum(weight) / weight.sum() if weight.sum() > 0 else np.linspace(0, 1, len(weight) + 1)[1:]
        cats = [c for c in INCIDENT_CATEGORIES if CATEGORY_WEIGHTS.get(c, 0) > 0]
        self.categories = cats
        weights = np.array([CATEGORY_WEIGHTS[c] for c in cats])
        self.cat_weights = weights / weights.sum()
        self.src_names = [s for s, _ in SOURCES]
        self.src_weights = np.array([w for _, w in SOURCES])
        self.burst = 0.0

    def _new(self, ts: int, category: str, lat: float, lon: float, out: list, *, asset_ref: str | None = None,
             address: str | None = None, source: str | None = None) -> None:
        rng = self.rng
        self.count += 1
        lon_min, lat_min, lon_max, lat_max = METROPOLIS_BBOX
        lat, lon = float(lat), float(lon)
        lat, lon = min(max(lat, lat_min + 0.001), lat_max - 0.001), min(max(lon, lon_min + 0.001), lon_max - 0.001)
        source = source or self.src_names[int(rng.choice(len(self.src_names), p=self.src_weights))]
        texts = DESCRIPTIONS[category]
        out.append(IncidentReport(
            asset_id=f"{self.prefix}{self.count:05d}", ts=int(ts), category=category, lat=round(lat, 6),
            lon=round(lon, 6), source=source, description=texts[int(rng.integers(len(texts)))],
            address=address, asset_ref=asset_ref, **self._contact(source),
        ))
        if rng.random() < FOLLOW_UP_SHARE:
            later = int(ts + rng.integers(10 * MINUTE_MS, 120 * MINUTE_MS))
            self.agenda.push(later, self._follow_up, (category, lat, lon, asset_ref, address, source))

    def _contact(self, source: str) -> dict:
        """A made-up contact (example.org) on three citizen or app reports in five; agents leave none.

        Drawn from the report's number, not from the generator, so the rest of the simulation is
        the same with or without contacts.
        """
        n = self.count
        if source not in ("citizen", "app") or n % 5 >= 3:
            return {}
        return {"contact_name": f"Habitant {n:05d}", "contact_email": f"habitant{n:05d}@example.org",
                "contact_phone": f"+33 3 80 {n // 100 % 100:02d} {n % 100:02d} {(n * 7) % 100:02d}"}

    def _follow_up(self, ts: int, payload: tuple, out: list) -> None:
        category, lat, lon, asset_ref, address, source = payload
        dlat, dlon = self._jitter(60.0)
        others = [s for s in self.src_names if s != source]
        self._new(ts, category, lat + dlat, lon + dlon, out, asset_ref=asset_ref, address=address,
                  source=others[int(self.rng.integers(len(others)))])

    def _jitter(self, sd_m: float) -> tuple[float, float]:
        dx, dy = self.rng.normal(0.0, sd_m, 2)
        return float(dy / _M_PER_DEG_LAT), float(dx / _M_PER_DEG_LON)

    def _near_lamp(self, ts: int, category: str, i: int, out: list, *, ref: bool) -> None:
        dlat, dlon = self._jitter(20.0)
        light = self.lighting
        self._new(ts, category, light.lat[i] + dlat, light.lon[i] + dlon, out,
                  asset_ref=light.ids[i] if ref else None, address=self.lamp_address[i])

    def _at_random(self, ts: int, category: str, out: list) -> None:
        if category == "traffic_light_fault" and self.traffic.n:
            s = int(self.rng.integers(self.traffic.n))
            dlat, dlon = self._jitter(25.0)
            self._new(ts, category, self.traffic.lat[s] + dlat, self.traffic.lon[s] + dlon, out,
                      asset_ref=self.traffic.ids[s])
            return
        i = min(int(np.searchsorted(self.lamp_cdf, self.rng.random(), side="right")), self.lighting.n - 1)
        self._near_lamp(ts, category, i, out, ref=category == "street_light_out")

    def schedule(self, a: int, b: int) -> None:
        """Update the burstiness of the report flow over [a, b)."""
        self.burst = ou_step(self.burst, self.rng, b - a, 2.0, 0.35)

    def step(self, a: int, b: int, out: list) -> None:
        """Emit the reports made in [a, b)."""
        rng = self.rng
        awake = float(HOURLY_PROFILE[int(local_hour(a)) % 24])
        flow = math.exp(self.burst - 0.35 ** 2 / 2)
        base_per_h = REPORTS_PER_DAY * (1 - FOLLOW_UP_SHARE) / 24 * awake * flow
        for ts in arrivals(rng, base_per_h, a, b).tolist():
            self._at_random(ts, self.categories[int(rng.choice(len(self.categories), p=self.cat_weights))], out)

        gust, rain, frost = self.weather.conditions()
        morning = 1.0 if 6 <= local_hour(a) < 12 else 0.3
        for category, rate in (("fallen_tree", 0.4 * max(0.0, gust - 22.0)),
                               ("flooding", 0.5 * max(0.0, rain - 8.0)),
                               ("ice", 2.0 * frost * morning)):
            for ts in arrivals(rng, rate, a, b).tolist():
                self._at_random(ts, category, out)

        dark = self.lighting.dark_by_fault()
        for ts in arrivals(rng, 0.04 * len(dark) * min(awake, 1.5), a, b).tolist():
            self._near_lamp(ts, "street_light_out", int(rng.choice(dark)), out, ref=True)
        stuck = self.traffic.abnormal()
        for ts in arrivals(rng, 1.0 * len(stuck) * min(awake, 1.5), a, b).tolist():
            s = int(rng.choice(stuck))
            dlat, dlon = self._jitter(25.0)
            self._new(ts, "traffic_light_fault", self.traffic.lat[s] + dlat, self.traffic.lon[s] + dlon, out,
                      asset_ref=self.traffic.ids[s])

        intensity = self.run.intensity(a)
        if intensity > 0:
            for burst in self.run.scenario.reports:
                for ts in arrivals(rng, burst.per_hour * intensity, a, b).tolist():
                    if burst.near is None:
                        self._at_random(ts, burst.category, out)
                    else:
                        dlat, dlon = self._jitter(burst.radius_m / 2)
                        self._new(ts, burst.category, burst.near[0] + dlat, burst.near[1] + dlon, out)

