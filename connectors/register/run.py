"""Importing an asset register: every row accepted into the registry (inventory columns) or rejected with a reason."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyproj

from connectors.feed import Rejected, safe_asset_id
from connectors.register.client import read_register
from connectors.register.mapping import FIELDS, ColumnMapping
from connectors.register.registry import AssetRegistry

__all__ = ["ImportReport", "import_register"]


@dataclass
class ImportReport:
    """The rows imported (inventory columns) and the rows rejected with their reason."""

    source: str
    accepted: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict:
        """JSON-ready report."""
        return {"source": self.source, "dry_run": self.dry_run, "accepted": len(self.accepted),
                "rejected": len(self.rejected), "rejections": self.rejected,
                "assets": [r["asset_id"] for r in self.accepted]}

    def as_text(self) -> str:
        """A readable report for the terminal."""
        verb = "would import" if self.dry_run else "imported"
        lines = [f"{self.source}: {verb} {len(self.accepted)} assets, rejected {len(self.rejected)} rows"]
        lines += [f"  row {r['row']}: {r['id'] or '(no id)'}: {r['reason']}" for r in self.rejected]
        return "\n".join(lines)


def _number(value: Any, what: str) -> float:
    try:
        number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise Rejected(f"bad coordinates: {what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise Rejected(f"bad coordinates: {what} {value!r} is not finite")
    return number


def _position(row: dict, mapping: ColumnMapping, available: set[str], transformer) -> tuple[float, float]:
    geometry = row.get("__geometry__")
    lon_column, lat_column = mapping.column("lon", available), mapping.column("lat", available)
    values = [row.get(c) if c else None for c in (lon_column, lat_column)]
    empty = [v is None or (isinstance(v, str) and not v.strip()) for v in values]
    if lon_column and lat_column and not all(empty):
        if any(empty):
            raise Rejected(f"bad coordinates: {'lon' if empty[0] else 'lat'} is empty")
        x, y = _number(values[0], "lon"), _number(values[1], "lat")
    elif isinstance(geometry, dict):
        if geometry.get("type") != "Point":
            raise Rejected(f"bad coordinates: geometry {geometry.get('type')!r} is not a Point")
        coords = geometry.get("coordinates") or []
        if len(coords) < 2:
            raise Rejected("bad coordinates: a Point needs two coordinates")
        x, y = _number(coords[0], "lon"), _number(coords[1], "lat")
    else:
        raise Rejected("bad coordinates: none found (no lon/lat values, no Point geometry)")
    if transformer is not None:
        x, y = transformer.transform(x, y)
    if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):
        raise Rejected(f"bad coordinates: ({y}, {x}) is not a WGS84 latitude/longitude (set the mapping's crs?)")
    return x, y


def import_register(path: str | Path, registry: AssetRegistry, mapping: ColumnMapping, *,
                    dry_run: bool = False) -> ImportReport:
    """Import a register file into the registry (saved to its file unless `dry_run`); Rejected if unreadable."""
    _, rows = read_register(path)
    transformer = None
    if mapping.crs.upper() not in ("EPSG:4326", "WGS84", "CRS84"):
        try:
            transformer = pyproj.Transformer.from_crs(mapping.crs, "EPSG:4326", always_xy=True)
        except pyproj.exceptions.CRSError as exc:
            raise Rejected(f"unknown CRS {mapping.crs!r}: {exc}") from None
    report = ImportReport(source=str(path), dry_run=dry_run)
    seen: dict[str, int] = {}
    for number, row in rows:
        available = set(row) - {"__geometry__"}
        raw_id = None
        try:
            raw_id = FIELDS[0].value_fn(row, mapping, available)
            if raw_id is None:
                raise Rejected("missing id")
            values = {f.name: f.value_fn(row, mapping, available) for f in FIELDS}
            asset_id = safe_asset_id(raw_id)
            if asset_id in seen:
                raise Rejected(f"duplicate id {asset_id} (first on row {seen[asset_id]})")
            if asset_id in registry:
                raise Rejected(f"duplicate id {asset_id}: already in the inventory")
            lon, lat = _position(row, mapping, available, transformer)
            if not registry.inside(lon, lat):
                raise Rejected(f"outside the metropolis: ({lat:.5f}, {lon:.5f})")
        except Rejected as exc:
            report.rejected.append({"row": number, "id": None if raw_id is None else str(raw_id), "reason": exc.reason})
            continue
        seen[asset_id] = number
        accepted = {"asset_id": asset_id, "kind": values["kind"], "commune_code": registry.commune_of(lon, lat),
                    "name": values["name"] or asset_id, "lon": round(lon, 6), "lat": round(lat, 6),
                    "cabinet_id": values["cabinet_id"], "wattage_w": values["wattage_w"]}
        report.accepted.append(accepted)
    if not dry_run:
        for row in report.accepted:
            registry.register(row["asset_id"], row["kind"], row["lon"], row["lat"],
                              source=f"register:{Path(path).name}", name=row["name"],
                              cabinet_id=row["cabinet_id"], wattage_w=row["wattage_w"], save=False)
        registry.save()
    return report
