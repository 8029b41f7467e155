"""Versioned event schemas, one per event kind, and the validator that guards every topic.

Events are JSON objects tagged by `kind` (for example `"lamp.telemetry"`), with a schema
version `v`, the `asset_id` they concern (also the Kafka key) and a timestamp `ts` in epoch
milliseconds (UTC). msgspec decodes and validates in one pass; what it cannot express
(bounds that depend on the clock, cross-field rules) is checked right after. The Validator
checks the form of ids itself, once per distinct id: ids repeat, and a regular expression run
on every id of every event cost more than decoding the rest of it.
"""

from __future__ import annotations

import operator
import re
import time
import typing
from typing import Annotated, Literal, Union

import msgspec
from msgspec import Meta

__all__ = [
    "ALERT_STATES",
    "ASSET_ID_PATTERN",
    "EMAIL_PATTERN",
    "EVENT_TYPES",
    "INCIDENT_CATEGORIES",
    "METROPOLIS_BBOX",
    "PHONE_PATTERN",
    "SEVERITIES",
    "AlertTransition",
    "BusPriority",
    "CabinetMetering",
    "CameraHealth",
    "CommandAck",
    "CommandRequest",
    "Event",
    "IncidentReport",
    "InvalidEvent",
    "LampFault",
    "LampTelemetry",
    "SignalFault",
    "SignalStatus",
    "Validator",
    "WeatherObservation",
    "encode",
    "now_ms",
]

# Dijon Métropole with a margin of about 2 km (lon_min, lat_min, lon_max, lat_max).
METROPOLIS_BBOX = (4.88, 47.20, 5.24, 47.42)
# No event of this project can be older than the start of the contract year.
MIN_TS_MS = 1514764800000  # 2018-01-01T00:00:00Z
SUPPORTED_VERSIONS = frozenset({1})

ASSET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:_.\-]*$"
# The pattern is in the JSON schema; the Validator enforces it (see `_id_problem`).
AssetId = Annotated[str, Meta(min_length=1, max_length=64, extra_json_schema={"pattern": ASSET_ID_PATTERN})]
_ASSET_ID = re.compile(ASSET_ID_PATTERN)
Ts = Annotated[int, Meta(ge=MIN_TS_MS, le=4102444800000)]
Pct = Annotated[float, Meta(ge=0, le=100)]
Lat = Annotated[float, Meta(ge=-90, le=90)]
Lon = Annotated[float, Meta(ge=-180, le=180)]
ShortText = Annotated[str, Meta(max_length=200)]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+?[0-9 ().\-]{6,40}$"
NonNeg = Annotated[float, Meta(ge=0)]

SEVERITIES = ("critical", "major", "minor", "info")
ALERT_STATES = ("open", "acknowledged", "in_progress", "resolved", "closed")
INCIDENT_CATEGORIES = (
    "street_light_out",
    "traffic_light_fault",
    "pothole",
    "illegal_dumping",
    "graffiti",
    "damaged_sign",
    "fallen_tree",
    "flooding",
    "ice",
    "abandoned_vehicle",
    "noise",
    "other",
)


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


