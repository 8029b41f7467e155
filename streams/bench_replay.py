"""Benchmark of recording and replaying at Dijon scale: 60x pacing, seek with state rebuild, recorder throughput.

The recording is synthetic but has the metropolis's shape: 34,000 lamps and 850 cabinets every
15 minutes, 113 crossroads every 30 s, 269 cameras and 12 weather stations every minute, bus
priority for 180 buses, a few faults and citizen reports: about 60 events per simulated second,
so 3,600 events/s at 60x. The 60x figure is measured over `window_s` of wall time (one simulated
hour by default), not over the whole recording; `replay_window_s` says how long it was.
"""

from __future__ import annotations

import random
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, Iterator

from kafka import TopicPartition

from .broker import EmbeddedBroker, free_port
from .kafka import make_consumer, make_producer
from .recorder import Recorder
from .recording import Record, Recording, write_recording
from .replayer import Replayer
from .schemas import (
    BusPriority, CabinetMetering, CameraHealth, IncidentReport, LampFault, LampTelemetry, SignalStatus,
    WeatherObservation, encode,
)
from .topics import namespace_topics

__all__ = ["ASSET_CLASSES", "bench_replay", "dijon_scale_records"]

# (topic, asset count, report period in s, maker(asset index, ts, rng) -> event)
ASSET_CLASSES: tuple[tuple[str, int, float, Callable], ...] = (
    ("live.lighting.telemetry", 34_000, 900.0, lambda i, ts, rng: LampTelemetry(
        asset_id=f"LP-{i:06d}", ts=ts, power_state="low", level=70.0, power_w=round(rng.uniform(18, 24), 1),
        energy_wh=float(ts // 1000 % 100_000), cabinet_id=f"CAB-{i % 850:04d}")),
    ("live.lighting.cabinets", 850, 900.0, lambda i, ts, rng: CabinetMetering(
        asset_id=f"CAB-{i:04d}", ts=ts, energy_kwh=float(ts // 60_000 % 100_000), active_power_kw=0.9,
        working_mode="automatic", supply_ok=True, lamps_on=40, lamps_total=40, level=70.0)),
    ("live.traffic.status", 113, 30.0, lambda i, ts, rng: SignalStatus(
        asset_id=f"SIG-{i:03d}", ts=ts, mode="normal", plan=f"P{i % 4}")),
    ("live.traffic.priority", 180, 15.0, lambda i, ts, rng: BusPriority(
        asset_id=f"SIG-{i % 113:03d}", ts=ts, phase=rng.choice(("request", "grant")), request_id=f"BP-{ts}-{i}",
        bus_id=f"BUS-{i:03d}", line=f"L{i % 20}")),
    ("live.cameras.health", 269, 60.0, lambda i, ts, rng: CameraHealth(
        asset_id=f"CAM-{i:03d}", ts=ts, state="online", bitrate_kbps=2048.0)),
    ("live.weather.observations", 12, 60.0, lambda i, ts, rng: WeatherObservation(
        asset_id=f"WS-{i:02d}", ts=ts, temperature_c=3.5, road_temperature_c=1.2, humidity_pct=85.0,
        wind_speed_ms=4.0, gust_ms=8.5, precipitation_mm_h=0.2)),
    ("live.lighting.faults", 180, 900.0, lambda i, ts, rng: LampFault(
        asset_id=f"LP-{(i * 191) % 34_000:06d}", ts=ts, fault="lampFailure", active=rng.random() < 0.7)),
    ("live.incidents.reports", 630, 86_400.0, lambda i, ts, rng: IncidentReport(
        asset_id=f"RPT-{i:05d}", ts=ts, category="street_light_out", lat=47.32, lon=5.04, source="app")),
)


def dijon_scale_records(hours: float, t0: int, *, seed: int = 7) -> Iterator[Record]:
    """A deterministic Dijon-scale stream of `hours` from `t0` (epoch ms), in timestamp order."""
    rng = random.Random(seed)
    end = t0 + int(hours * 3_600_000)
    schedule = []
    for c, (_, count, period, _) in enumerate(ASSET_CLASSES):
        step = int(period * 1000)
        for i in range(count):
            first = t0 + i * step // count
            schedule.extend((ts, c, i) for ts in range(first, end, step))
    schedule.sort()
    offsets = [0] * len(ASSET_CLASSES)
    for ts, c, i in schedule:
        topic, _, _, make = ASSET_CLASSES[c]
        event = make(i, ts, rng)
        key = event.asset_id.encode()
        offsets[c] += 1
        yield Record(ts, topic, zlib.crc32(key) % 3, offsets[c], key, encode(event), None)


def _start_broker() -> EmbeddedBroker:
    last = None
    for _ in range(3):
        try:
            return EmbeddedBroker(free_port()).start()
        except Exception as exc:  # a port just freed may be refused for a moment: try another
            last = exc
    raise RuntimeError(f"the embedded broker did not start: {last}")


def _count(bootstrap: str, topics: list[str], expected: int, timeout: float = 60.0) -> int:
    consumer = make_consumer(bootstrap, check_crcs=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got, deadline = 0, time.monotonic() + timeout
        while got < expected and time.monotonic() < deadline:
            got += sum(len(m) for m in consumer.poll(timeout_ms=200, max_records=20_000).values())
        return got
    finally:
        consumer.close()


def _bench_recorder(bootstrap: str, recording: Recording, folder: Path, n: int) -> dict[str, float]:
    producer = make_producer(bootstrap, linger_ms=50, batch_size=1024 * 1024)
    for k, r in enumerate(recording.iter_records()):
        if k >= n:
            break
        producer.send(r.topic, value=r.value, key=r.key, partition=r.partition, timestamp_ms=r.ts)
    producer.flush()
    producer.close()
    started = time.perf_counter()
    recorder = Recorder(folder, bootstrap=bootstrap, from_beginning=True, max_events=n).start()
    recorder.wait(120)
    manifest = recorder.stop()
    elapsed = time.perf_counter() - started
    return {"record_events": manifest.events, "record_events_per_s": round(manifest.events / elapsed),
            "record_mb": round(sum(s.bytes for s in manifest.segments) / 1e6, 1)}


def bench_replay(hours: float = 2.0, speed: float = 60.0, window_s: float = 60.0,
                 record_events: int = 100_000, fast_s: float = 2.0) -> dict[str, float]:
    """Build a Dijon-scale recording, record part of it, replay it at `speed` for `window_s` of wall time, seek."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="vigie-bench-replay-") as tmp:
        started = time.perf_counter()
        write_recording(Path(tmp) / "dijon", dijon_scale_records(hours, int(time.time() * 1000) - 86_400_000))
        recording = Recording.open(Path(tmp) / "dijon")
        m = recording.manifest
        figures.update(recording_hours=round(m.duration_s / 3600, 2), recording_events=m.events,
                       events_per_sim_s=round(m.events / m.duration_s, 1),
                       recording_mb=round(sum(s.bytes for s in m.segments) / 1e6, 1),
                       build_s=round(time.perf_counter() - started, 1))
        broker = _start_broker()
        try:
            figures.update(_bench_recorder(broker.bootstrap, recording, Path(tmp) / "recorded", record_events))
            replayer = Replayer(recording, session="bench", bootstrap=broker.bootstrap, speed=speed)
            replayer.play()
            t0 = time.perf_counter()
            max_lag = 0.0
            while time.perf_counter() - t0 < window_s:
                time.sleep(0.5)
                max_lag = max(max_lag, replayer.progress().lag_s)
            replayer.pause()
            progress = replayer.progress()
            elapsed = time.perf_counter() - t0
            paced = progress.sent
            figures.update(
                speed_requested=speed,
                replay_window_s=round(elapsed, 1),
                replayed_sim_s=round(progress.position_s, 1),
                replayed_events=paced,
                replay_events_per_s=round(paced / elapsed),
                speed_ratio=round(progress.position_s / elapsed / speed, 3),
                max_lag_s=round(max_lag, 3),
            )
            # Three seeks, forward then back: the median is the figure, the slowest is shown too.
            seeks = [replayer.seek(m.duration_s * share) for share in (0.75, 0.25, 0.5)]
            figures["seek_s"] = round(sorted(seeks)[1], 3)
            figures["seek_max_s"] = round(max(seeks), 3)
            figures["snapshot_events"] = replayer.progress().snapshot_events
            before, t1 = replayer.progress().sent, time.perf_counter()
            replayer.set_speed(None)
            replayer.resume()
            time.sleep(fast_s)
            replayer.pause()
            figures["fast_events_per_s"] = round((replayer.progress().sent - before) / (time.perf_counter() - t1))
            sent = replayer.stop().sent
            topics = [name for name, _ in namespace_topics(replayer.namespace)]
            figures["delivered_events"] = _count(broker.bootstrap, topics, sent)
            figures["sent_events"] = sent
        finally:
            broker.stop()
    return figures
