"""Dijon Métropole geography: commune facts, landmarks, transport lines and commune boundaries.

The default boundaries are APPROXIMATE: Voronoi cells of the commune centroids (Dijon gets a few
extra seeds so that it is the large central commune it really is, about 41 km²), clipped to an
envelope of about 240 km². They are plausible, not true; every frame built from them says so
with `approximate=True`. Official boundaries (IGN Admin Express GeoJSON, properties `code` and
`nom`) are read with `load_communes_geojson`, which returns the same columns with
`approximate=False`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from streams.schemas import METROPOLIS_BBOX

__all__ = [
    "APPROXIMATE_AREA_KM2",
    "COMMUNES",
    "COMMUNE_COLUMNS",
    "LAMBERT93",
    "LANDMARKS",
    "LINE_COLUMNS",
    "TRANSPORT_LINES",
    "WGS84",
    "Commune",
    "Landmark",
    "TransportLine",
    "approximate_communes",
    "commune",
    "communes_from_geometries",
    "landmark",
    "lines",
    "load_communes_geojson",
    "to_lambert93",
    "to_wgs84",
    "transport_lines",
]

WGS84 = "EPSG:4326"
LAMBERT93 = "EPSG:2154"
APPROXIMATE_AREA_KM2 = 240.0
COMMUNE_COLUMNS = ("code", "name", "population", "lat", "lon", "area_km2", "approximate", "geometry")
LINE_COLUMNS = ("line_id", "name", "mode", "geometry")


@dataclass(frozen=True)
class Commune:
    """One commune of the metropolis: INSEE code, name, approximate centroid and 2021 population."""

    code: str
    name: str
    lat: float
    lon: float
    population: int


@dataclass(frozen=True)
class Landmark:
    """A named place operators and scenarios refer to."""

    key: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class TransportLine:
    """A tram or bus line as an ordered list of (lat, lon) waypoints; alignments are approximate."""

    line_id: str
    name: str
    mode: str
    waypoints: tuple[tuple[float, float], ...]


COMMUNES: tuple[Commune, ...] = (
    Commune("21231", "Dijon", 47.3229, 5.0375, 159346),
    Commune("21166", "Chenôve", 47.2926, 5.0049, 14445),
    Commune("21617", "Talant", 47.3391, 4.9975, 11894),
    Commune("21171", "Chevigny-Saint-Sauveur", 47.2999, 5.1366, 10944),
    Commune("21515", "Quetigny", 47.3194, 5.1151, 8869),
    Commune("21278", "Fontaine-lès-Dijon", 47.3474, 5.0246, 8847),
    Commune("21355", "Longvic", 47.2857, 5.0529, 8676),
    Commune("21540", "Saint-Apollinaire", 47.3360, 5.0931, 7490),
    Commune("21390", "Marsannay-la-Côte", 47.2792, 4.9845, 5309),
    Commune("21452", "Neuilly-Crimolois", 47.2735, 5.1127, 3146),
    Commune("21485", "Plombières-lès-Dijon", 47.3384, 4.9510, 2518),
    Commune("21481", "Perrigny-lès-Dijon", 47.2579, 5.0198, 2249),
    Commune("21605", "Sennecey-lès-Dijon", 47.2922, 5.1046, 2045),
    Commune("21263", "Fénay", 47.2449, 5.0544, 1697),
    Commune("21473", "Ouges", 47.2608, 5.0782, 1604),
    Commune("21003", "Ahuy", 47.3711, 5.0205, 1584),
    Commune("21223", "Daix", 47.3604, 4.9691, 1529),
    Commune("21315", "Hauteville-lès-Dijon", 47.3757, 4.9806, 1217),
    Commune("21105", "Bressey-sur-Tille", 47.3087, 5.1839, 1122),
    Commune("21106", "Bretenière", 47.2362, 5.1038, 912),
    Commune("21370", "Magny-sur-Tille", 47.2745, 5.1724, 883),
    Commune("21192", "Corcelles-les-Monts", 47.3039, 4.9420, 644),
    Commune("21270", "Flavignerot", 47.2774, 4.9189, 223),
)
_BY_CODE = {c.code: c for c in COMMUNES}

LANDMARKS: tuple[Landmark, ...] = (
    Landmark("liberation", "Place de la Libération", 47.3213, 5.0414),
    Landmark("gare", "Gare Dijon-Ville", 47.3233, 5.0272),
    Landmark("toison_dor", "Toison d'Or", 47.3556, 5.0556),
    Landmark("chu", "CHU Dijon Bourgogne", 47.3200, 5.0694),
    Landmark("stade", "Stade Gaston-Gérard", 47.3247, 5.0684),
)
_LANDMARK_BY_KEY = {lm.key: lm for lm in LANDMARKS}

# Extra Voronoi seeds owned by Dijon, so the approximate Dijon reaches the Toison d'Or and Valmy
# in the north, the CHU in the east and the Combe à la Serpent in the west, as the real one does.
_DIJON_EXTRA_SEEDS = (
    (47.3590, 5.0430),
    (47.3400, 5.0450),
    (47.3270, 5.0560),
    (47.3185, 5.0700),
    (47.3060, 5.0330),
    (47.3170, 5.0000),
)

_GARE = (47.3233, 5.0272)
_DARCY = (47.3224, 5.0338)
_GODRANS = (47.3247, 5.0396)
_REPUBLIQUE = (47.3268, 5.0447)
_LIBERATION = (47.3213, 5.0414)
_WILSON = (47.3160, 5.0440)

TRANSPORT_LINES: tuple[TransportLine, ...] = (
    TransportLine("T1", "Tram T1 · Dijon Gare – Quetigny Grand Marché", "tram", (
        _GARE, (47.3228, 5.0300), _DARCY, _GODRANS, _REPUBLIQUE, (47.3255, 5.0530), (47.3262, 5.0605),
        (47.3228, 5.0675), (47.3185, 5.0730), (47.3165, 5.0800), (47.3160, 5.0880), (47.3170, 5.0960),
        (47.3175, 5.1070), (47.3145, 5.1150),
    )),
    TransportLine("T2", "Tram T2 · Chenôve Centre – Dijon Valmy", "tram", (
        (47.2905, 5.0060), (47.2960, 5.0130), (47.3050, 5.0230), (47.3130, 5.0300), (47.3228, 5.0300),
        _DARCY, _GODRANS, _REPUBLIQUE, (47.3360, 5.0455), (47.3440, 5.0480), (47.3530, 5.0520),
        (47.3590, 5.0450), (47.3620, 5.0350),
    )),
    TransportLine("L1", "Ligne L1 · Darcy – Talant", "bus", (
        _DARCY, (47.3290, 5.0220), (47.3350, 5.0080), (47.3391, 4.9975),
    )),
    TransportLine("L2", "Ligne L2 · République – Chevigny-Saint-Sauveur", "bus", (
        _REPUBLIQUE, (47.3170, 5.0560), (47.3060, 5.0800), (47.2960, 5.1000), (47.2999, 5.1366),
    )),
    TransportLine("L3", "Ligne L3 · Godrans – Fontaine-lès-Dijon", "bus", (
        _GODRANS, (47.3330, 5.0330), (47.3410, 5.0270), (47.3474, 5.0246),
    )),
    TransportLine("L4", "Ligne L4 · Libération – Longvic", "bus", (
        _LIBERATION, _WILSON, (47.3040, 5.0480), (47.2940, 5.0510), (47.2857, 5.0529),
    )),
    TransportLine("L5", "Ligne L5 · République – Saint-Apollinaire", "bus", (
        _REPUBLIQUE, (47.3300, 5.0600), (47.3330, 5.0780), (47.3360, 5.0931),
    )),
    TransportLine("L6", "Ligne L6 · Gare – Marsannay-la-Côte", "bus", (
        _GARE, (47.3110, 5.0210), (47.2960, 5.0000), (47.2792, 4.9845),
    )),
    TransportLine("L7", "Ligne L7 · Gare – Plombières-lès-Dijon", "bus", (
        _GARE, (47.3280, 5.0100), (47.3350, 4.9800), (47.3384, 4.9510),
    )),
    TransportLine("L8", "Ligne L8 · République – Ahuy", "bus", (
        _REPUBLIQUE, (47.3400, 5.0380), (47.3560, 5.0300), (47.3711, 5.0205),
    )),
    TransportLine("L9", "Ligne L9 · Darcy – Hauteville-lès-Dijon", "bus", (
        _DARCY, (47.3320, 5.0150), (47.3500, 4.9900), (47.3604, 4.9691), (47.3757, 4.9806),
    )),
    TransportLine("L10", "Ligne L10 · Libération – Neuilly-Crimolois", "bus", (
        _LIBERATION, (47.3100, 5.0650), (47.2900, 5.0900), (47.2735, 5.1127),
    )),
    TransportLine("L11", "Ligne L11 · Libération – Perrigny-lès-Dijon", "bus", (
        _LIBERATION, (47.3050, 5.0330), (47.2850, 5.0250), (47.2579, 5.0198),
    )),
    TransportLine("L12", "Ligne L12 · Libération – Ouges", "bus", (
        _LIBERATION, _WILSON, (47.3000, 5.0600), (47.2800, 5.0700), (47.2608, 5.0782),
    )),
)


def commune(code: str) -> Commune:
    """The facts of a commune by INSEE code; KeyError if it is not one of the 23."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"{code!r} is not the INSEE code of a commune of Dijon Métropole") from None