def _check_position(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise ValueError("lat and lon go together")
    if lat is None:
        return
    lon_min, lat_min, lon_max, lat_max = METROPOLIS_BBOX
    if not (lat_min <= lat <= lat_max and lon_min <= lon <= lon_max):
        raise ValueError(f"position ({lat:.5f}, {lon:.5f}) is outside the metropolis")


class Event(
    msgspec.Struct, frozen=True, tag_field="kind", forbid_unknown_fields=True, kw_only=True, omit_defaults=True,
    gc=False,
):
    """Fields every event carries: the asset it concerns, when, and the schema version.

    Events are frozen and hold only scalars and lists of ids, so they can never be part of a
    reference cycle: `gc=False` keeps the hundreds of thousands of them a backlog decodes out of
    the garbage collector's passes (about a tenth of the processor's time when they were in).
    """

    asset_id: AssetId
    ts: Ts
    v: Literal[tuple(sorted(SUPPORTED_VERSIONS))] = 1  # type: ignore[valid-type]

    @property
    def kind(self) -> str:
        """The event kind, for example `lamp.telemetry`."""
        return self.__struct_config__.tag


class LampTelemetry(Event, tag="lamp.telemetry"):
    """A light point's periodic reading (FIWARE Streetlight, TALQ LampMonitor)."""

    power_state: Literal["on", "off", "low", "bootingUp"]
    level: Pct
    power_w: Annotated[float, Meta(ge=0, le=2000)]
    energy_wh: NonNeg
    status: Literal["ok", "defectiveLamp", "columnIssue", "brokenLantern"] = "ok"
    voltage_v: Annotated[float, Meta(ge=0, le=400)] | None = None
    cabinet_id: AssetId | None = None


class LampFault(Event, tag="lamp.fault"):
    """A light point's alarm flag raised (`active`) or cleared (TALQ alarm flags)."""

    fault: Literal["lampFailure", "dimmingFailure", "supplyLoss", "controlGearCommFailure"]
    active: bool
    cabinet_id: AssetId | None = None


class CabinetMetering(Event, tag="cabinet.metering"):
    """A control cabinet's metering (FIWARE StreetlightControlCabinet)."""

    energy_kwh: NonNeg
    active_power_kw: Annotated[float, Meta(ge=0, le=500)]
    working_mode: Literal["automatic", "manual", "semiautomatic"]
    supply_ok: bool
    lamps_on: Annotated[int, Meta(ge=0, le=1000)]
    lamps_total: Annotated[int, Meta(ge=0, le=1000)]
    level: Pct | None = None


class SignalStatus(Event, tag="signal.status"):
    """A traffic controller's operating mode at a signalised crossroads."""

    mode: Literal["normal", "flashing", "dark", "fault"]
    plan: ShortText | None = None


class SignalFault(Event, tag="signal.fault"):
    """A traffic-controller fault raised (`active`) or cleared."""

    fault: Literal["lampOut", "detectorFault", "controllerFault", "conflict", "powerFailure"]
    active: bool


class BusPriority(Event, tag="bus.priority"):
    """A bus-priority request at a crossroads, and its grant or denial."""

    phase: Literal["request", "grant", "deny"]
    request_id: AssetId
    bus_id: AssetId
    line: ShortText
    delay_s: Annotated[float, Meta(ge=0, le=600)] | None = None


class CameraHealth(Event, tag="camera.health"):
    """A video camera's health."""

    state: Literal["online", "offline", "videoLoss", "tamper"]
    bitrate_kbps: Annotated[float, Meta(ge=0, le=100000)] | None = None


class WeatherObservation(Event, tag="weather.observation"):
    """A weather station's observation (FIWARE WeatherObserved)."""

    temperature_c: Annotated[float, Meta(ge=-40, le=55)]
    road_temperature_c: Annotated[float, Meta(ge=-40, le=75)]
    humidity_pct: Pct
    wind_speed_ms: Annotated[float, Meta(ge=0, le=75)]
    gust_ms: Annotated[float, Meta(ge=0, le=100)]
    precipitation_mm_h: Annotated[float, Meta(ge=0, le=300)]
    wind_direction_deg: Annotated[float, Meta(ge=0, le=360)] | None = None
    pressure_hpa: Annotated[float, Meta(ge=850, le=1100)] | None = None

    def __post_init__(self) -> None:
        if self.gust_ms < self.wind_speed_ms:
            raise ValueError("gust_ms is below wind_speed_ms")


class IncidentReport(Event, tag="incident.report"):
    """A citizen or agent report (Open311 GeoReport v2); `asset_id` is the report id."""

    category: Literal[INCIDENT_CATEGORIES]  # type: ignore[valid-type]
    lat: Lat
    lon: Lon
    source: Literal["citizen", "agent", "open311", "app"]
    status: Literal["open", "closed"] = "open"
    description: Annotated[str, Meta(max_length=2000)] = ""
    address: ShortText | None = None
    media_url: Annotated[str, Meta(max_length=500)] | None = None
    external_id: ShortText | None = None
    asset_ref: AssetId | None = None
    # the reporter's contact, if they left one: personal data, stored apart from the report by the
    # processor, shown only to the roles that call back, deleted after the retention period
    contact_name: Annotated[str, Meta(max_length=200)] | None = None
    contact_email: Annotated[str, Meta(max_length=200, pattern=EMAIL_PATTERN)] | None = None
    contact_phone: Annotated[str, Meta(max_length=40, pattern=PHONE_PATTERN)] | None = None

    def __post_init__(self) -> None:
        _check_position(self.lat, self.lon)

    @property
    def contact(self) -> dict | None:
        """The reporter's contact details (name, email, phone), None when they left none."""
        if not (self.contact_name or self.contact_email or self.contact_phone):
            return None
        return {"name": self.contact_name, "email": self.contact_email, "phone": self.contact_phone}


class CommandRequest(Event, tag="command.request"):
    """A remote-control command; `asset_id` names the scope (an asset, a cabinet, `commune:<code>`)."""

    command_id: AssetId
    action: Literal["dim", "switch_on", "switch_off", "flash", "normal"]
    targets: Annotated[list[AssetId], Meta(min_length=1, max_length=50000)]
    expires_at: Ts
    user: Annotated[str, Meta(min_length=1, max_length=64)]
    reason: Annotated[str, Meta(min_length=1, max_length=500)]
    level: Pct | None = None
    confirmed_by: Annotated[str, Meta(max_length=64)] | None = None

    def __post_init__(self) -> None:
        if self.action == "dim" and self.level is None:
            raise ValueError("a dim command needs a level")
        if self.expires_at <= self.ts:
            raise ValueError("expires_at is not after ts")


class CommandAck(Event, tag="command.ack"):
    """An equipment's (or connector's) acknowledgement of a command."""

    command_id: AssetId
    status: Literal["accepted", "done", "failed", "rejected", "expired"]
    applied: Annotated[int, Meta(ge=0)] = 0
    detail: ShortText | None = None


class AlertTransition(Event, tag="alert.transition"):
    """An alert entering a lifecycle state, as published by the processor."""

    alert_id: AssetId
    rule: ShortText
    state: Literal[ALERT_STATES]  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    domain: ShortText
    title: ShortText
    priority: Literal["P1", "P2", "P3"] | None = None
    due_ts: Ts | None = None
    actor: ShortText | None = None
    parent_id: AssetId | None = None
    lat: Lat | None = None
    lon: Lon | None = None


EVENT_TYPES: tuple[type[Event], ...] = (
    LampTelemetry,
    LampFault,
    CabinetMetering,
    SignalStatus,
    SignalFault,
    BusPriority,
    CameraHealth,
    WeatherObservation,
    IncidentReport,
    CommandRequest,
    CommandAck,
    AlertTransition,
)
AnyEvent = Union[EVENT_TYPES]  # type: ignore[valid-type]


def _id_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """(field, holds a list) of the fields of an event type that carry asset ids."""
    out = []
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        args = typing.get_args(hint)
        if hint == AssetId or AssetId in args:  # AssetId, AssetId | None
            out.append((name, False))
        elif any(typing.get_origin(t) is list and AssetId in typing.get_args(t) for t in (hint, *args)):
            out.append((name, True))  # list[AssetId], bare, annotated or optional
    return tuple(out)


_ID_FIELDS = {t: _id_fields(t) for t in EVENT_TYPES}
# The ids of an event as one tuple (never a bare value: a lone field is named twice), for the
# types whose id fields hold one id each; types with lists of ids take the field by field path.
_ID_TUPLES = {t: operator.attrgetter(*[n for n, _ in f] * (2 if len(f) == 1 else 1))
              for t, f in _ID_FIELDS.items() if not any(many for _, many in f)}
_WELL_FORMED_IDS_MAX = 2_000_000
KINDS = tuple(t.__struct_config__.tag for t in EVENT_TYPES)

_encoder = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    """Serialise an event to the JSON bytes put on a topic."""
    return _encoder.encode(event)


class InvalidEvent(ValueError):
    """An event that failed validation; `reason` says why in words a human can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Validator:
    """Decodes raw bytes into events, rejecting anything malformed with a readable reason."""

    def __init__(self, *, max_future_s: float = 600.0, clock=time.time) -> None:
        self._decoder = msgspec.json.Decoder(AnyEvent)
        self._max_future_ms = int(max_future_s * 1000)
        self._clock = clock
        self._ids: set[str | None] = {None}  # ids already found well-formed (None: an absent optional id)

    def decode(self, raw: bytes, *, now: int | None = None) -> Event:
        """Decode and validate one event, or raise InvalidEvent."""
        (item,) = self.decode_many((raw,), now=now)
        if type(item) is str:
            raise InvalidEvent(item)
        return item

    def decode_batch(self, raws) -> tuple[list[Event], list[tuple[int, str]]]:
        """Decode many events; return the good ones and (index, reason) for the bad ones."""
        oks: list[Event] = []
        errs: list[tuple[int, str]] = []
        for i, item in enumerate(self.decode_many(raws)):
            if type(item) is str:
                errs.append((i, item))
            else:
                oks.append(item)
        return oks, errs

    def decode_many(self, raws, *, now: int | None = None) -> list:
        """Decode many events: in order, each one's event, or the reason (a str) it is refused."""
        limit = (now if now is not None else int(self._clock() * 1000)) + self._max_future_ms
        decode, id_tuples, known = self._decoder.decode, _ID_TUPLES, self._ids.issuperset
        out: list = []
        append = out.append
        for raw in raws:
            try:
                event = decode(raw)
            except (msgspec.MsgspecError, TypeError) as exc:  # TypeError: not bytes (no value at all)
                append(_undecodable(exc, raw))
                continue
            if event.ts <= limit:
                get = id_tuples.get(type(event))
                if get is not None and known(get(event)):  # the common case: ids already seen
                    append(event)
                    continue
            append(self._refusal(event, limit) or event)
        return out

    def _refusal(self, event: Event, limit: int) -> str | None:
        """Why a decoded event is refused (None: it is not, and its ids are remembered)."""
        if event.ts > limit:
            ahead = (event.ts - limit + self._max_future_ms) / 1000
            return f"timestamp {event.ts} is {ahead:.0f} s in the future"
        for name, many in _ID_FIELDS[type(event)]:
            value = getattr(event, name)
            if value is not None:
                problem = self._id_problem(name, value if many else (value,))
                if problem:
                    return problem
        return None

    def _id_problem(self, name: str, values) -> str | None:
        """Why an id field is malformed, None if it is not (its ids are then remembered)."""
        ids = self._ids
        for value in values:
            if value in ids:
                continue
            if not _ASSET_ID.fullmatch(value):
                return (f"{name} {value[:80]!r} is not a valid id: letters, digits and : _ . - only, "
                        "starting with a letter or a digit")
            if len(ids) >= _WELL_FORMED_IDS_MAX:
                ids.clear()  # a flood of distinct ids must not grow the process without end
                ids.add(None)
            ids.add(value)
        return None


def _undecodable(exc: Exception, raw: bytes | None) -> str:
    """Why bytes do not decode into an event."""
    if raw is None:
        return "empty message (no value)"
    if isinstance(exc, msgspec.ValidationError):
        return _reason(exc, raw)
    if isinstance(exc, msgspec.DecodeError):
        return f"malformed JSON: {exc}"
    return f"not a message: {exc}"


def _reason(exc: msgspec.ValidationError, raw: bytes) -> str:
    text = str(exc)
    if text.endswith("- at `$.v`"):
        version = text.split(" - at ", 1)[0].rsplit(" ", 1)[-1]
        return f"unsupported schema version {version} (supported: {', '.join(map(str, sorted(SUPPORTED_VERSIONS)))})"
    if "Invalid value" in text and "`$.kind`" in text or "Missing required field `kind`" in text:
        return f"unknown event kind ({text})"
    return text
