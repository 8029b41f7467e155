"""Reading an asset register file: CSV (any delimiter) or GeoJSON, as rows of plain values with a row number."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from connectors.feed import Rejected

__all__ = ["read_register"]


def _csv_rows(path: Path) -> list[tuple[int, dict]]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    if not reader.fieldnames:
        raise Rejected(f"{path}: no header row")
    return [(i + 2, {k.strip(): v for k, v in row.items() if k is not None}) for i, row in enumerate(reader)]


def _geojson_rows(path: Path) -> list[tuple[int, dict]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise Rejected(f"{path}: malformed JSON ({exc})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise Rejected(f"{path}: not a GeoJSON FeatureCollection")
    rows: list[tuple[int, dict]] = []
    for i, feature in enumerate(features):
        row: dict[str, Any] = {}
        if isinstance(feature, dict):
            row.update(feature.get("properties") or {})
            if "id" in feature and "id" not in row:
                row["id"] = feature["id"]
            geometry = feature.get("geometry")
            row["__geometry__"] = geometry
        rows.append((i + 1, row))
    return rows


def read_register(path: str | Path) -> tuple[str, list[tuple[int, dict]]]:
    """("csv" or "geojson", [(row number, row)]) of a register file; Rejected if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise Rejected(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".geojson", ".json"):
            return "geojson", _geojson_rows(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return "csv", _csv_rows(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Rejected(f"{path}: cannot read ({exc})") from None
    raise Rejected(f"{path}: unknown format {suffix!r} (expected .csv or .geojson)")