def landmark(key: str) -> Landmark:
    """A landmark by key (`liberation`, `gare`, `toison_dor`, `chu`, `stade`)."""
    return _LANDMARK_BY_KEY[key]


@lru_cache(maxsize=2)
def _transformer(src: str, dst: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def to_lambert93(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 longitudes and latitudes to Lambert-93 metres (x, y)."""
    x, y = _transformer(WGS84, LAMBERT93).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def to_wgs84(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Unproject Lambert-93 metres to WGS84 longitudes and latitudes."""
    lon, lat = _transformer(LAMBERT93, WGS84).transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def _geometry_to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1])))


def communes_from_geometries(geometries: Mapping[str, BaseGeometry], *, approximate: bool) -> gpd.GeoDataFrame:
    """The communes frame (`COMMUNE_COLUMNS`, facts order, EPSG:4326) from WGS84 polygons keyed by INSEE code."""
    missing = [c.code for c in COMMUNES if c.code not in geometries]
    unknown = sorted(set(geometries) - set(_BY_CODE))
    if missing or unknown:
        raise ValueError(f"communes must be exactly the 23 of Dijon Métropole (missing {missing}, unknown {unknown})")
    geoms = gpd.GeoSeries([geometries[c.code] for c in COMMUNES], crs=WGS84)
    frame = gpd.GeoDataFrame(
        {
            "code": pd.Series([c.code for c in COMMUNES], dtype=str),
            "name": pd.Series([c.name for c in COMMUNES], dtype=str),
            "population": np.array([c.population for c in COMMUNES], dtype=np.int64),
            "lat": np.array([c.lat for c in COMMUNES], dtype=float),
            "lon": np.array([c.lon for c in COMMUNES], dtype=float),
            "area_km2": np.round(geoms.to_crs(LAMBERT93).area.to_numpy() / 1e6, 3),
            "approximate": np.full(len(COMMUNES), approximate, dtype=bool),
        },
        geometry=geoms.values,
        crs=WGS84,
    )
    return frame[list(COMMUNE_COLUMNS)]


