"""GeoReport v2 service requests to incident reports, as a table of fields with a `value_fn`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from connectors.feed import Rejected, classify_incident, make_event, parse_time_ms, safe_asset_id
from streams.schemas import EMAIL_PATTERN, METROPOLIS_BBOX, PHONE_PATTERN, IncidentReport

__all__ = ["FIELDS", "ID_PREFIX", "MAPPED", "NOT_MAPPED", "Field", "external_id_of", "in_bbox", "report_fields",
           "to_report"]

ID_PREFIX = "open311-"


@dataclass(frozen=True)
class Field:
    """One incident-report field: the GeoReport fields it reads and how it computes its value."""

    name: str
    sources: tuple[str, ...]
    value_fn: Callable[[Mapping[str, Any], Mapping[str, str], int], Any]


def _text(request: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = request.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def _coordinate(key: str) -> Callable[[Mapping[str, Any], Mapping[str, str], int], float | None]:
    def value(request: Mapping[str, Any], categories: Mapping[str, str], now_ms: int) -> float | None:
        raw = request.get(key)
        if raw in (None, ""):
            return None
        try:
            return float(raw)
        except (TypeError, ValueError):
            rid = request.get("service_request_id")
            raise Rejected(f"service request {rid}: {key} {raw!r} is not a number") from None
    return value


def _category(request: Mapping[str, Any], categories: Mapping[str, str], now_ms: int) -> str:
    code = str(request.get("service_code") or "")
    if code in categories:
        return categories[code]
    return classify_incident(request.get("service_name"), code)


def _ts(request: Mapping[str, Any], categories: Mapping[str, str], now_ms: int) -> int:
    for key in ("updated_datetime", "requested_datetime"):
        ms = parse_time_ms(request.get(key))
        if ms is not None:
            return ms
    return now_ms


def _description(request: Mapping[str, Any], categories: Mapping[str, str], now_ms: int) -> str:
    parts = [_text(request, "description", 2000), _text(request, "status_notes", 500)]
    text = " — ".join(p for p in parts if p) or _text(request, "service_name", 200) or ""
    return text[:2000]


def _text_join(request: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    text = " ".join(p for p in (_text(request, k, 100) for k in keys) if p)
    return text[:200] or None


def _email(request: Mapping[str, Any]) -> str | None:
    """The reporter's email when it looks like one (a malformed one is dropped, not the report)."""
    value = _text(request, "email", 200)
    return value if value and re.match(EMAIL_PATTERN, value) else None


def _phone(request: Mapping[str, Any]) -> str | None:
    value = _text(request, "phone", 40)
    return value if value and re.match(PHONE_PATTERN, value) else None


def external_id_of(request: Mapping[str, Any]) -> str:
    """The service_request_id as text, or Rejected when missing (no de-duplication without it)."""
    raw = request.get("service_request_id")
    if raw in (None, ""):
        raise Rejected("service request without a service_request_id")
    return str(raw).strip()[:200]


FIELDS: tuple[Field, ...] = (
    Field("asset_id", ("service_request_id",), lambda r, c, n: safe_asset_id(ID_PREFIX + external_id_of(r))),
    Field("ts", ("updated_datetime", "requested_datetime"), _ts),
    Field("category", ("service_code", "service_name"), _category),
    Field("lat", ("lat",), _coordinate("lat")),
    Field("lon", ("long",), _coordinate("long")),
    Field("source", (), lambda r, c, n: "open311"),
    Field("status", ("status",), lambda r, c, n: "closed" if str(r.get("status", "")).lower() == "closed" else "open"),
    Field("description", ("description", "status_notes", "service_name"), _description),
    Field("address", ("address",), lambda r, c, n: _text(r, "address", 200)),
    Field("media_url", ("media_url",), lambda r, c, n: _text(r, "media_url", 500)),
    Field("external_id", ("service_request_id",), lambda r, c, n: external_id_of(r)),
    # GeoReport v2 contact fields (present on servers that share them with the city's own services)
    Field("contact_name", ("first_name", "last_name"), lambda r, c, n: _text_join(r, ("first_name", "last_name"))),
    Field("contact_email", ("email",), lambda r, c, n: _email(r)),
    Field("contact_phone", ("phone",), lambda r, c, n: _phone(r)),
)
MAPPED = sorted({s for f in FIELDS for s in f.sources})
NOT_MAPPED = ("agency_responsible", "service_notice", "expected_datetime", "address_id", "zipcode", "token",
              "attributes (service definition answers)")


def report_fields(request: Any, *, categories: Mapping[str, str] | None = None, now_ms: int = 0) -> dict:
    """The incident-report fields of one service request, before validation."""
    if not isinstance(request, dict):
        raise Rejected(f"a service request must be a JSON object, got {type(request).__name__}")
    return {f.name: f.value_fn(request, categories or {}, now_ms) for f in FIELDS}


def in_bbox(lon: float, lat: float) -> bool:
    """True inside the metropolis' bounding box (the schema's own check)."""
    lon_min, lat_min, lon_max, lat_max = METROPOLIS_BBOX
    return lon_min <= lon <= lon_max and lat_min <= lat <= lat_max


def to_report(request: Any, *, categories: Mapping[str, str] | None = None, now_ms: int,
              max_future_s: float = 600.0, inside: Callable[[float, float], bool] = in_bbox) -> IncidentReport:
    """One validated incident report, or Rejected with the reason (no location, outside the metropolis...)."""
    fields = report_fields(request, categories=categories, now_ms=now_ms)
    if fields["lat"] is None or fields["lon"] is None:
        raise Rejected(f"service request {fields['external_id']}: no lat/long")
    if not inside(fields["lon"], fields["lat"]):
        raise Rejected(f"service request {fields['external_id']}: location ({fields['lat']:.5f}, "
                       f"{fields['lon']:.5f}) is outside Dijon Métropole")
    try:
        return make_event(IncidentReport, fields, max_future_s=max_future_s, now_ms=now_ms)
    except Rejected as exc:
        raise Rejected(f"service request {fields['external_id']}: {exc.reason}") from None
