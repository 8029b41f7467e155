"""The TALQ run loop: readings to lamp events, command requests to override commands, acks back."""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from connectors.feed import EdgeFilter, FeedHealth, FeedUnavailable, Rejected, loads_lenient, make_event
from connectors.register.registry import AssetRegistry
from connectors.talq.client import TalqClient, TalqRefused
from connectors.talq.mapping import ALARM_FLAGS, MONITOR_FIELDS, Reading, override_command, readings_of
from streams.kafka import BrokerUnavailable
from streams.schemas import CommandAck, CommandRequest, Event, LampFault, LampTelemetry

__all__ = [
    "DONE",
    "LIGHTING_KINDS",
    "TalqConnector",
]

log = logging.getLogger(__name__)

LIGHTING_KINDS = ("light", "cabinet")
DONE = {"done", "ok", "applied", "accepted", "success"}


class TalqConnector:
    """Maps TALQ readings to events and our lighting commands to TALQ; never raises on a bad payload."""

    name = "talq"

    def __init__(self, client: TalqClient | None, send: Callable[[Event], None], *,
                 flush: Callable[[], None] | None = None, registry: AssetRegistry | None = None,
                 max_future_s: float = 600.0, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.registry = registry
        self._send = send
        self._flush = flush
        self.max_future_s = max_future_s
        self._clock = clock
        self.health_status = FeedHealth(self.name, clock=clock)
        self._faults = EdgeFilter()

    def health(self) -> dict:
        """The feed's health as a JSON-ready dict."""
        return self.health_status.snapshot()

    def handle_body(self, body: bytes) -> dict:
        """Handle a raw readings body; Rejected if it is not JSON or not readings."""
        try:
            payload = loads_lenient(body)
            return self.handle_readings(payload)
        except Rejected as exc:
            self.health_status.reject(exc.reason)
            raise

    def _events(self, reading: Reading, now_ms: int) -> list[Event]:
        asset = self.registry.get(reading.device) if self.registry is not None else None
        if self.registry is not None and asset is None:
            raise Rejected(f"reading of {reading.device}: unknown device "
                           "(not in the inventory, and TALQ readings carry no location to register it)")
        cabinet_id = asset.cabinet_id if asset is not None else None
        events: list[Event] = []
        fields = {f.name: f.value_fn(reading) for f in MONITOR_FIELDS}
        if fields["power_w"] is not None and fields["energy_wh"] is not None:
            events.append(make_event(LampTelemetry, {**fields, "asset_id": reading.device, "ts": reading.ts,
                                                     "cabinet_id": cabinet_id},
                                     max_future_s=self.max_future_s, now_ms=now_ms))
        for flag in ALARM_FLAGS:
            value = reading.monitor.get(flag)
            if not isinstance(value, bool):
                continue
            events.append(make_event(LampFault, {"asset_id": reading.device, "ts": reading.ts, "fault": flag,
                                                 "active": value, "cabinet_id": cabinet_id},
                                     max_future_s=self.max_future_s, now_ms=now_ms))
        return events

    def handle_readings(self, payload: Any) -> dict:
        """Map readings to events and send them; report the rejected ones with reasons."""
        now_ms = int(self._clock() * 1000)
        events: list[Event] = []
        rejected: list[dict] = []
        for reading in readings_of(payload, now_ms=now_ms):
            try:
                if isinstance(reading, Rejected):
                    raise reading
                events.extend(self._events(reading, now_ms))
            except Rejected as exc:
                rejected.append({"device": getattr(reading, "device", None), "reason": exc.reason})
                self.health_status.reject(exc.reason)
        events = self._faults.fresh(events)
        for event in events:
            self._send(event)
        if self._flush is not None and events:
            self._flush()
        self._faults.remember(events)
        self.health_status.ok(len(events))
        return {"events": len(events), "rejected": rejected}

    def _lighting_targets(self, command: CommandRequest) -> list[str]:
        if self.registry is None:
            return list(command.targets)
        return [t for t in command.targets if (a := self.registry.get(t)) is not None and a.kind in LIGHTING_KINDS]

    def handle_command(self, command: CommandRequest) -> CommandAck | None:
        """Send a lighting command as a TALQ override; its ack, or None if the command is not for lighting."""
        if command.action not in ("dim", "switch_on", "switch_off", "normal"):
            return None
        targets = self._lighting_targets(command)
        if not targets:
            return None
        now_ms = int(self._clock() * 1000)

        def ack(status: str, applied: int = 0, detail: str | None = None) -> CommandAck:
            return CommandAck(asset_id=command.asset_id, ts=max(now_ms, command.ts), command_id=command.command_id,
                              status=status, applied=applied, detail=detail[:200] if detail else None)

        if command.action == "normal":  # said at once rather than left to time out
            return ack("rejected", detail="TALQ: ending an override early is not mapped; "
                                          "the override ends at its expiration")

        if command.expires_at <= now_ms:
            return ack("expired", detail="expired before it could be sent to TALQ")
        if self.client is None:
            return ack("failed", detail="no TALQ endpoint configured")
        try:
            answer = self.client.post(override_command(command, targets))
        except TalqRefused as exc:
            self.health_status.ok()
            return ack("rejected", detail=exc.reason)
        except FeedUnavailable as exc:
            self.health_status.failed(str(exc))
            return ack("failed", detail=f"TALQ endpoint unavailable: {exc}")
        self.health_status.ok()
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            return ack("accepted", applied=len(targets))
        done = sum(1 for r in results if isinstance(r, dict) and str(r.get("status", "")).lower() in DONE)
        if done == len(targets):
            return ack("done", applied=done)
        if done == 0:
            return ack("failed", detail=f"TALQ applied none of {len(targets)} overrides")
        return ack("accepted", applied=done, detail=f"{done} of {len(targets)} overrides applied")

    def on_event(self, event: Event) -> CommandAck | None:
        """Handle one event read from the command topic: post a lighting command and send its ack."""
        if not isinstance(event, CommandRequest):
            return None
        reply = self.handle_command(event)
        if reply is None:
            return None
        try:
            self._send(reply)
            if self._flush is not None:
                self._flush()
        except BrokerUnavailable as exc:
            self.health_status.failed(f"Kafka: {exc}")
        log.info("talq: command %s -> %s (%d applied)", event.command_id, reply.status, reply.applied)
        return reply
