"""The asset registry connectors consult: the inventory plus assets registered since, kept in a JSON file.

An asset a field system reports that the inventory does not know is registered if it lies inside
the metropolis (its commune is found from the commune boundaries), and rejected with a reason
otherwise. Registered assets are written to `<data_dir>/registered_assets.json` in the inventory's
columns, so the lead's wiring can merge them into the map; `on_register` tells a caller at once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import shapely

from connectors.feed import Rejected, iso_utc
from streams.schemas import METROPOLIS_BBOX

__all__ = ["KINDS", "REGISTRY_FILE", "AssetRegistry", "KnownAsset"]

log = logging.getLogger(__name__)

REGISTRY_FILE = "registered_assets.json"
KINDS = ("light", "cabinet", "signal", "camera", "weather", "bollard")


@dataclass(frozen=True)
class KnownAsset:
    """One asset as connectors need it: id, kind, position, commune and lighting topology."""

    asset_id: str
    kind: str
    lon: float
    lat: float
    commune_code: str | None = None
    name: str = ""
    cabinet_id: str | None = None
    wattage_w: float = 0.0
    lamps_total: int = 0
    source: str = "inventory"
    registered_at: str | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def row(self) -> dict:
        """The asset as a JSON-ready row in the inventory's columns (plus source and registration time)."""
        row = asdict(self)
        row.update(row.pop("extra") or {})
        return row


class AssetRegistry:
    """Known assets (inventory and registered), the commune lookup and the registration rule."""

    def __init__(self, assets: Iterable[KnownAsset] = (), *, communes=None, path: Path | None = None,
                 on_register: Callable[[KnownAsset], None] | None = None) -> None:
        self._assets = {a.asset_id: a for a in assets}
        self._lock = threading.Lock()
        self.path = Path(path) if path else None
        self.on_register = on_register
        self._codes: list[str] = []
        self._polygons = None
        self._area = None
        if communes is not None and len(communes):
            self._codes = [str(c) for c in communes["code"]]
            self._polygons = list(communes.geometry.values)
            for polygon in self._polygons:
                shapely.prepare(polygon)
            self._area = shapely.union_all(self._polygons)
            shapely.prepare(self._area)
        self._registered: dict[str, KnownAsset] = {}
        if self.path and self.path.is_file():
            self._load()

    @classmethod
    def from_inventory(cls, inv, **kwargs) -> "AssetRegistry":
        """A registry over a loaded `connectors.dijon.inventory.Inventory`."""
        frame = inv.assets
        assets = [
            KnownAsset(asset_id=r.asset_id, kind=r.kind, lon=float(r.lon), lat=float(r.lat),
                       commune_code=r.commune_code, name=r.name, cabinet_id=r.cabinet_id,
                       wattage_w=float(r.wattage_w), lamps_total=int(r.lamps_total))
            for r in frame[["asset_id", "kind", "lon", "lat", "commune_code", "name", "cabinet_id",
                            "wattage_w", "lamps_total"]].itertuples(index=False)
        ]
        return cls(assets, communes=inv.communes, **kwargs)

    @classmethod
    def open(cls, data_dir: Path, *, on_register: Callable[[KnownAsset], None] | None = None) -> "AssetRegistry":
        """The registry of a data folder: its saved inventory if any (else the approximate communes) and its file."""
        from connectors.dijon.inventory import inventory_exists, load_inventory

        path = Path(data_dir) / REGISTRY_FILE
        folder = Path(data_dir) / "inventory"
        if inventory_exists(folder):
            return cls.from_inventory(load_inventory(folder), path=path, on_register=on_register)
        from connectors.dijon.geography import approximate_communes

        log.warning("no inventory in %s: every asset will need registering (approximate commune boundaries)", folder)
        return cls(communes=approximate_communes(), path=path, on_register=on_register)

    def _load(self) -> None:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            names = KnownAsset.__dataclass_fields__
            for row in rows:
                known = {k: v for k, v in row.items() if k in names}
                extra = {k: v for k, v in row.items() if k not in names}
                asset = KnownAsset(**known, extra=extra)
                self._registered[asset.asset_id] = asset
                self._assets.setdefault(asset.asset_id, asset)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("cannot read the registered assets in %s (%s): starting without them", self.path, exc)

    def __len__(self) -> int:
        return len(self._assets)

    def __contains__(self, asset_id: str) -> bool:
        return asset_id in self._assets

    def get(self, asset_id: str) -> KnownAsset | None:
        """The asset with this id, or None."""
        return self._assets.get(asset_id)

    def resolve(self, candidates: Iterable[str | None]) -> KnownAsset | None:
        """The first candidate id that is a known asset."""
        for candidate in candidates:
            if candidate and candidate in self._assets:
                return self._assets[candidate]
        return None

    def registered(self) -> list[KnownAsset]:
        """Assets registered since the inventory was built."""
        with self._lock:
            return list(self._registered.values())

    def inside(self, lon: float, lat: float) -> bool:
        """True when the point lies inside the metropolis (its communes, or the bounding box without them)."""
        if self._area is not None:
            return bool(shapely.contains_xy(self._area, lon, lat))
        lon_min, lat_min, lon_max, lat_max = METROPOLIS_BBOX
        return lon_min <= lon <= lon_max and lat_min <= lat <= lat_max

    def commune_of(self, lon: float, lat: float) -> str | None:
        """INSEE code of the commune holding the point, or None outside the metropolis."""
        for code, polygon in zip(self._codes, self._polygons or ()):
            if shapely.contains_xy(polygon, lon, lat):
                return code
        return None

    def check_inside(self, lon: float, lat: float, what: str) -> None:
        """Raise Rejected when the point is outside the metropolis."""
        if not self.inside(lon, lat):
            raise Rejected(f"{what}: location ({lat:.5f}, {lon:.5f}) is outside Dijon Métropole")

    def register(self, asset_id: str, kind: str, lon: float, lat: float, *, source: str, name: str = "",
                 cabinet_id: str | None = None, wattage_w: float = 0.0, save: bool = True) -> KnownAsset:
        """Register a new asset inside the metropolis (or return it if known); raise Rejected otherwise."""
        existing = self._assets.get(asset_id)
        if existing is not None:
            return existing
        if kind not in KINDS:
            raise Rejected(f"{asset_id}: unknown asset kind {kind!r} (expected one of {', '.join(KINDS)})")
        self.check_inside(lon, lat, asset_id)
        asset = KnownAsset(asset_id=asset_id, kind=kind, lon=float(lon), lat=float(lat),
                           commune_code=self.commune_of(lon, lat), name=name or asset_id, cabinet_id=cabinet_id,
                           wattage_w=float(wattage_w), source=source,
                           registered_at=iso_utc(time.time()))
        with self._lock:
            self._assets[asset_id] = asset
            self._registered[asset_id] = asset
        if save:
            self.save()
        log.info("registered %s %s from %s in commune %s", kind, asset_id, source, asset.commune_code)
        if self.on_register:
            self.on_register(asset)
        return asset

    def save(self) -> None:
        """Write the registered assets to the registry file, merged with what other processes wrote there."""
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged: dict[str, dict] = {}
            if self.path.is_file():
                try:
                    merged = {r["asset_id"]: r for r in json.loads(self.path.read_text(encoding="utf-8"))}
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    log.warning("registry file %s unreadable (%s): rewriting it", self.path, exc)
            with self._lock:
                merged.update({a.asset_id: a.row() for a in self._registered.values()})
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(list(merged.values()), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