@lru_cache(maxsize=1)
def _approximate_geometries() -> tuple[BaseGeometry, ...]:
    lat = np.array([c.lat for c in COMMUNES] + [s[0] for s in _DIJON_EXTRA_SEEDS])
    lon = np.array([c.lon for c in COMMUNES] + [s[1] for s in _DIJON_EXTRA_SEEDS])
    owner = np.r_[np.arange(len(COMMUNES)), np.zeros(len(_DIJON_EXTRA_SEEDS), dtype=int)]
    x, y = to_lambert93(lon, lat)
    seeds = shapely.multipoints(np.column_stack([x, y]))
    hull = shapely.convex_hull(seeds)
    lo, hi = 0.0, 10_000.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if shapely.area(shapely.buffer(hull, mid, quad_segs=16)) / 1e6 < APPROXIMATE_AREA_KM2:
            lo = mid
        else:
            hi = mid
    envelope = shapely.buffer(hull, hi, quad_segs=16)
    cells = shapely.intersection(
        np.asarray(shapely.voronoi_polygons(seeds, extend_to=envelope, ordered=True).geoms), envelope
    )
    return tuple(
        _geometry_to_wgs84(shapely.union_all(cells[owner == i])) for i in range(len(COMMUNES))
    )


def approximate_communes() -> gpd.GeoDataFrame:
    """APPROXIMATE default commune boundaries (Voronoi cells of the centroids, ~240 km²), `approximate=True`."""
    geoms = _approximate_geometries()
    return communes_from_geometries({c.code: g for c, g in zip(COMMUNES, geoms)}, approximate=True)


