"""The FIWARE connector: notifications and polled entities in, validated events out, unknown assets registered."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from connectors.feed import EdgeFilter, FeedHealth, Rejected, loads_lenient, make_event, safe_asset_id
from connectors.fiware.mapping import ENTITY_SPECS, Ctx, EntitySpec, id_candidates, plain_id, traffic_flow_fields
from connectors.fiware.ngsi import Entity, entities_of, flatten, point_of
from connectors.register.registry import AssetRegistry, KnownAsset
from streams.schemas import Event, LampTelemetry

__all__ = [
    "MAX_GAP_S",
    "EnergyMeter",
    "FiwareConnector",
    "Report",
]

log = logging.getLogger(__name__)

MAX_GAP_S = 3600.0


@dataclass
class Report:
    """What one payload gave: events sent, entities rejected with reasons, assets registered, entities skipped."""

    events: list[Event] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready summary (what the notification endpoint answers)."""
        return {"events": len(self.events), "rejected": self.rejected, "registered": self.registered,
                "skipped": self.skipped}


class EnergyMeter:
    """Integrates a lamp's power into a cumulative energy counter when its source sends no meter reading.

    Streetlight has no energy attribute: the counter starts at 0 when the connector starts and
    ignores gaps longer than an hour, so the processor sees a meter that may reset.
    """

    def __init__(self) -> None:
        self._state: dict[str, tuple[int, float, float]] = {}
        self._lock = threading.Lock()

    def advance(self, asset_id: str, ts_ms: int, power_w: float) -> float:
        """The counter (Wh) after a reading of `power_w` at `ts_ms`."""
        with self._lock:
            last = self._state.get(asset_id)
            energy = 0.0
            if last is not None:
                last_ts, last_power, energy = last
                gap_s = (ts_ms - last_ts) / 1000.0
                if 0 < gap_s <= MAX_GAP_S:
                    energy += (last_power + power_w) / 2.0 * gap_s / 3600.0
                elif gap_s <= 0:
                    return energy
            self._state[asset_id] = (ts_ms, power_w, energy)
            return round(energy, 3)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class FiwareConnector:
    """Maps NGSI entities to events and hands them to `send`; never raises on a bad payload."""

    name = "fiware"

    def __init__(self, registry: AssetRegistry, send: Callable[[Event], None], *,
                 flush: Callable[[], None] | None = None, stale_after_s: float = 900.0,
                 max_future_s: float = 600.0, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self._send = send
        self._flush = flush
        self.stale_after_s = stale_after_s
        self.max_future_s = max_future_s
        self._clock = clock
        self.health_status = FeedHealth(self.name, clock=clock)
        self._faults = EdgeFilter()
        self._meter = EnergyMeter()

    def health(self) -> dict:
        """The feed's health as a JSON-ready dict."""
        return self.health_status.snapshot()

    def handle_body(self, body: bytes) -> Report:
        """Handle a raw notification body; Rejected if it is not JSON or not a notification."""
        try:
            payload = loads_lenient(body)
            raw_entities = entities_of(payload)
        except Rejected as exc:
            self.health_status.reject(exc.reason)
            raise
        return self.handle_entities(raw_entities)

    def handle_entities(self, raw_entities: list[Any]) -> Report:
        """Map entities (any NGSI form) to events, send them, and report what was rejected."""
        report = Report()
        now_ms = int(self._clock() * 1000)
        for raw in raw_entities:
            try:
                entity = flatten(raw)
                report.events.extend(self._map(entity, now_ms, report))
            except Rejected as exc:
                entity_id = raw.get("id") if isinstance(raw, dict) else None
                report.rejected.append({"id": entity_id, "reason": exc.reason})
                self.health_status.reject(exc.reason)
                log.info("fiware entity %s rejected: %s", entity_id, exc.reason)
        report.events = self._faults.fresh(report.events)
        for event in report.events:
            self._send(event)
        if self._flush is not None and report.events:
            self._flush()
        self._faults.remember(report.events)
        self.health_status.ok(len(report.events))
        return report

    def _resolve(self, entity: Entity, spec: EntitySpec, report: Report) -> tuple[str, KnownAsset | None]:
        refs = [ref for name in spec.asset_refs for ref in _as_list(entity.get(name)) if isinstance(ref, str) and ref]
        if not spec.needs_asset:
            return safe_asset_id(plain_id(entity.id)), None
        candidates = [c for ref in refs for c in id_candidates(ref)] + id_candidates(entity.id, entity.type)
        asset = self.registry.resolve(candidates)
        if asset is not None:
            return asset.asset_id, asset
        asset_id = safe_asset_id(plain_id(refs[0] if refs else entity.id))
        if asset_id in self.registry:
            return asset_id, self.registry.get(asset_id)
        point = point_of(entity.get("location"))
        if point is None:
            raise Rejected(f"{entity.type} {entity.id}: unknown asset and no location to register it")
        self.registry.check_inside(point[0], point[1], f"{entity.type} {entity.id}")
        kind = spec.asset_kind or self._device_kind(entity)
        if kind is None:
            raise Rejected(f"{entity.type} {entity.id}: unknown asset, and its kind cannot be told to register it")
        asset = self.registry.register(asset_id, kind, point[0], point[1], source="fiware",
                                       name=str(entity.get("name") or ""))
        report.registered.append(asset.asset_id)
        return asset.asset_id, asset

    @staticmethod
    def _device_kind(entity: Entity) -> str | None:
        words = " ".join(str(entity.get(k) or "") for k in ("category", "deviceCategory", "controlledProperty",
                                                            "name", "description")).lower()
        if "camera" in words or "video" in words:
            return "camera"
        if "streetlight" in words or "lamp" in words:
            return "light"
        return None

    def _map(self, entity: Entity, now_ms: int, report: Report) -> list[Event]:
        spec = ENTITY_SPECS.get(entity.type)
        if spec is None:
            raise Rejected(f"entity {entity.id}: type {entity.type!r} is not mapped "
                           f"(mapped: {', '.join(sorted(ENTITY_SPECS))})")
        point = point_of(entity.get("location"))
        if not spec.needs_asset and point is not None:
            self.registry.check_inside(point[0], point[1], f"{entity.type} {entity.id}")
        asset_id, asset = self._resolve(entity, spec, report)
        ctx = Ctx(entity=entity, asset=asset, asset_id=asset_id, now_ms=now_ms, stale_after_s=self.stale_after_s,
                  lookup=self.registry.resolve)
        if not spec.events:
            report.skipped.append({"id": entity.id, "reason": f"{entity.type} needs the event kind traffic.flow",
                                   "fields": traffic_flow_fields(ctx)})
            return []
        events: list[Event] = []
        for event_spec in spec.events:
            if not event_spec.when(ctx):
                continue
            fields = {f.name: f.value_fn(ctx) for f in event_spec.fields}
            if event_spec.event is LampTelemetry and fields.get("energy_wh") is None:
                fields["energy_wh"] = self._meter.advance(asset_id, fields["ts"], fields.get("power_w") or 0.0)
            events.append(make_event(event_spec.event, fields, max_future_s=self.max_future_s, now_ms=now_ms))
        if not events and spec.events:
            what = "nothing to report" if spec.entity_type != "Device" else "no health event for this asset"
            report.skipped.append({"id": entity.id, "reason": f"{entity.type}: {what}"})
        return events
