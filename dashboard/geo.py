"""Static geometry of the room, served once by URL: commune boundaries and asset points as GeoJSON.

The bytes of each layer are built from the inventory with geopandas the first time they are
asked for, gzipped once, and cached for the life of the process; browsers cache them too.
Live state never travels here: it goes through the layers' `hideout` (see `layouts.components.map`).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import flask
import geopandas as gpd
import numpy as np
import orjson
import pandas as pd

__all__ = ["ASSET_LAYERS", "GEO_PREFIX", "LAYERS", "GeoCatalog", "NearbyCamera", "layer_url", "load_or_build_inventory"]

log = logging.getLogger(__name__)

GEO_PREFIX = "/geo"
# layer name in the URL -> asset kind of the inventory
ASSET_LAYERS = {
    "lights": "light",
    "cabinets": "cabinet",
    "signals": "signal",
    "cameras": "camera",
    "weather": "weather",
    "bollards": "bollard",
}
LAYERS = ("communes", *ASSET_LAYERS)
_LAMBERT93 = "EPSG:2154"
_DECIMALS = 5  # about a metre


def layer_url(name: str) -> str:
    """URL of a static layer, for `dl.GeoJSON(url=...)`."""
    if name not in LAYERS:
        raise ValueError(f"unknown layer {name!r}; expected one of {', '.join(LAYERS)}")
    return f"{GEO_PREFIX}/{name}.geojson"


def load_or_build_inventory(folder: Path):
    """The saved inventory of the data folder, or the default seed-42 build when none is saved."""
    from connectors.dijon.inventory import build_inventory, inventory_exists, load_inventory

    if inventory_exists(folder):
        return load_inventory(folder)
    log.warning("no saved inventory in %s: using the default build (seed 42)", folder)
    return build_inventory(42)


@dataclass(frozen=True)
class NearbyCamera:
    """A camera near a point, with its distance in metres."""

    asset_id: str
    name: str
    distance_m: float
    lat: float
    lon: float


@dataclass(frozen=True)
class _Blob:
    raw: bytes
    gz: bytes
    etag: str


def _points_geojson(frame: pd.DataFrame) -> bytes:
    lon = np.round(frame["lon"].to_numpy(dtype=float), _DECIMALS).tolist()
    lat = np.round(frame["lat"].to_numpy(dtype=float), _DECIMALS).tolist()
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": {"id": i}}
        for i, x, y in zip(frame["asset_id"].tolist(), lon, lat)
    ]
    return orjson.dumps({"type": "FeatureCollection", "features": features})


def _communes_geojson(communes: gpd.GeoDataFrame) -> bytes:
    frame = communes[["code", "name", "approximate", "geometry"]].copy()
    frame["geometry"] = frame.geometry.simplify(0.0002, preserve_topology=True)
    frame["approximate"] = frame["approximate"].astype(bool)
    return frame.to_json(drop_id=True, to_wgs84=True).encode("utf-8")


class GeoCatalog:
    """The inventory's static layers as cached GeoJSON bytes, and geographic look-ups over it."""

    def __init__(self, inventory_loader: Callable[[], object]) -> None:
        self._loader = inventory_loader
        self._lock = threading.Lock()
        self._inventory = None
        self._blobs: dict[str, _Blob] = {}
        self._cameras: gpd.GeoDataFrame | None = None
        self._kinds: dict[str, str] | None = None

    @property
    def inventory(self):
        """The inventory, loaded on first use."""
        if self._inventory is None:
            with self._lock:
                if self._inventory is None:
                    self._inventory = self._loader()
        return self._inventory

    def warm(self) -> None:
        """Load the inventory and build every layer now rather than on the first request."""
        for name in LAYERS:
            self.blob(name)

    def blob(self, name: str) -> _Blob:
        """The cached bytes of a layer, built on first use."""
        if name not in LAYERS:
            raise KeyError(name)
        blob = self._blobs.get(name)
        if blob is None:
            inv = self.inventory
            if name == "communes":
                raw = _communes_geojson(inv.communes)
            else:
                raw = _points_geojson(inv.assets[inv.assets["kind"] == ASSET_LAYERS[name]])
            blob = _Blob(raw, gzip.compress(raw, compresslevel=5), hashlib.sha1(raw).hexdigest()[:16])
            self._blobs[name] = blob
        return blob

    def communes(self) -> dict[str, str]:
        """INSEE code -> commune name, in inventory order."""
        frame = self.inventory.communes
        return dict(zip(frame["code"].astype(str), frame["name"].astype(str)))

    def approximate(self) -> bool:
        """True when the commune boundaries are the approximate default ones."""
        return bool(self.inventory.communes["approximate"].any())

    def bounds(self) -> list[list[float]]:
        """[[south, west], [north, east]] of the metropolis."""
        west, south, east, north = self.inventory.communes.total_bounds
        return [[float(south), float(west)], [float(north), float(east)]]

    def asset(self, asset_id: str) -> dict | None:
        """An asset's inventory record as plain values, or None if unknown."""
        assets = self.inventory.assets
        rows = assets[assets["asset_id"] == asset_id]
        if rows.empty:
            return None
        row = rows.iloc[0].drop(labels=["geometry"])
        return {k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in row.items()}

    def kinds(self) -> dict[str, str]:
        """Asset id -> kind for every asset of the inventory (cached)."""
        if self._kinds is None:
            assets = self.inventory.assets
            self._kinds = dict(zip(assets["asset_id"].tolist(), assets["kind"].tolist()))
        return self._kinds

    def cameras_near(self, lat: float, lon: float, radius_m: float = 300.0) -> list[NearbyCamera]:
        """Cameras within `radius_m` of a point, nearest first (distances in Lambert-93)."""
        if self._cameras is None:
            cams = self.inventory.assets[self.inventory.assets["kind"] == "camera"]
            self._cameras = cams[["asset_id", "name", "lat", "lon", "geometry"]].to_crs(_LAMBERT93)
        cams = self._cameras
        here = gpd.GeoSeries.from_xy([lon], [lat], crs="EPSG:4326").to_crs(_LAMBERT93).iloc[0]
        distance = cams.geometry.distance(here)
        near = cams.assign(distance_m=distance)[distance <= radius_m].sort_values("distance_m")
        return [NearbyCamera(r.asset_id, r.name, float(r.distance_m), float(r.lat), float(r.lon))
                for r in near.itertuples()]

    def register(self, server: flask.Flask) -> None:
        """Add the `/geo/<layer>.geojson` route to the Flask server."""

        def serve(name: str):
            """One layer's GeoJSON, gzipped when the browser accepts it, 304 when it already has it."""
            try:
                blob = self.blob(name)
            except KeyError:
                flask.abort(404)
            if flask.request.if_none_match.contains(blob.etag):
                return flask.Response(status=304)
            gz = "gzip" in flask.request.headers.get("Accept-Encoding", "")
            response = flask.Response(blob.gz if gz else blob.raw, mimetype="application/geo+json")
            if gz:
                response.headers["Content-Encoding"] = "gzip"
            response.headers["Vary"] = "Accept-Encoding"
            response.headers["Cache-Control"] = "public, max-age=3600"
            response.set_etag(blob.etag)
            return response

        server.add_url_rule(f"{GEO_PREFIX}/<name>.geojson", "vigie_geo", serve)
