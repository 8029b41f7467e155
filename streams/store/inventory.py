"""Rows of the store's `assets` and `communes` tables from inventory frames (pandas or GeoPandas)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ASSET_ATTRIBUTES", "asset_rows", "commune_rows", "load_inventory_into"]

ASSET_ATTRIBUTES = ("lamp_type", "wattage_w", "baseline_w", "renovated_on", "lamps_total", "bus_priority", "lines")


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _plain(value.item())
        except (ValueError, AttributeError):
            pass
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [_plain(v) for v in value]
    if value != value:  # pandas NA and NaN-likes
        return None
    return value


def asset_rows(frame) -> list[dict]:
    """Store rows from an assets frame with the inventory columns (missing optional columns are fine)."""
    columns = set(frame.columns)
    attrs = [c for c in ASSET_ATTRIBUTES if c in columns]
    rows = []
    for rec in frame.drop(columns=[c for c in ("geometry",) if c in columns]).to_dict("records"):
        period = _plain(rec.get("period_s"))
        rows.append({
            "asset_id": str(rec["asset_id"]), "kind": str(rec["kind"]),
            "commune_code": _plain(rec.get("commune_code")), "name": _plain(rec.get("name")),
            "lon": _plain(rec.get("lon")), "lat": _plain(rec.get("lat")),
            "cabinet_id": _plain(rec.get("cabinet_id")) or None,
            "period_s": int(period) if period is not None else None,
            "attributes": {a: _plain(rec.get(a)) for a in attrs if _plain(rec.get(a)) is not None},
        })
    return rows


def commune_rows(frame) -> list[dict]:
    """Store rows from a communes frame (code, name, population, approximate, geometry)."""
    rows = []
    has_geometry = "geometry" in frame.columns
    for i, rec in enumerate(frame.drop(columns=["geometry"]).to_dict("records") if has_geometry
                            else frame.to_dict("records")):
        lat = lon = geometry = None
        if has_geometry:
            import shapely

            geom = frame.geometry.iloc[i]
            if geom is not None and not geom.is_empty:
                point = geom.representative_point()
                lat, lon = point.y, point.x
                geometry = shapely.to_geojson(geom)
        rows.append({"code": str(rec["code"]), "name": str(rec["name"]), "population": _plain(rec.get("population")),
                     "approximate": bool(_plain(rec.get("approximate")) or False), "lat": lat, "lon": lon,
                     "geometry": geometry})
    return rows


def load_inventory_into(store, inventory: Any) -> int:
    """Write an inventory (an object with `assets` and `communes` frames) into a store; return the asset count."""
    if getattr(inventory, "communes", None) is not None:
        store.upsert_communes(commune_rows(inventory.communes))
    return store.upsert_assets(asset_rows(inventory.assets))
