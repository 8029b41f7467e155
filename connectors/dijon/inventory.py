"""The synthetic, seed-deterministic inventory of Dijon Métropole's field assets, saved as GeoParquet.

34,000 LED light points along a synthetic street network, grouped behind control cabinets of
20 to 60 lamps; 113 signalised crossroads (bus priority near tram and bus lines); 269 cameras;
12 weather stations; 26 access-bollard sites. Every asset lies strictly inside its commune,
whichever boundaries are given (the approximate default or the official ones).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from connectors.dijon.geography import (
    LAMBERT93,
    LANDMARKS,
    WGS84,
    approximate_communes,
    communes_from_geometries,
    landmark,
    to_lambert93,
    to_wgs84,
    transport_lines,
)

__all__ = [
    "ASSET_COLUMNS",
    "COUNTS",
    "INVENTORY_FILES",
    "KINDS",
    "MANIFEST",
    "PERIOD_S",
    "PRIORITY_DISTANCE_M",
    "Inventory",
    "build_inventory",
    "counts_table",
    "inventory_counts",
    "inventory_exists",
    "load_inventory",
    "save_inventory",
]

KINDS = ("light", "cabinet", "signal", "camera", "weather", "bollard")
PERIOD_S = {"light": 900, "cabinet": 300, "signal": 60, "camera": 60, "weather": 300, "bollard": 300}
COUNTS = {"light": 34_000, "signal": 113, "camera": 269, "weather": 12, "bollard": 26}
PRIORITY_DISTANCE_M = 60.0
ASSET_COLUMNS = (
    "asset_id", "kind", "commune_code", "name", "lon", "lat", "geometry", "cabinet_id", "lamp_type",
    "wattage_w", "baseline_w", "renovated_on", "lamps_total", "bus_priority", "lines", "period_s",
)
INVENTORY_FILES = {"communes": "communes.parquet", "assets": "assets.parquet", "lines": "lines.parquet"}
MANIFEST = "manifest.json"

_INNER_MARGIN_M = 5.0
_CABINET_SIZE = (20, 60)
_CABINET_SPAN_M = 800.0
_LINK_M = 150.0
_LAMP_FLOOR = 100
_RENOVATION = (pd.Timestamp("2018-02-01"), pd.Timestamp("2021-12-31"))
_LEGACY = (("sodium", 70.0, 0.38), ("sodium", 100.0, 0.30), ("sodium", 150.0, 0.17),
           ("mercury", 80.0, 0.09), ("mercury", 125.0, 0.06))
_LED_W = np.array([20.0, 24.0, 29.0, 36.0, 42.0, 50.0, 58.0, 70.0])
_SIGNAL_SPACING_M = 200.0
# (label, intended commune, lat, lon); None keeps the commune's own centroid.
_WEATHER_SITES = (
    ("centre-ville", "21231", 47.3220, 5.0398),
    ("Toison d'Or", "21231", 47.3545, 5.0530),
    ("centre", "21166", None, None),
    ("centre", "21515", None, None),
    ("base aérienne", "21355", 47.2740, 5.0900),
    ("plateau", "21617", None, None),
    ("centre", "21171", None, None),
    ("vallée de l'Ouche", "21485", None, None),
    ("forêt", "21270", None, None),
    ("plateau", "21192", None, None),
    ("plaine", "21370", None, None),
    ("plaine", "21106", None, None),
)
_PEDESTRIAN_CENTRE = (47.3222, 5.0385)
_DIJON = "21231"


@dataclass(frozen=True, eq=False)
class Inventory:
    """Communes, assets and transport lines (GeoDataFrames in EPSG:4326) with how they were built."""

    communes: gpd.GeoDataFrame
    assets: gpd.GeoDataFrame
    lines: gpd.GeoDataFrame
    seed: int | None = None
    built_at: str | None = None

    @property
    def approximate(self) -> bool:
        """True when the commune boundaries are the approximate default, not official ones."""
        return bool(self.communes["approximate"].any())

    def of_kind(self, kind: str) -> gpd.GeoDataFrame:
        """Assets of one kind (`light`, `cabinet`, `signal`, `camera`, `weather`, `bollard`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown asset kind {kind!r}; expected one of {', '.join(KINDS)}")
        return self.assets[self.assets["kind"] == kind]

    def lamps_of(self, cabinet_id: str) -> gpd.GeoDataFrame:
        """Light points fed by a control cabinet."""
        return self.assets[self.assets["cabinet_id"] == cabinet_id]

    def in_commune(self, code: str) -> gpd.GeoDataFrame:
        """Assets of one commune (INSEE code)."""
        return self.assets[self.assets["commune_code"] == code]

    def asset(self, asset_id: str) -> pd.Series:
        """One asset's row; KeyError if unknown."""
        rows = self.assets[self.assets["asset_id"] == asset_id]
        if rows.empty:
            raise KeyError(asset_id)
        return rows.iloc[0]


class _Space:
    """The communes projected to Lambert-93, with inner polygons to keep points off the borders."""

    def __init__(self, communes: gpd.GeoDataFrame) -> None:
        self.codes = communes["code"].to_numpy(dtype=object)
        self.names = communes["name"].to_numpy(dtype=object)
        self.population = communes["population"].to_numpy(dtype=float)
        self.polygons = np.asarray(communes.to_crs(LAMBERT93).geometry.values)
        self.inner = shapely.buffer(self.polygons, -_INNER_MARGIN_M)
        shapely.prepare(self.inner)
        self.tree = shapely.STRtree(self.inner)
        cx, cy = to_lambert93(communes["lon"].to_numpy(), communes["lat"].to_numpy())
        fallback = shapely.get_coordinates(shapely.point_on_surface(self.inner))
        inside = shapely.contains_xy(self.inner, cx, cy)
        self.cx = np.where(inside, cx, fallback[:, 0])
        self.cy = np.where(inside, cy, fallback[:, 1])
        self.area = shapely.area(self.polygons)
        self.index = {code: i for i, code in enumerate(self.codes)}

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the commune whose inner polygon holds each point, -1 for none."""
        where = np.full(len(x), -1, dtype=np.int64)
        if len(x):
            hits, owners = self.tree.query(shapely.points(x, y), predicate="within")
            where[hits] = owners
        return where

    def snap(self, i: int, x: float, y: float) -> tuple[float, float]:
        """The point if inside commune i, else the nearest point well inside it."""
        if shapely.contains_xy(self.inner[i], x, y):
            return x, y
        core = shapely.buffer(self.inner[i], -30.0)
        core = core if not core.is_empty else self.inner[i]
        nearest = shapely.shortest_line(core, shapely.Point(x, y))
        return tuple(shapely.get_coordinates(nearest)[0])


def _draw(rng: np.random.Generator, space: _Space, n: int, sampler: Callable, *, commune: int | None = None):
    """Draw n points from `sampler(rng, m) -> (x, y)` that fall inside a commune (or the given one)."""
    xs, ys, cs = [], [], []
    have = 0
    for _ in range(200):
        x, y = sampler(rng, max(2 * (n - have), 16))
        where = space.locate(x, y)
        keep = where >= 0 if commune is None else where == commune
        xs.append(x[keep]), ys.append(y[keep]), cs.append(where[keep])
        have += int(keep.sum())
        if have >= n:
            return np.concatenate(xs)[:n], np.concatenate(ys)[:n], np.concatenate(cs)[:n]
    raise RuntimeError("could not place assets inside the communes: are the boundaries those of Dijon Métropole?")


def _lamp_allocation(population: np.ndarray, total: int) -> np.ndarray:
    weights = population ** 0.85
    quota = _LAMP_FLOOR + weights / weights.sum() * (total - _LAMP_FLOOR * len(population))
    counts = np.floor(quota).astype(np.int64)
    remainder = total - counts.sum()
    counts[np.argsort(-(quota - counts), kind="stable")[:remainder]] += 1
    return counts


def _street_sampler(rng: np.random.Generator, space: _Space, i: int) -> Callable:
    """Lamps along short straight streets on a slightly irregular grid, around the centre and a few hamlets."""
    scale = math.sqrt(space.area[i])
    x0, y0, x1, y1 = shapely.bounds(space.inner[i])
    grid = rng.uniform((x0, y0), (x1, y1), (64, 2))
    grid = grid[shapely.contains_xy(space.inner[i], grid[:, 0], grid[:, 1])]
    hamlets = np.vstack([[space.cx[i], space.cy[i]], grid[:3]])
    spread = np.r_[0.2 * scale, np.full(len(hamlets) - 1, 0.06 * scale)]
    share = np.r_[0.7, np.full(len(hamlets) - 1, 0.3 / max(len(hamlets) - 1, 1))]
    share = share / share.sum()

    def sample(rng: np.random.Generator, m: int):
        segments = max(m // 8, 4)
        centre = rng.choice(len(hamlets), segments, p=share)
        ax = rng.normal(hamlets[centre, 0], spread[centre])
        ay = rng.normal(hamlets[centre, 1], spread[centre])
        angle = rng.uniform(0, math.pi / 2) + rng.integers(0, 2, segments) * math.pi / 2
        angle += rng.normal(0, math.radians(8), segments)
        spacing = rng.uniform(25.0, 35.0, segments)
        per = np.floor(rng.uniform(120.0, 480.0, segments) / spacing).astype(np.int64) + 1
        seg = np.repeat(np.arange(segments), per)
        step = np.arange(len(seg)) - np.repeat(np.cumsum(per) - per, per) - np.repeat(per / 2, per)
        side = np.where(np.arange(len(seg)) % 2 == 0, 6.0, -6.0)
        ux, uy = np.cos(angle[seg]), np.sin(angle[seg])
        x = ax[seg] + step * spacing[seg] * ux - side * uy + rng.normal(0, 1.0, len(seg))
        y = ay[seg] + step * spacing[seg] * uy + side * ux + rng.normal(0, 1.0, len(seg))
        return x, y

    return sample


def _components(x: np.ndarray, y: np.ndarray, link_m: float) -> np.ndarray:
    """Connected-component label per point, points closer than `link_m` being linked (min-label propagation)."""
    points = shapely.points(x, y)
    a, b = shapely.STRtree(points).query(points, predicate="dwithin", distance=link_m)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    labels = np.arange(len(x))
    while True:
        hooked = np.minimum.reduceat(labels[b], starts)  # every point is its own neighbour: one start per point
        hooked = hooked[hooked]
        if np.array_equal(hooked, labels):
            return labels
        labels = hooked


def _street_lamps(rng: np.random.Generator, space: _Space, i: int, n: int) -> tuple[np.ndarray, ...]:
    """n lamps of commune i and their street cluster; clusters too small for a cabinet are left out."""
    sampler = _street_sampler(rng, space, i)
    x, y, _ = _draw(rng, space, int(1.05 * n) + 30, sampler, commune=i)
    for _ in range(50):
        cluster = _components(x, y, _LINK_M)
        keep = np.bincount(cluster)[cluster] >= _CABINET_SIZE[0]
        x, y, cluster = x[keep], y[keep], cluster[keep]
        if len(x) == n:
            return x, y, cluster
        if len(x) < n:
            more_x, more_y, _ = _draw(rng, space, int(1.5 * (n - len(x))) + 30, sampler, commune=i)
            x, y = np.r_[x, more_x], np.r_[y, more_y]
            continue
        # Too many: drop the latest streets of the largest cluster, where it changes the least.
        members = np.flatnonzero(cluster == np.argmax(np.bincount(cluster)))
        keep = np.ones(len(x), dtype=bool)
        keep[members[-(len(x) - n):]] = False
        x, y = x[keep], y[keep]
    raise RuntimeError(f"could not lay out the street lights of commune {space.codes[i]}")


def _extents(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spread of values[:k+1] and of values[k:] for every k."""
    head = np.maximum.accumulate(values) - np.minimum.accumulate(values)
    tail = (np.maximum.accumulate(values[::-1]) - np.minimum.accumulate(values[::-1]))[::-1]
    return head, tail


def _best_cut(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, int]:
    """Order and cut position, along x or y, leaving the two smallest boxes (sum of half-perimeters)."""
    best: tuple[float, np.ndarray, int] | None = None
    cuts = np.arange(lo, hi + 1)
    for key in (x, y):
        order = np.argsort(key, kind="stable")
        (head_x, tail_x), (head_y, tail_y) = _extents(x[order]), _extents(y[order])
        score = head_x[cuts - 1] + head_y[cuts - 1] + tail_x[cuts] + tail_y[cuts]
        k = int(np.argmin(score))
        if best is None or score[k] < best[0]:
            best = (float(score[k]), order, int(cuts[k]))
    return best[1], best[2]


def _cabinet_groups(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Group label per lamp: recursive cuts into compact groups of 20 to 60 lamps, one group per cabinet.

    A group that could still be cut in two is cut when it spans too far for one lighting circuit.
    """
    low, high = _CABINET_SIZE
    labels = np.empty(len(x), dtype=np.int64)
    stack, next_label = [np.arange(len(x))], 0
    while stack:
        idx = stack.pop()
        m = len(idx)
        if m > high:
            lo, hi = max(low, int(0.3 * m)), min(m - low, math.ceil(0.7 * m))
        elif m >= 2 * low and np.ptp(x[idx]) + np.ptp(y[idx]) > _CABINET_SPAN_M:
            lo, hi = low, m - low
        else:
            labels[idx] = next_label
            next_label += 1
            continue
        order, cut = _best_cut(x[idx], y[idx], lo, hi)
        stack.append(idx[order[cut:]])
        stack.append(idx[order[:cut]])
    return labels


def _commune_lamps(rng: np.random.Generator, space: _Space, i: int, n: int) -> tuple[np.ndarray, ...]:
    """Lamp positions of commune i sorted by cabinet group, the group of each lamp, and the cabinet positions."""
    x, y, cluster = _street_lamps(rng, space, i, n)
    labels, next_label = np.empty(n, dtype=np.int64), 0
    for c in np.unique(cluster):
        members = np.flatnonzero(cluster == c)
        labels[members] = _cabinet_groups(x[members], y[members]) + next_label
        next_label = labels[members].max() + 1
    order = np.lexsort((np.arange(n), labels))
    x, y, labels = x[order], y[order], labels[order]
    sizes = np.bincount(labels)
    gx, gy = np.bincount(labels, x) / sizes, np.bincount(labels, y) / sizes
    outside = ~shapely.contains_xy(space.inner[i], gx, gy)
    if outside.any():
        # The centroid of a group along a concave border may fall outside: use its most central lamp.
        by_distance = np.lexsort(((x - gx[labels]) ** 2 + (y - gy[labels]) ** 2, labels))
        central = by_distance[np.cumsum(sizes) - sizes]
        gx = np.where(outside, x[central] + 2.0, gx)
        gy = np.where(outside, y[central] + 2.0, gy)
    return x, y, labels, gx, gy


def _lamp_ratings(rng: np.random.Generator, group: np.ndarray, led_share: float) -> dict:
    """Lamp type, nominal and pre-renovation wattage and renovation date; whole cabinets are renovated together."""
    n_lamps, n_cab = len(group), int(group.max()) + 1
    legacy_kind = rng.choice(len(_LEGACY), n_lamps, p=[p for *_, p in _LEGACY])
    baseline = np.array([w for _, w, _ in _LEGACY])[legacy_kind]
    target = baseline * rng.uniform(0.30, 0.45, n_lamps)
    led = _LED_W[np.abs(target[:, None] - _LED_W[None, :]).argmin(axis=1)]
    span = (_RENOVATION[1] - _RENOVATION[0]).days
    lamp_day = np.minimum(rng.integers(0, span + 1, n_cab)[group] + rng.integers(0, 4, n_lamps), span)
    renovated = np.zeros(n_lamps, dtype=bool)
    renovated[np.lexsort((np.arange(n_lamps), lamp_day))[:int(round(led_share * n_lamps))]] = True
    renovated_on = (_RENOVATION[0] + pd.to_timedelta(lamp_day, unit="D")).where(renovated, pd.NaT)
    legacy_type = np.array([t for t, *_ in _LEGACY], dtype=object)[legacy_kind]
    return dict(
        lamp_type=np.where(renovated, "LED", legacy_type).astype(object),
        wattage_w=np.where(renovated, led, baseline),
        baseline_w=baseline,
        renovated_on=renovated_on,
    )


def _lights_and_cabinets(rng: np.random.Generator, space: _Space, led_share: float) -> tuple[dict, dict]:
    """The light points and their control cabinets, commune by commune."""
    parts = []
    groups_so_far = 0
    for i, n in enumerate(_lamp_allocation(space.population, COUNTS["light"])):
        x, y, labels, gx, gy = _commune_lamps(rng, space, i, int(n))
        parts.append((x, y, np.full(n, i), labels + groups_so_far, gx, gy, np.full(len(gx), i)))
        groups_so_far += len(gx)
    x, y, commune, group, cab_x, cab_y, cab_commune = (np.concatenate(v) for v in zip(*parts))
    cabinet_ids = _ids("CAB", groups_so_far, 4)
    ratings = _lamp_ratings(rng, group, led_share)
    lights = dict(x=x, y=y, commune=commune, cabinet_id=cabinet_ids[group], **ratings)
    cabinets = dict(
        x=cab_x, y=cab_y, commune=cab_commune, asset_id=cabinet_ids,
        wattage_w=np.bincount(group, ratings["wattage_w"], groups_so_far),
        baseline_w=np.bincount(group, ratings["baseline_w"], groups_so_far),
        lamps_total=np.bincount(group, minlength=groups_so_far),
    )
    return lights, cabinets


def _greedy_spaced(x: np.ndarray, y: np.ndarray, order: np.ndarray, n: int, spacing: float,
                   taken: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Indices of up to n candidates, visited in `order`, at least `spacing` metres from those already taken."""
    tx = list(taken[0]) if taken else []
    ty = list(taken[1]) if taken else []
    chosen = []
    for k in order:
        if tx and np.min((np.asarray(tx) - x[k]) ** 2 + (np.asarray(ty) - y[k]) ** 2) < spacing ** 2:
            continue
        chosen.append(k), tx.append(x[k]), ty.append(y[k])
        if len(chosen) == n:
            break
    return np.asarray(chosen, dtype=np.int64)


def _weighted_order(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """A random permutation where heavier items tend to come first (Efraimidis-Spirakis keys)."""
    keys = np.log(rng.random(len(weights))) / np.maximum(weights, 1e-12)
    return np.argsort(-keys, kind="stable")


def _signals(rng: np.random.Generator, space: _Space, lines_l93: np.ndarray, is_tram: np.ndarray,
             lights: dict) -> dict:
    """Signalised crossroads: most along the lines near the centre, the rest at street lights of the larger towns."""
    dijon = space.index[_DIJON]
    centre_x, centre_y = space.cx[dijon], space.cy[dijon]
    lengths = shapely.length(lines_l93)
    along = [np.arange(30.0, length, 60.0) for length in lengths]
    pts = shapely.line_interpolate_point(np.repeat(lines_l93, [len(a) for a in along]), np.concatenate(along))
    cand = shapely.get_coordinates(pts) + rng.normal(0, 6.0, (len(pts), 2))
    tram = np.repeat(is_tram, [len(a) for a in along])
    inside = space.locate(cand[:, 0], cand[:, 1]) >= 0
    cand, tram = cand[inside], tram[inside]
    dist = np.hypot(cand[:, 0] - centre_x, cand[:, 1] - centre_y)
    weight = np.exp(-dist / 1800.0) * np.where(tram, 1.5, 1.0)
    n_on_lines = int(round(0.72 * COUNTS["signal"]))
    on_lines = _greedy_spaced(cand[:, 0], cand[:, 1], _weighted_order(rng, weight), n_on_lines, _SIGNAL_SPACING_M)

    lx, ly, lc = lights["x"], lights["y"], lights["commune"]
    big = space.population[lc] >= 7000
    dist = np.hypot(lx - centre_x, ly - centre_y)
    weight = np.where(lc == dijon, 1.0, 0.5) * np.exp(-dist / 5000.0) * big
    off_lines = _greedy_spaced(lx, ly, _weighted_order(rng, weight), COUNTS["signal"] - len(on_lines),
                               _SIGNAL_SPACING_M, (cand[on_lines, 0], cand[on_lines, 1]))
    x = np.r_[cand[on_lines, 0], lx[off_lines]]
    y = np.r_[cand[on_lines, 1], ly[off_lines]]
    if len(x) != COUNTS["signal"]:
        raise RuntimeError("not enough room for the signalised crossroads")
    return dict(x=x, y=y, commune=space.locate(x, y))


def _priority(x: np.ndarray, y: np.ndarray, lines_l93: np.ndarray, line_ids: list[str]) -> tuple[np.ndarray, ...]:
    """Whether each point lies within PRIORITY_DISTANCE_M of a line, and which lines (comma-separated)."""
    points = shapely.points(x, y)
    hit_point, hit_line = shapely.STRtree(lines_l93).query(points, predicate="dwithin", distance=PRIORITY_DISTANCE_M)
    near: list[list[int]] = [[] for _ in range(len(x))]
    for p, line in sorted(zip(hit_point.tolist(), hit_line.tolist())):
        near[p].append(line)
    hits = np.array([",".join(line_ids[k] for k in sorted(ls)) for ls in near], dtype=object)
    return hits != "", hits


def _cameras(rng: np.random.Generator, space: _Space, signals: dict) -> dict:
    """Cameras near crossroads and landmarks, around the Place de la Libération and in the town centres."""
    dijon = space.index[_DIJON]
    sx, sy, sc = signals["x"], signals["y"], signals["commune"]
    lm_x, lm_y = to_lambert93([lm.lon for lm in LANDMARKS], [lm.lat for lm in LANDMARKS])
    lib_x, lib_y = to_lambert93(landmark("liberation").lon, landmark("liberation").lat)
    others = np.delete(np.arange(len(space.codes)), dijon)
    suburb_p = space.population[others] / space.population[others].sum()
    signal_p = np.where(sc == dijon, 2.0, 1.0) / np.where(sc == dijon, 2.0, 1.0).sum()

    def near_signals(rng, m):
        k = rng.choice(len(sx), m, p=signal_p)
        r, a = rng.uniform(15.0, 45.0, m), rng.uniform(0, 2 * math.pi, m)
        return sx[k] + r * np.cos(a), sy[k] + r * np.sin(a)

    def near_landmarks(rng, m):
        k = rng.integers(0, len(lm_x), m)
        r, a = rng.uniform(30.0, 250.0, m), rng.uniform(0, 2 * math.pi, m)
        return lm_x[k] + r * np.cos(a), lm_y[k] + r * np.sin(a)

    def centre(rng, m):
        return rng.normal(lib_x, 800.0, m), rng.normal(lib_y, 800.0, m)

    def suburbs(rng, m):
        k = others[rng.choice(len(others), m, p=suburb_p)]
        return rng.normal(space.cx[k], 350.0), rng.normal(space.cy[k], 350.0)

    parts = [_draw(rng, space, n, s) for n, s in
             ((100, near_signals), (45, near_landmarks), (84, centre), (40, suburbs))]
    x, y, c = (np.concatenate(v) for v in zip(*parts))
    return dict(x=x, y=y, commune=c)


def _weather(space: _Space) -> dict:
    """The twelve weather stations at their sites, moved inside their commune when the boundaries require it."""
    xs, ys, cs, labels = [], [], [], []
    for label, code, lat, lon in _WEATHER_SITES:
        i = space.index[code]
        if lat is None:
            x, y = space.cx[i], space.cy[i]
        else:
            x, y = (float(v) for v in to_lambert93(lon, lat))
        x, y = space.snap(i, x, y)
        xs.append(x), ys.append(y), cs.append(i), labels.append(label)
    return dict(x=np.array(xs), y=np.array(ys), commune=np.array(cs), label=labels)


def _bollards(rng: np.random.Generator, space: _Space) -> dict:
    """Access-bollard sites spread over the pedestrian centre of Dijon."""
    dijon = space.index[_DIJON]
    ox, oy = to_lambert93(_PEDESTRIAN_CENTRE[1], _PEDESTRIAN_CENTRE[0])

    def ellipse(rng, m):
        r, a = np.sqrt(rng.random(m)), rng.uniform(0, 2 * math.pi, m)
        return ox + 650.0 * r * np.cos(a), oy + 300.0 * r * np.sin(a)

    x, y, _ = _draw(rng, space, 400, ellipse, commune=dijon)
    keep = _greedy_spaced(x, y, np.arange(len(x)), COUNTS["bollard"], 60.0)
    if len(keep) != COUNTS["bollard"]:
        raise RuntimeError("not enough room for the access-bollard sites")
    return dict(x=x[keep], y=y[keep], commune=np.full(len(keep), dijon))


def _frame(kind: str, part: dict, space: _Space, ids: np.ndarray, names: np.ndarray) -> pd.DataFrame:
    n = len(part["x"])
    lon, lat = to_wgs84(part["x"], part["y"])
    none = np.full(n, None, dtype=object)
    return pd.DataFrame({
        "asset_id": ids,
        "kind": np.full(n, kind, dtype=object),
        "commune_code": space.codes[part["commune"]],
        "name": names,
        "lon": np.round(lon, 6),
        "lat": np.round(lat, 6),
        "cabinet_id": part.get("cabinet_id", none),
        "lamp_type": part.get("lamp_type", none),
        "wattage_w": part.get("wattage_w", np.zeros(n)),
        "baseline_w": part.get("baseline_w", np.zeros(n)),
        "renovated_on": part.get("renovated_on", pd.DatetimeIndex([pd.NaT] * n)),
        "lamps_total": part.get("lamps_total", np.zeros(n, dtype=np.int64)),
        "bus_priority": part.get("bus_priority", np.zeros(n, dtype=bool)),
        "lines": part.get("lines", np.full(n, "", dtype=object)),
        "period_s": np.full(n, PERIOD_S[kind], dtype=np.int64),
    })


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """Stable asset ids like 'CAB-0001', numbered from 1."""
    return np.char.add(f"{prefix}-", np.char.zfill(np.arange(1, n + 1).astype(str), width)).astype(object)


def _numbered(space: _Space, commune: np.ndarray, label: str) -> np.ndarray:
    """Readable names like 'Dijon · Carrefour 12', numbered from 1 within each commune."""
    rank = pd.Series(commune).groupby(commune).cumcount().to_numpy() + 1
    prefix = pd.Series(space.names[commune]) + f" · {label} "
    return (prefix + pd.Series(rank).astype(str)).to_numpy(dtype=object)


def _sorted(part: dict, keys: tuple[np.ndarray, ...]) -> dict:
    order = np.lexsort(keys)
    return {k: (v[order] if isinstance(v, np.ndarray) else v) for k, v in part.items()}


def _normalise_assets(assets: pd.DataFrame) -> gpd.GeoDataFrame:
    out = pd.DataFrame({
        "asset_id": assets["asset_id"].astype(str),
        "kind": assets["kind"].astype(str),
        "commune_code": assets["commune_code"].astype(str),
        "name": assets["name"].astype(str),
        "lon": assets["lon"].astype(float),
        "lat": assets["lat"].astype(float),
    })
    for column in ("cabinet_id", "lamp_type"):
        values = assets[column].astype(object)
        out[column] = values.where(values.notna(), None)
    out["wattage_w"] = assets["wattage_w"].astype(float)
    out["baseline_w"] = assets["baseline_w"].astype(float)
    out["renovated_on"] = pd.to_datetime(assets["renovated_on"]).astype("datetime64[ns]")
    out["lamps_total"] = assets["lamps_total"].astype(np.int64)
    out["bus_priority"] = assets["bus_priority"].astype(bool)
    out["lines"] = assets["lines"].fillna("").astype(str)
    out["period_s"] = assets["period_s"].astype(np.int64)
    frame = gpd.GeoDataFrame(out, geometry=shapely.points(out["lon"].to_numpy(), out["lat"].to_numpy()), crs=WGS84)
    return frame[list(ASSET_COLUMNS)].reset_index(drop=True)


def _check_communes(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if communes.crs is None or "code" not in communes.columns:
        raise ValueError("communes must be a GeoDataFrame with a CRS and a `code` column")
    communes = communes.to_crs(WGS84)
    geometries = dict(zip(communes["code"].astype(str), communes.geometry))
    approximate = bool(communes["approximate"].any()) if "approximate" in communes.columns else False
    return communes_from_geometries(geometries, approximate=approximate)


def _check_inside(assets: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> None:
    polygons = dict(zip(communes["code"], communes.geometry.values))
    for code, rows in assets.groupby("commune_code"):
        if not shapely.contains_xy(polygons[code], rows["lon"].to_numpy(), rows["lat"].to_numpy()).all():
            raise RuntimeError(f"an asset fell outside its commune {code}")


def build_inventory(seed: int = 42, communes: gpd.GeoDataFrame | None = None, *,
                    led_share: float = 1.0) -> Inventory:
    """Build the inventory deterministically from the seed, inside the given (or approximate default) communes."""
    if not 0.0 <= led_share <= 1.0:
        raise ValueError(f"led_share must be between 0 and 1, got {led_share}")
    communes = approximate_communes() if communes is None else _check_communes(communes)
    space = _Space(communes)
    lines = transport_lines()
    lines_l93 = np.asarray(lines.to_crs(LAMBERT93).geometry.values)
    line_ids = lines["line_id"].tolist()
    streams = [np.random.default_rng([seed, k]) for k in range(len(KINDS))]

    lights, cabinets = _lights_and_cabinets(streams[0], space, led_share)
    signals = _signals(streams[2], space, lines_l93, (lines["mode"] == "tram").to_numpy(), lights)
    signals = _sorted(signals, (signals["x"], signals["commune"]))
    signals["bus_priority"], signals["lines"] = _priority(signals["x"], signals["y"], lines_l93, line_ids)
    cameras = _cameras(streams[3], space, signals)
    cameras = _sorted(cameras, (cameras["x"], cameras["commune"]))
    weather = _weather(space)
    bollards = _bollards(streams[5], space)
    bollards = _sorted(bollards, (bollards["x"],))

    weather_names = np.array([f"{space.names[c]} · Station météo {label}"
                              for c, label in zip(weather["commune"], weather["label"])], dtype=object)
    frames = [
        _frame("light", lights, space, _ids("LP", len(lights["x"]), 6),
               _numbered(space, lights["commune"], "Point lumineux")),
        _frame("cabinet", cabinets, space, cabinets["asset_id"], _numbered(space, cabinets["commune"], "Armoire")),
        _frame("signal", signals, space, _ids("SIG", COUNTS["signal"], 3),
               _numbered(space, signals["commune"], "Carrefour")),
        _frame("camera", cameras, space, _ids("CAM", COUNTS["camera"], 3),
               _numbered(space, cameras["commune"], "Caméra")),
        _frame("weather", weather, space, _ids("WS", COUNTS["weather"], 2), weather_names),
        _frame("bollard", bollards, space, _ids("BOL", COUNTS["bollard"], 2),
               _numbered(space, bollards["commune"], "Bornes d'accès")),
    ]
    assets = _normalise_assets(pd.concat(frames, ignore_index=True))
    _check_inside(assets, communes)
    built_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return Inventory(communes=communes, assets=assets, lines=lines, seed=seed, built_at=built_at)


def inventory_counts(inv: Inventory) -> dict:
    """Asset counts per kind and per commune per kind, with commune names, ready for JSON."""
    assets = inv.assets
    by_kind = assets["kind"].value_counts()
    table = pd.crosstab(assets["commune_code"], assets["kind"]).reindex(
        index=inv.communes["code"], columns=list(KINDS), fill_value=0
    )
    return {
        "total": int(len(assets)),
        "approximate": inv.approximate,
        "seed": inv.seed,
        "by_kind": {kind: int(by_kind.get(kind, 0)) for kind in KINDS},
        "by_commune": {code: {kind: int(n) for kind, n in row.items()} for code, row in table.iterrows()},
        "names": dict(zip(inv.communes["code"], inv.communes["name"])),
    }


def counts_table(inv: Inventory) -> str:
    """A readable table of asset counts per commune and kind, with totals, for the terminal."""
    counts = inventory_counts(inv)
    width = max(len(name) for name in counts["names"].values())
    header = f"{'Commune':<{width}}  {'INSEE':<5}" + "".join(f"{kind:>9}" for kind in KINDS)
    rows = [
        f"{counts['names'][code]:<{width}}  {code:<5}" + "".join(f"{by_kind[kind]:>9,}" for kind in KINDS)
        for code, by_kind in counts["by_commune"].items()
    ]
    total = f"{'Total':<{width}}  {'':<5}" + "".join(f"{counts['by_kind'][kind]:>9,}" for kind in KINDS)
    rule = "-" * len(header)
    boundaries = ("APPROXIMATE commune boundaries (use --communes FILE for official ones)" if inv.approximate
                  else "official commune boundaries")
    title = f"Inventory: {counts['total']:,} assets, seed {inv.seed}, {boundaries}, built {inv.built_at}"
    return "\n".join([title, header, rule, *rows, rule, total])


def inventory_exists(folder: str | Path) -> bool:
    """True when the folder holds a saved inventory (the three GeoParquet files and the manifest)."""
    folder = Path(folder)
    return all((folder / name).is_file() for name in (*INVENTORY_FILES.values(), MANIFEST))


def save_inventory(inv: Inventory, folder: str | Path) -> Path:
    """Write the inventory as GeoParquet (communes, assets, lines) plus manifest.json; return the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for attr, name in INVENTORY_FILES.items():
        getattr(inv, attr).to_parquet(folder / name, index=False)
    manifest = {
        "format": 1,
        "seed": inv.seed,
        "approximate": inv.approximate,
        "built_at": inv.built_at,
        "counts": inventory_counts(inv)["by_kind"],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return folder


def load_inventory(folder: str | Path) -> Inventory:
    """Read an inventory saved by `save_inventory`; FileNotFoundError if the folder holds none."""
    folder = Path(folder)
    if not inventory_exists(folder):
        raise FileNotFoundError(f"no saved inventory in {folder}")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    communes = gpd.read_parquet(folder / INVENTORY_FILES["communes"])
    communes = communes_from_geometries(
        dict(zip(communes["code"].astype(str), communes.geometry)), approximate=bool(manifest["approximate"])
    )
    lines = gpd.read_parquet(folder / INVENTORY_FILES["lines"])
    lines = lines.astype({"line_id": str, "name": str, "mode": str})
    assets = _normalise_assets(gpd.read_parquet(folder / INVENTORY_FILES["assets"]))
    return Inventory(communes=communes, assets=assets, lines=lines, seed=manifest.get("seed"),
                     built_at=manifest.get("built_at"))
