"""FIWARE Smart Data Models to the project's events, declared as tables of fields with a `value_fn`.

Units follow the Smart Data Models specifications: `illuminanceLevel` 0-1, `powerConsumption` W,
cabinet `energyConsumed` kWh and `totalActivePower` kW, `relativeHumidity` 0-1, `windSpeed` m/s,
`atmosphericPressure` hPa, `precipitation` mm over the observation (taken per hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from connectors.feed import classify_incident, parse_time_ms, safe_asset_id
from connectors.fiware.ngsi import Entity, point_of
from connectors.register.registry import KnownAsset
from streams.schemas import (
    CabinetMetering,
    CameraHealth,
    Event,
    IncidentReport,
    LampFault,
    LampTelemetry,
    WeatherObservation,
)

__all__ = [
    "ALERT",
    "CABINET",
    "DEVICE",
    "DEVICE_BAD",
    "DEVICE_OK",
    "ENTITY_SPECS",
    "LAMP_FAILURE_STATUSES",
    "LEVEL_OF_STATE",
    "POWER_STATES",
    "STATUSES",
    "STREETLIGHT",
    "SUPPLY_MIN_V",
    "TIME_ATTRIBUTES",
    "TRAFFIC_FLOW",
    "WEATHER",
    "WORKING_MODES",
    "Ctx",
    "EntitySpec",
    "EventSpec",
    "Field",
    "device_healthy",
    "id_candidates",
    "mapped_attributes",
    "plain_id",
    "preview",
    "traffic_flow_fields",
]

POWER_STATES = ("on", "off", "low", "bootingUp")
STATUSES = ("ok", "defectiveLamp", "columnIssue", "brokenLantern")
WORKING_MODES = ("automatic", "manual", "semiautomatic")
LAMP_FAILURE_STATUSES = ("defectiveLamp", "brokenLantern")
DEVICE_OK = {"ok", "on", "online", "active", "connected", "working", "running", "normal"}
DEVICE_BAD = {"error", "off", "offline", "disconnected", "fault", "failure", "ko", "broken", "inactive", "down"}
LEVEL_OF_STATE = {"on": 100.0, "off": 0.0, "low": 50.0, "bootingUp": 0.0}
SUPPLY_MIN_V = 180.0
TIME_ATTRIBUTES = ("dateObserved", "observationDateTime", "dateLastValueReported", "dateIssued", "dateModified",
                   "TimeInstant", "timestamp")


@dataclass(frozen=True)
class Ctx:
    """What a value_fn sees: the flattened entity, the asset it concerns (if known) and the clock."""

    entity: Entity
    asset: KnownAsset | None
    asset_id: str
    now_ms: int
    stale_after_s: float = 900.0
    lookup: Callable[[list[str]], KnownAsset | None] | None = None

    def num(self, name: str) -> float | None:
        """An attribute as a float, or None when absent or not a number."""
        value = self.entity.get(name)
        if isinstance(value, bool) or value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            return None

    def text(self, name: str) -> str | None:
        """An attribute as text, or None."""
        value = self.entity.get(name)
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Field:
    """One event field: the standard attributes it reads and how it computes its value (None: left out)."""

    name: str
    sources: tuple[str, ...]
    value_fn: Callable[[Ctx], Any]


@dataclass(frozen=True)
class EventSpec:
    """One event an entity yields, when `when` holds."""

    event: type[Event]
    fields: tuple[Field, ...]
    when: Callable[[Ctx], bool] = lambda ctx: True


@dataclass(frozen=True)
class EntitySpec:
    """How one Smart Data Model maps: the asset kind it registers as, its events and what is left out."""

    entity_type: str
    asset_kind: str | None
    events: tuple[EventSpec, ...]
    unmapped: tuple[str, ...]
    needs_asset: bool = True
    asset_refs: tuple[str, ...] = ()


def id_candidates(entity_id: Any, entity_type: str = "") -> list[str]:
    """Asset ids an entity id may stand for: as is, without `urn:ngsi-ld:<Type>:`, and its last segment."""
    raw = str(entity_id).strip()
    out = [raw]
    prefix = f"urn:ngsi-ld:{entity_type}:"
    if entity_type and raw.startswith(prefix):
        out.append(raw[len(prefix):])
    elif raw.startswith("urn:ngsi-ld:"):
        out.append(raw.split(":", 3)[-1])
    out.append(raw.rsplit(":", 1)[-1])
    seen: list[str] = []
    for candidate in out:
        if candidate and candidate not in seen:
            seen.append(candidate)
    return seen


def plain_id(entity_id: Any) -> str:
    """An entity id without its `urn:ngsi-ld:<Type>:` prefix (the same asset in NGSI-v2 and NGSI-LD)."""
    raw = str(entity_id).strip()
    if raw.startswith("urn:ngsi-ld:"):
        rest = raw.split(":", 3)
        return rest[3] if len(rest) == 4 and rest[3] else raw
    return raw


def _ts(ctx: Ctx, *observed: str, dates: tuple[str, ...] = ()) -> int:
    """When the entity was observed: observedAt of the given attributes, a date attribute, or now."""
    entity = ctx.entity
    for name in observed:
        if name in entity.observed_at and (ms := parse_time_ms(entity.observed_at[name])) is not None:
            return ms
    for name in (*dates, *TIME_ATTRIBUTES):
        value = entity.get(name)
        if isinstance(value, (str, dict)) and (ms := parse_time_ms(value)) is not None:
            return ms
    for when in entity.observed_at.values():
        if (ms := parse_time_ms(when)) is not None:
            return ms
    return ctx.now_ms


def _asset_id(ctx: Ctx) -> str:
    return ctx.asset_id


# --- Streetlight -------------------------------------------------------------------------------

def _power_state(ctx: Ctx) -> str | None:
    state = ctx.text("powerState")
    if state in POWER_STATES:
        return state
    level = ctx.num("illuminanceLevel")
    if level is None:
        return None
    return "off" if level <= 0 else ("on" if level >= 1 else "low")


def _level(ctx: Ctx) -> float | None:
    level = ctx.num("illuminanceLevel")
    if level is not None:
        return round(min(max(level, 0.0), 1.0) * 100.0, 2)
    state = _power_state(ctx)
    return LEVEL_OF_STATE.get(state) if state else None


def _lamp_power(ctx: Ctx) -> float | None:
    power = ctx.num("powerConsumption")
    if power is not None:
        return power
    if _power_state(ctx) == "off":
        return 0.0
    level = _level(ctx)
    if ctx.asset is not None and level is not None:
        return round(ctx.asset.wattage_w * level / 100.0, 2)
    return 0.0


def _lamp_energy(ctx: Ctx) -> float | None:
    energy = ctx.num("energyConsumed")
    return energy * 1000.0 if energy is not None else None


def _cabinet_ref(ctx: Ctx) -> str | None:
    ref = ctx.entity.get("refStreetlightControlCabinet")
    if isinstance(ref, list):
        ref = ref[0] if ref else None
    if isinstance(ref, str) and ref:
        known = ctx.lookup(id_candidates(ref)) if ctx.lookup is not None else None
        return known.asset_id if known is not None else safe_asset_id(plain_id(ref))
    return ctx.asset.cabinet_id if ctx.asset is not None else None


def _voltage(ctx: Ctx) -> float | None:
    volts = ctx.num("voltage")
    return volts if volts is not None and 0 <= volts <= 400 else None


def _status(ctx: Ctx) -> str | None:
    status = ctx.text("status")
    return status if status in STATUSES else None


STREETLIGHT = EntitySpec(
    entity_type="Streetlight",
    asset_kind="light",
    events=(
        EventSpec(LampTelemetry, (
            Field("asset_id", ("id",), _asset_id),
            Field("ts", ("observedAt", "observationDateTime", "dateModified"),
                  lambda c: _ts(c, "powerState", "illuminanceLevel", "status")),
            Field("power_state", ("powerState", "illuminanceLevel"), _power_state),
            Field("level", ("illuminanceLevel", "powerState"), _level),
            Field("power_w", ("powerConsumption",), _lamp_power),
            Field("energy_wh", ("energyConsumed",), _lamp_energy),
            Field("status", ("status",), _status),
            Field("voltage_v", ("voltage",), _voltage),
            Field("cabinet_id", ("refStreetlightControlCabinet",), _cabinet_ref),
        ), when=lambda c: _power_state(c) is not None),
        EventSpec(LampFault, (
            Field("asset_id", ("id",), _asset_id),
            Field("ts", ("observedAt", "observationDateTime", "dateModified"), lambda c: _ts(c, "status")),
            Field("fault", ("status",), lambda c: "lampFailure"),
            Field("active", ("status",), lambda c: c.text("status") in LAMP_FAILURE_STATUSES),
            Field("cabinet_id", ("refStreetlightControlCabinet",), _cabinet_ref),
        ), when=lambda c: _status(c) is not None),
    ),
    unmapped=("dateLastSwitchingOn", "dateLastSwitchingOff", "dateLastLampChange", "dateServiceStarted",
              "controllingMethod", "refStreetlightGroup", "refStreetlightModel", "refDevice", "circuit",
              "lanternHeight", "locationCategory", "current", "powerRating", "powerFactor", "feederID",
              "feederPillarNum", "streetPoleNum", "municipalityInfo", "deviceInfo", "areaServed", "address",
              "image", "annotations", "status=columnIssue (kept in lamp.telemetry.status, no fault flag)"),
)


# --- StreetlightControlCabinet -----------------------------------------------------------------

def _active_power_kw(ctx: Ctx) -> float | None:
    total = ctx.num("totalActivePower")
    if total is not None:
        return total
    phases = [p for p in (ctx.num("activePowerR"), ctx.num("activePowerS"), ctx.num("activePowerT")) if p is not None]
    return round(sum(phases), 3) if phases else None


def _supply_ok(ctx: Ctx) -> bool:
    volts = [v for v in (ctx.num("voltageR"), ctx.num("voltageS"), ctx.num("voltageT")) if v is not None]
    return all(v >= SUPPLY_MIN_V for v in volts)


def _lamps_total(ctx: Ctx) -> int:
    return int(ctx.asset.lamps_total) if ctx.asset is not None else 0


def _lamps_on(ctx: Ctx) -> int:
    power = _active_power_kw(ctx)
    return _lamps_total(ctx) if power and _supply_ok(ctx) else 0


CABINET = EntitySpec(
    entity_type="StreetlightControlCabinet",
    asset_kind="cabinet",
    events=(
        EventSpec(CabinetMetering, (
            Field("asset_id", ("id",), _asset_id),
            Field("ts", ("observedAt", "dateModified"), lambda c: _ts(c, "energyConsumed", "totalActivePower")),
            Field("energy_kwh", ("energyConsumed",), lambda c: c.num("energyConsumed")),
            Field("active_power_kw", ("totalActivePower", "activePowerR", "activePowerS", "activePowerT"),
                  _active_power_kw),
            Field("working_mode", ("workingMode",),
                  lambda c: c.text("workingMode") if c.text("workingMode") in WORKING_MODES else None),
            Field("supply_ok", ("voltageR", "voltageS", "voltageT"), _supply_ok),
            Field("lamps_total", (), _lamps_total),
            Field("lamps_on", ("totalActivePower",), _lamps_on),
        )),
    ),
    unmapped=("energyCost", "reactiveEnergyConsumed", "totalReactivePower", "reactivePowerR", "reactivePowerS",
              "reactivePowerT", "intensityR", "intensityS", "intensityT", "powerFactorR", "powerFactorS",
              "powerFactorT", "cosPhi", "frequency", "thdrVoltageR/S/T", "thdrIntensityR/S/T", "lastMeterReading",
              "meterReadingPeriod", "dateMeteringStarted", "dateLastProgramming", "nextActuationDeadline",
              "maximumPowerAvailable", "refStreetlightGroup", "refDevice", "features", "responsible",
              "cupboardMadeOf", "brandName", "modelName", "manufacturerName", "serialNumber", "compliantWith"),
)


# --- WeatherObserved ---------------------------------------------------------------------------

def _humidity(ctx: Ctx) -> float | None:
    value = ctx.num("relativeHumidity")
    if value is None:
        return None
    return round(value * 100.0 if value <= 1.0 else value, 2)


def _wind(ctx: Ctx) -> float:
    return ctx.num("windSpeed") or 0.0


def _gust(ctx: Ctx) -> float:
    gust = ctx.num("gustSpeed") or ctx.num("windGust") or 0.0
    return max(gust, _wind(ctx))


def _direction(ctx: Ctx) -> float | None:
    value = ctx.num("windDirection")
    return value % 360.0 if value is not None else None


def _pressure(ctx: Ctx) -> float | None:
    value = ctx.num("atmosphericPressure")
    return value if value is not None and 850.0 <= value <= 1100.0 else None


WEATHER = EntitySpec(
    entity_type="WeatherObserved",
    asset_kind="weather",
    asset_refs=("refDevice", "stationCode"),
    events=(
        EventSpec(WeatherObservation, (
            Field("asset_id", ("refDevice", "stationCode", "id"), _asset_id),
            Field("ts", ("dateObserved",), lambda c: _ts(c, "temperature", dates=("dateObserved",))),
            Field("temperature_c", ("temperature",), lambda c: c.num("temperature")),
            Field("road_temperature_c", ("roadTemperature", "temperature"),
                  lambda c: c.num("roadTemperature") if c.num("roadTemperature") is not None else c.num("temperature")),
            Field("humidity_pct", ("relativeHumidity",), _humidity),
            Field("wind_speed_ms", ("windSpeed",), _wind),
            Field("gust_ms", ("windSpeed", "gustSpeed"), _gust),
            Field("precipitation_mm_h", ("precipitation",), lambda c: c.num("precipitation") or 0.0),
            Field("wind_direction_deg", ("windDirection",), _direction),
            Field("pressure_hpa", ("atmosphericPressure",), _pressure),
        )),
    ),
    unmapped=("dewPoint", "feelsLikeTemperature", "illuminance", "visibility", "snowHeight", "solarRadiation",
              "streamGauge", "uVIndexMax", "weatherType", "pressureTendency", "airQualityIndex", "source",
              "dataProvider", "address", "stationName"),
)


# --- Device ------------------------------------------------------------------------------------

def device_healthy(ctx: Ctx) -> bool | None:
    """True/False from deviceState and the freshness of dateLastValueReported; None if neither tells."""
    state = (ctx.text("deviceState") or "").strip().lower()
    last = parse_time_ms(ctx.entity.get("dateLastValueReported"))
    if last is not None and ctx.now_ms - last > ctx.stale_after_s * 1000:
        return False
    if state in DEVICE_BAD:
        return False
    if state in DEVICE_OK or (not state and last is not None):
        return True
    return None


def _device_kind(ctx: Ctx) -> str | None:
    return ctx.asset.kind if ctx.asset is not None else None


DEVICE = EntitySpec(
    entity_type="Device",
    asset_kind=None,
    asset_refs=("controlledAsset", "refAsset"),
    events=(
        EventSpec(CameraHealth, (
            Field("asset_id", ("controlledAsset", "id"), _asset_id),
            Field("ts", ("dateLastValueReported",), lambda c: _ts(c, "deviceState", dates=("dateLastValueReported",))),
            Field("state", ("deviceState", "dateLastValueReported"),
                  lambda c: "online" if device_healthy(c) else "offline"),
        ), when=lambda c: _device_kind(c) == "camera" and device_healthy(c) is not None),
        EventSpec(LampFault, (
            Field("asset_id", ("controlledAsset", "id"), _asset_id),
            Field("ts", ("dateLastValueReported",), lambda c: _ts(c, "deviceState", dates=("dateLastValueReported",))),
            Field("fault", ("deviceState",), lambda c: "controlGearCommFailure"),
            Field("active", ("deviceState", "dateLastValueReported"), lambda c: not device_healthy(c)),
            Field("cabinet_id", (), lambda c: c.asset.cabinet_id if c.asset else None),
        ), when=lambda c: _device_kind(c) == "light" and device_healthy(c) is not None),
    ),
    unmapped=("batteryLevel", "rssi", "value", "category", "controlledProperty", "ipAddress", "mcc", "mnc",
              "serialNumber", "refDeviceModel", "firmwareVersion", "softwareVersion", "dateFirstUsed",
              "dateInstalled", "dateManufactured", "owner", "provider", "configuration"),
)


# --- Alert -------------------------------------------------------------------------------------

def _alert_status(ctx: Ctx) -> str:
    valid_to = parse_time_ms(ctx.entity.get("validTo"))
    return "closed" if valid_to is not None and valid_to < ctx.now_ms else "open"


def _alert_description(ctx: Ctx) -> str:
    text = ctx.text("description") or ""
    tags = "/".join(t for t in (ctx.text("category"), ctx.text("subCategory")) if t)
    severity = ctx.text("severity")
    note = ", ".join(p for p in (tags, f"severity {severity}" if severity else "") if p)
    return (f"{text} ({note})" if note else text).strip()[:2000]


def _alert_address(ctx: Ctx) -> str | None:
    address = ctx.entity.get("address")
    if isinstance(address, dict):
        parts = [address.get(k) for k in ("streetAddress", "addressLocality")]
        text = ", ".join(str(p) for p in parts if p)
        return text[:200] or None
    return str(address)[:200] if address else None


def _coordinate(index: int) -> Callable[[Ctx], float | None]:
    def value(ctx: Ctx) -> float | None:
        point = point_of(ctx.entity.get("location"))
        return point[index] if point else None
    return value


ALERT = EntitySpec(
    entity_type="Alert",
    asset_kind=None,
    needs_asset=False,
    events=(
        EventSpec(IncidentReport, (
            Field("asset_id", ("id",), _asset_id),
            Field("ts", ("dateIssued", "validFrom", "dateCreated"),
                  lambda c: _ts(c, dates=("dateIssued", "validFrom", "dateCreated", "dateModified"))),
            Field("category", ("category", "subCategory"),
                  lambda c: classify_incident(c.text("subCategory"), c.text("category"))),
            Field("lat", ("location",), _coordinate(1)),
            Field("lon", ("location",), _coordinate(0)),
            Field("source", (), lambda c: "agent"),
            Field("status", ("validTo",), _alert_status),
            Field("description", ("description", "category", "subCategory", "severity"), _alert_description),
            Field("address", ("address",), _alert_address),
            Field("external_id", ("id",), lambda c: c.entity.id[:200]),
        )),
    ),
    unmapped=("severity (no field in incident.report: appended to the description)", "alertSource", "data",
              "validFrom", "dateModified", "hasBeenValidated? (not in the model)", "name", "seeAlso", "owner"),
)


# --- TrafficFlowObserved -----------------------------------------------------------------------

def traffic_flow_fields(ctx: Ctx) -> dict:
    """The fields a `traffic.flow` event would carry (the event kind does not exist yet)."""
    occupancy = ctx.num("occupancy")
    return {
        "asset_id": ctx.asset_id,
        "ts": _ts(ctx, "intensity", dates=("dateObservedTo", "dateObserved")),
        "intensity_veh": ctx.num("intensity"),
        "occupancy_pct": round(occupancy * 100.0, 2) if occupancy is not None and occupancy <= 1 else occupancy,
        "average_speed_kmh": ctx.num("averageVehicleSpeed"),
        "congested": ctx.entity.get("congested") if isinstance(ctx.entity.get("congested"), bool) else None,
        "lane_id": ctx.entity.get("laneId"),
        "lane_direction": ctx.text("laneDirection"),
    }


TRAFFIC_FLOW = EntitySpec(
    entity_type="TrafficFlowObserved",
    asset_kind=None,
    needs_asset=False,
    events=(),
    unmapped=("all: no traffic.flow event kind yet (intensity, occupancy, averageVehicleSpeed, congested, laneId, "
              "laneDirection, dateObservedFrom/To, averageHeadwayTime, averageGapDistance, averageVehicleLength, "
              "reversedLane, vehicleType, vehicleSubType, refRoadSegment)",),
)


ENTITY_SPECS: dict[str, EntitySpec] = {s.entity_type: s for s in (STREETLIGHT, CABINET, WEATHER, DEVICE, ALERT,
                                                                   TRAFFIC_FLOW)}


def mapped_attributes(entity_type: str) -> list[str]:
    """The standard attributes an entity type's events read (for the mapped-fields report)."""
    spec = ENTITY_SPECS[entity_type]
    names = {s for e in spec.events for f in e.fields for s in f.sources}
    return sorted(names)


def preview(entity: Entity, *, asset_id: str | None = None, asset: KnownAsset | None = None,
            now_ms: int = 0, stale_after_s: float = 900.0) -> list[tuple[str, dict]]:
    """The (event kind, fields) an entity maps to, before validation, registration or de-duplication."""
    spec = ENTITY_SPECS[entity.type]
    ctx = Ctx(entity=entity, asset=asset, asset_id=asset_id or plain_id(entity.id), now_ms=now_ms,
              stale_after_s=stale_after_s)
    if not spec.events:
        return [("traffic.flow", traffic_flow_fields(ctx))]
    return [(e.event.__struct_config__.tag, {f.name: f.value_fn(ctx) for f in e.fields})
            for e in spec.events if e.when(ctx)]
