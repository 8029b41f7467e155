"""NGSI payloads flattened to one shape: notifications and entities, v2 or LD, normalized or keyValues."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.feed import Rejected

__all__ = ["Entity", "entities_of", "flatten", "point_of", "short_name"]

_LD_ATTRIBUTE_TYPES = {"Property", "GeoProperty", "Relationship", "LanguageProperty", "VocabProperty",
                       "ListProperty", "ListRelationship", "JsonProperty"}
_SKIP = {"id", "type", "@context"}


@dataclass(frozen=True)
class Entity:
    """An entity with plain attribute values and, per attribute, the time it was observed if given."""

    id: str
    type: str
    attrs: dict[str, Any]
    observed_at: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        """An attribute's plain value."""
        return self.attrs.get(name, default)


def short_name(name: str) -> str:
    """`https://smartdatamodels.org/dataModel.Streetlighting/powerState` -> `powerState`."""
    if name.startswith(("http://", "https://", "urn:")):
        return name.rstrip("/#").replace("#", "/").rsplit("/", 1)[-1]
    return name


def entities_of(payload: Any) -> list[dict]:
    """The entities of a v2 or LD notification, an entity list (poll answer) or a single entity."""
    if isinstance(payload, list):
        return payload
    if not isinstance(payload, dict):
        raise Rejected(f"expected a JSON object or array, got {type(payload).__name__}")
    if "data" in payload:
        data = payload["data"]
        if not isinstance(data, list):
            raise Rejected("notification `data` is not a list of entities")
        kind = payload.get("type")
        if kind is not None and kind != "Notification":
            raise Rejected(f"unexpected notification type {kind!r}")
        return data
    if "id" in payload and "type" in payload:
        return [payload]
    raise Rejected("not an NGSI notification: no `data` list, and not an entity (no `id` and `type`)")


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    return value


def _attribute(raw: Any) -> tuple[Any, Any]:
    """(plain value, observation time) of one attribute in any form."""
    if isinstance(raw, list) and raw and all(isinstance(r, dict) and ("value" in r or "object" in r) for r in raw):
        raw = raw[0]  # NGSI-LD multi-attribute: keep the default instance
    if not isinstance(raw, dict):
        return raw, None
    typed = raw.get("type") in _LD_ATTRIBUTE_TYPES
    if "value" in raw or "object" in raw or typed:
        if "object" in raw:
            value = raw["object"]
        elif "languageMap" in raw:
            value = raw["languageMap"]
        else:
            value = raw.get("value")
        metadata = raw.get("metadata") or {}
        observed = raw.get("observedAt")
        if observed is None and isinstance(metadata, dict):
            for key in ("TimeInstant", "timestamp", "dateObserved"):
                if isinstance(metadata.get(key), dict):
                    observed = metadata[key].get("value")
                    break
        return _unwrap(value), observed
    return _unwrap(raw), None


def flatten(raw: Any) -> Entity:
    """One entity in any NGSI form, with short attribute names and plain values; Rejected if not an entity."""
    if not isinstance(raw, dict):
        raise Rejected(f"an entity must be a JSON object, got {type(raw).__name__}")
    entity_id, entity_type = raw.get("id"), raw.get("type")
    if not isinstance(entity_id, str) or not entity_id.strip():
        raise Rejected("entity without an `id`")
    if isinstance(entity_type, list):
        entity_type = entity_type[0] if entity_type else None
    if not isinstance(entity_type, str) or not entity_type.strip():
        raise Rejected(f"entity {entity_id}: no `type`")
    attrs: dict[str, Any] = {}
    observed: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _SKIP:
            continue
        key = short_name(name)
        attrs[key], when = _attribute(value)
        if when is not None:
            observed[key] = when
    return Entity(id=entity_id.strip(), type=short_name(entity_type.strip()), attrs=attrs, observed_at=observed)


def point_of(location: Any) -> tuple[float, float] | None:
    """(lon, lat) of a GeoJSON location: the point itself, or the mean of a line's or polygon's vertices."""
    if not isinstance(location, dict):
        return None
    kind, coords = location.get("type"), location.get("coordinates")
    if kind == "Feature":
        return point_of(location.get("geometry"))
    try:
        if kind == "Point":
            lon, lat = float(coords[0]), float(coords[1])
        else:
            flat: list = coords
            while flat and isinstance(flat[0], list) and flat[0] and isinstance(flat[0][0], list):
                flat = [p for part in flat for p in part]
            lon = sum(float(p[0]) for p in flat) / len(flat)
            lat = sum(float(p[1]) for p in flat) / len(flat)
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return None
    return lon, lat