def _read_feature_collection(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a JSON file (not UTF-8 text)") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON file ({exc.msg} at line {exc.lineno})") from None
    kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
    if kind != "FeatureCollection":
        raise ValueError(f"{path}: not a GeoJSON FeatureCollection (found {kind!r})")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise ValueError(f"{path}: the FeatureCollection has no features")
    return features


def _feature_geometry(path: Path, index: int, code: str, feature: dict) -> BaseGeometry:
    raw = feature.get("geometry")
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(
            f"{path}: feature {index} (code {code}) has a {kind or 'missing'} geometry, expected Polygon or MultiPolygon"
        )
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValueError(f"{path}: feature {index} (code {code}) has malformed coordinates ({exc})") from None
    if geom.is_empty:
        raise ValueError(f"{path}: feature {index} (code {code}) has an empty geometry")
    lon_min, lat_min, lon_max, lat_max = METROPOLIS_BBOX
    x0, y0, x1, y1 = geom.bounds
    if not (lon_min <= x0 and x1 <= lon_max and lat_min <= y0 and y1 <= lat_max):
        raise ValueError(
            f"{path}: feature {index} (code {code}) lies outside Dijon Métropole; "
            "expected WGS84 longitude/latitude (RFC 7946), not projected or swapped coordinates"
        )
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
        polygons = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")]
        geom = shapely.union_all(polygons)
    return geom


def _has_code(feature) -> bool:
    props = feature.get("properties") if isinstance(feature, dict) else None
    return isinstance(props, dict) and props.get("code") not in (None, "")


def load_communes_geojson(path: str | Path) -> gpd.GeoDataFrame:
    """Read OFFICIAL commune boundaries (GeoJSON with properties `code`, `nom`) as the communes frame, not approximate."""
    path = Path(path)
    features = _read_feature_collection(path)
    geometries: dict[str, BaseGeometry] = {}
    for index, feature in enumerate(features):
        props = feature.get("properties") if isinstance(feature, dict) else None
        props = props if isinstance(props, dict) else {}
        absent = [key for key in ("code", "nom") if props.get(key) in (None, "")]
        if absent:
            raise ValueError(
                f"{path}: feature {index} lacks the propert{'ies' if len(absent) > 1 else 'y'} "
                f"{', '.join(repr(a) for a in absent)} (expected INSEE 'code' and 'nom' like IGN Admin Express)"
            )
        code = str(props["code"]).strip()
        if code not in _BY_CODE:
            codes = {str(f["properties"]["code"]).strip() for f in features if _has_code(f)}
            others = sorted(codes - set(_BY_CODE))
            raise ValueError(
                f"{path}: unknown commune code(s) {', '.join(others[:5])}{' …' if len(others) > 5 else ''}; "
                "expected the 23 INSEE codes of Dijon Métropole"
            )
        if code in geometries:
            raise ValueError(f"{path}: commune {code} ({_BY_CODE[code].name}) appears twice")
        geometries[code] = _feature_geometry(path, index, code, feature)
    missing = [f"{c.code} {c.name}" for c in COMMUNES if c.code not in geometries]
    if missing:
        raise ValueError(f"{path}: missing commune(s) {', '.join(missing)}; expected all 23 of Dijon Métropole")
    return communes_from_geometries(geometries, approximate=False)


def transport_lines() -> gpd.GeoDataFrame:
    """Tram and bus lines (`line_id`, `name`, `mode` 'tram'|'bus', LineString), EPSG:4326, approximate alignments."""
    geoms = [shapely.linestrings([(lon, lat) for lat, lon in line.waypoints]) for line in TRANSPORT_LINES]
    return gpd.GeoDataFrame(
        {
            "line_id": pd.Series([line.line_id for line in TRANSPORT_LINES], dtype=str),
            "name": pd.Series([line.name for line in TRANSPORT_LINES], dtype=str),
            "mode": pd.Series([line.mode for line in TRANSPORT_LINES], dtype=str),
        },
        geometry=geoms,
        crs=WGS84,
    )


lines: gpd.GeoDataFrame = transport_lines()
"""The transport lines, built once at import; treat as read-only, call `transport_lines()` for a copy."""
