"""Benchmark of the decode-and-validate cost per event, over a Dijon-like mix of event kinds."""

from __future__ import annotations

import time

import orjson

from .schemas import (
    CabinetMetering, CameraHealth, IncidentReport, LampTelemetry, SignalStatus, Validator, WeatherObservation,
    encode, now_ms,
)

__all__ = ["bench_decode", "sample_events"]


def sample_events(n: int, ts: int) -> list[bytes]:
    """Encoded events in Dijon proportions: lamp telemetry dominant, some of every other field kind."""
    makers = (
        (70, lambda i: LampTelemetry(asset_id=f"LP-{i % 34000:06d}", ts=ts, power_state="low", level=70.0,
                                     power_w=21.3, energy_wh=1000.0 + i, cabinet_id=f"CAB-{i % 850:04d}")),
        (10, lambda i: CabinetMetering(asset_id=f"CAB-{i % 850:04d}", ts=ts, energy_kwh=5000.5, active_power_kw=1.1,
                                       working_mode="automatic", supply_ok=True, lamps_on=40, lamps_total=40)),
        (8, lambda i: SignalStatus(asset_id=f"SIG-{i % 113:03d}", ts=ts, mode="normal", plan="P2")),
        (8, lambda i: CameraHealth(asset_id=f"CAM-{i % 269:03d}", ts=ts, state="online", bitrate_kbps=2048.0)),
        (3, lambda i: WeatherObservation(asset_id=f"WS-{i % 12:02d}", ts=ts, temperature_c=3.2,
                                         road_temperature_c=1.0, humidity_pct=88.0, wind_speed_ms=4.0, gust_ms=9.0,
                                         precipitation_mm_h=0.4)),
        (1, lambda i: IncidentReport(asset_id=f"RPT-{i}", ts=ts, category="pothole", lat=47.32, lon=5.04,
                                     source="citizen", description="Nid de poule rue de la Liberté")),
    )
    wheel = [make for weight, make in makers for _ in range(weight)]
    return [encode(wheel[i % len(wheel)](i)) for i in range(n)]


def bench_decode(n: int = 200_000) -> dict[str, float]:
    """Decode-and-validate `n` events; return per-event costs, msgspec against plain orjson parsing."""
    raws = sample_events(n, now_ms())
    validator = Validator()
    start = time.perf_counter()
    oks, errs = validator.decode_batch(raws)
    validate_s = time.perf_counter() - start
    assert not errs and len(oks) == n
    start = time.perf_counter()
    for raw in raws:
        orjson.loads(raw)
    parse_s = time.perf_counter() - start
    return {
        "decode_events": n,
        "decode_validate_us_per_event": round(validate_s / n * 1e6, 3),
        "json_parse_only_us_per_event": round(parse_s / n * 1e6, 3),
        "decode_validate_events_per_s": round(n / validate_s),
        "mean_event_bytes": round(sum(map(len, raws)) / n, 1),
    }
