"""TALQ-style LampMonitor / LampActuator readings to lamp events, and our commands to TALQ override commands.

The TALQ specification is not public, so payloads follow its names in a plain JSON shape:

    {"readings": [{"device": "LP-000123", "timestamp": "2026-11-25T21:00:00Z",
                   "LampMonitor": {"activePower": 28.1, "activeEnergy": 15234.0, "supplyVoltage": 231.0,
                                   "lampFailure": false, "dimmingFailure": false, "supplyLoss": false,
                                   "controlGearCommFailure": false},
                   "LampActuator": {"actualLightState": 70}}]}

Units: activePower W, activeEnergy Wh, supplyVoltage V, light states in % of full output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from connectors.feed import Rejected, iso_utc, parse_time_ms, safe_asset_id
from streams.schemas import CommandRequest

__all__ = [
    "ALARM_FLAGS",
    "MONITOR_FIELDS",
    "NOT_MAPPED",
    "TALQ_ACTIONS",
    "MonitorField",
    "Reading",
    "override_command",
    "readings_of",
]

ALARM_FLAGS = ("lampFailure", "dimmingFailure", "supplyLoss", "controlGearCommFailure")
TALQ_ACTIONS = {"dim": None, "switch_on": 100.0, "switch_off": 0.0}
NOT_MAPPED = ("LampMonitor: lampOperatingHours, lampSwitchCount, powerFactor, supplyCurrent, lampVoltage, "
              "lampCurrent, controlGearTemperature, other alarm flags (lampCycling, highCurrent, lowCurrent, "
              "lowPowerFactor, highSupplyVoltage, lowSupplyVoltage, controlGearFailure, thermalOverload...)",
              "LampActuator: defaultLightState, feedbackLightState",
              "commands: flash and normal (traffic signals, not lighting)")


@dataclass(frozen=True)
class Reading:
    """One device's reading with plain values: its id, time, monitor attributes and actual light state."""

    device: str
    ts: int
    monitor: Mapping[str, Any]
    actual_light_state: float | None


@dataclass(frozen=True)
class MonitorField:
    """One lamp.telemetry field: the TALQ attributes it reads and how it computes its value."""

    name: str
    sources: tuple[str, ...]
    value_fn: Callable[[Reading], Any]


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _level(r: Reading) -> float:
    if r.actual_light_state is not None:
        return min(max(r.actual_light_state, 0.0), 100.0)
    return 100.0 if (_num(r.monitor.get("activePower")) or 0.0) > 0 else 0.0


def _power_state(r: Reading) -> str:
    level = _level(r)
    return "off" if level <= 0 else ("on" if level >= 100 else "low")


def _voltage(r: Reading) -> float | None:
    volts = _num(r.monitor.get("supplyVoltage"))
    return volts if volts is not None and 0 <= volts <= 400 else None


MONITOR_FIELDS: tuple[MonitorField, ...] = (
    MonitorField("power_state", ("LampActuator.actualLightState", "activePower"), _power_state),
    MonitorField("level", ("LampActuator.actualLightState",), _level),
    MonitorField("power_w", ("activePower",), lambda r: _num(r.monitor.get("activePower"))),
    MonitorField("energy_wh", ("activeEnergy",), lambda r: _num(r.monitor.get("activeEnergy"))),
    MonitorField("voltage_v", ("supplyVoltage",), _voltage),
)


def readings_of(payload: Any, *, now_ms: int) -> list[Reading | Rejected]:
    """The readings of a payload (`{"readings": [...]}`, a list, or one reading), each a Reading or a Rejected."""
    if isinstance(payload, dict) and "readings" in payload:
        payload = payload["readings"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise Rejected(f"expected TALQ readings, got {type(payload).__name__}")
    out: list[Reading | Rejected] = []
    for raw in payload:
        if not isinstance(raw, dict):
            out.append(Rejected(f"a reading must be a JSON object, got {type(raw).__name__}"))
            continue
        device = raw.get("device") or raw.get("address")
        monitor = raw.get("LampMonitor") or {}
        actuator = raw.get("LampActuator") or {}
        if not device:
            out.append(Rejected("reading without a device"))
        elif not isinstance(monitor, dict) or not isinstance(actuator, dict):
            out.append(Rejected(f"reading of {device}: LampMonitor and LampActuator must be objects"))
        elif not monitor and not actuator:
            out.append(Rejected(f"reading of {device}: neither LampMonitor nor LampActuator"))
        else:
            ts = parse_time_ms(raw.get("timestamp"))
            out.append(Reading(device=safe_asset_id(str(device).rsplit("/", 1)[-1]),
                               ts=ts if ts is not None else now_ms, monitor=monitor,
                               actual_light_state=_num(actuator.get("actualLightState"))))
    return out


def override_command(command: CommandRequest, targets: list[str]) -> dict:
    """The TALQ override command for our dim / switch command on lamp targets."""
    if command.action not in TALQ_ACTIONS:
        raise Rejected(f"command {command.command_id}: action {command.action!r} is not a lighting command")
    level = command.level if command.action == "dim" else TALQ_ACTIONS[command.action]
    start, expiration = iso_utc(command.ts / 1000), iso_utc(command.expires_at / 1000)
    return {
        "commandId": command.command_id,
        "function": "LampActuator",
        "overrides": [{"address": t, "targetLightCommand": level, "start": start, "expiration": expiration}
                      for t in targets],
        "issuedBy": command.user,
        "reason": command.reason,
    }
