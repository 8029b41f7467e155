"""The column mapping of an asset register: which of its columns hold our inventory fields, and its kinds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from connectors.feed import Rejected
from connectors.register.registry import KINDS

__all__ = [
    "DEFAULT_COLUMNS",
    "DEFAULT_KINDS",
    "FIELDS",
    "ColumnMapping",
    "RowField",
    "load_mapping",
]

# our field -> the register columns tried by default, in order
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "asset_id": ("asset_id", "id", "identifiant", "code"),
    "kind": ("kind", "type", "nature"),
    "lon": ("lon", "longitude", "lng", "x"),
    "lat": ("lat", "latitude", "y"),
    "name": ("name", "nom", "libelle", "label"),
    "cabinet_id": ("cabinet_id", "armoire", "cabinet"),
    "wattage_w": ("wattage_w", "puissance", "power_w", "wattage"),
}
# common register words for our kinds (lower case)
DEFAULT_KINDS = {
    "lampadaire": "light", "point lumineux": "light", "luminaire": "light", "streetlight": "light", "lamp": "light",
    "armoire": "cabinet", "armoire de commande": "cabinet", "cabinet": "cabinet",
    "streetlightcontrolcabinet": "cabinet", "carrefour": "signal", "feu": "signal", "signal": "signal",
    "caméra": "camera", "camera": "camera", "station météo": "weather", "weather": "weather",
    "borne": "bollard", "bollard": "bollard",
}


@dataclass(frozen=True)
class ColumnMapping:
    """Which register column holds each of our fields, the register's kind words, its CRS and a fixed kind."""

    columns: Mapping[str, str] = field(default_factory=dict)
    kinds: Mapping[str, str] = field(default_factory=dict)
    crs: str = "EPSG:4326"
    kind: str | None = None

    def column(self, ours: str, available: set[str]) -> str | None:
        """The register column for one of our fields, or None."""
        if ours in self.columns:
            return self.columns[ours]
        lowered = {c.lower(): c for c in available}
        return next((lowered[c] for c in DEFAULT_COLUMNS.get(ours, ()) if c in lowered), None)

    def kind_of(self, raw: Any) -> str:
        """Our kind for a register value, or Rejected."""
        if raw in (None, "") and self.kind:
            return self.kind
        text = str(raw if raw is not None else "").strip()
        key = text.lower()
        kinds = {**DEFAULT_KINDS, **{k.lower(): v for k, v in self.kinds.items()}}
        kind = key if key in KINDS else kinds.get(key)
        if kind not in KINDS:
            raise Rejected(f"unknown kind {text!r}" if text else "no kind (add a kind column or --kind)")
        return kind


@dataclass(frozen=True)
class RowField:
    """One inventory field of an imported row and how it is read from the register row."""

    name: str
    value_fn: Callable[[Mapping[str, Any], ColumnMapping, set[str]], Any]


def _get(row: Mapping[str, Any], mapping: ColumnMapping, available: set[str], ours: str) -> Any:
    column = mapping.column(ours, available)
    value = row.get(column) if column else None
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _float_or_zero(value: Any) -> float:
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


FIELDS: tuple[RowField, ...] = (
    RowField("asset_id", lambda r, m, a: _get(r, m, a, "asset_id")),
    RowField("kind", lambda r, m, a: m.kind_of(_get(r, m, a, "kind"))),
    RowField("name", lambda r, m, a: str(_get(r, m, a, "name") or "")),
    RowField("cabinet_id", lambda r, m, a: (str(v) if (v := _get(r, m, a, "cabinet_id")) is not None else None)),
    RowField("wattage_w", lambda r, m, a: _float_or_zero(_get(r, m, a, "wattage_w"))),
)


def load_mapping(path: str | Path | None = None, *, columns: Mapping[str, str] | None = None,
                 crs: str | None = None, kind: str | None = None) -> ColumnMapping:
    """A mapping from a YAML file (`columns`, `kinds`, `crs`, `kind`), overridden by command-line values."""
    data: dict = {}
    if path:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise Rejected(f"cannot read the mapping {path}: {exc}") from None
        if not isinstance(data, dict):
            raise Rejected(f"the mapping {path} is not a YAML mapping")
    merged_columns = {**(data.get("columns") or {}), **(columns or {})}
    unknown = sorted(set(merged_columns) - set(DEFAULT_COLUMNS))
    if unknown:
        raise Rejected(f"unknown fields in the column mapping: {', '.join(unknown)} "
                       f"(expected some of {', '.join(DEFAULT_COLUMNS)})")
    chosen_kind = kind or data.get("kind")
    if chosen_kind and chosen_kind not in KINDS:
        raise Rejected(f"unknown kind {chosen_kind!r} (expected one of {', '.join(KINDS)})")
    return ColumnMapping(columns={k: str(v) for k, v in merged_columns.items()},
                         kinds={str(k): str(v) for k, v in (data.get("kinds") or {}).items()},
                         crs=str(crs or data.get("crs") or "EPSG:4326"), kind=chosen_kind)
