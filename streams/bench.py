"""Processor benchmark: a Dijon-like recorded stream on the embedded broker, the raw consume ceiling, the processor.

`bench_processor()` produces the same stream to the embedded broker once per scale (Dijon, and
10x the assets), measures in the same run how fast a bare kafka-python consumer reads it (the
ceiling), then how fast the processor turns it into store rows, and returns `key=value`
figures. The processor starts, as in a room, with the inventory of the stream's assets in its
store. The stream comes from the Dijon simulator when its modules are present, else from
`synthetic_stream`, a generator of valid events at Dijon proportions (lamp telemetry dominant).
`python -m streams.bench processor` prints the figures.
"""

from __future__ import annotations

import logging
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .schemas import (
    CabinetMetering,
    CameraHealth,
    Event,
    IncidentReport,
    LampFault,
    LampTelemetry,
    SignalStatus,
    WeatherObservation,
    encode,
)

__all__ = ["SyntheticInventory", "bench_processor", "dijon_stream", "main", "synthetic_inventory",
           "synthetic_stream", "to_records"]

log = logging.getLogger(__name__)
PERIOD_S = {"light": 900, "cabinet": 300, "signal": 60, "camera": 60, "weather": 300}
_CENTRE = (47.3220, 5.0400)

# The stream of `vigie bench processor`: about 2 h 20 min of Dijon, a backlog long enough that the rate
# is the processor's steady pace rather than its start and its last commit (36 minutes of Dijon, 100,000
# events, drain in about a second, much of it those two).
PROCESSOR_EVENTS = 400_000


@dataclass(frozen=True)
class SyntheticInventory:
    """A small stand-in for the Dijon inventory: an assets frame with the inventory columns, and communes."""

    assets: pd.DataFrame
    communes: pd.DataFrame


def synthetic_inventory(n_lamps: int = 200, *, lamps_per_cabinet: int = 40, signals: int = 5, cameras: int = 5,
                        weather: int = 2, seed: int = 1, prefix: str = "") -> SyntheticInventory:
    """Lamps grouped behind cabinets around central Dijon, a few signals, cameras and weather stations."""
    rng = np.random.default_rng(seed)
    rows = []
    n_cab = max(1, -(-n_lamps // lamps_per_cabinet))
    cab_pos = np.column_stack([_CENTRE[0] + rng.uniform(-0.03, 0.03, n_cab),
                               _CENTRE[1] + rng.uniform(-0.05, 0.05, n_cab)])
    for k in range(n_cab):
        rows.append(dict(asset_id=f"{prefix}CAB-{k + 1:04d}", kind="cabinet", lat=cab_pos[k, 0], lon=cab_pos[k, 1],
                         cabinet_id=None, lamps_total=min(lamps_per_cabinet, n_lamps - k * lamps_per_cabinet)))
    for i in range(n_lamps):
        k = i // lamps_per_cabinet
        # Lamps of a cabinet sit along a street a few hundred metres long, 25 m apart.
        j = i % lamps_per_cabinet
        rows.append(dict(asset_id=f"{prefix}LP-{i + 1:06d}", kind="light", lat=cab_pos[k, 0] + j * 0.000225,
                         lon=cab_pos[k, 1], cabinet_id=f"{prefix}CAB-{k + 1:04d}", lamp_type="LED",
                         wattage_w=float(rng.choice([29.0, 36.0, 42.0])), baseline_w=100.0))
    for kind, n, label in (("signal", signals, "SIG"), ("camera", cameras, "CAM"), ("weather", weather, "WS")):
        for i in range(n):
            rows.append(dict(asset_id=f"{prefix}{label}-{i + 1:03d}", kind=kind,
                             lat=_CENTRE[0] + rng.uniform(-0.02, 0.02), lon=_CENTRE[1] + rng.uniform(-0.03, 0.03),
                             cabinet_id=None))
    frame = pd.DataFrame(rows)
    frame["commune_code"] = "21231"
    frame["name"] = frame["asset_id"]
    frame["period_s"] = frame["kind"].map(PERIOD_S).astype("Int64")
    communes = pd.DataFrame([{"code": "21231", "name": "Dijon", "population": 159346, "approximate": True}])
    return SyntheticInventory(frame, communes)


def synthetic_stream(inventory, *, start_ms: int, duration_s: float, seed: int = 2, faults: bool = True,
                     reports: bool = True, invalid_every: int = 0) -> list[tuple[str, bytes, bytes]]:
    """Valid events (topic suffix, key, value) of every periodic asset over a time span, in time order.

    With `faults`, one cabinet loses its supply mid-way, a few lamps fail and recover, one
    camera goes offline, a crossroads flashes, gusts pass over a station, and (with `reports`)
    citizens report a light out next to a failed lamp. With `invalid_every`, one event in that
    many is followed by a garbage one.
    """
    rng = np.random.default_rng(seed)
    a = inventory.assets
    end_ms = start_ms + int(duration_s * 1000)
    out: list[tuple[int, str, Event]] = []
    lamps = a[a["kind"] == "light"]
    cabinets = a[a["kind"] == "cabinet"]
    outage_cab = cabinets["asset_id"].iloc[0] if faults and len(cabinets) else None
    outage = (start_ms + (end_ms - start_ms) // 3, start_ms + 2 * (end_ms - start_ms) // 3)
    lamp_cab = dict(zip(lamps["asset_id"], lamps["cabinet_id"]))
    watts = dict(zip(lamps["asset_id"], lamps.get("wattage_w", pd.Series(36.0, index=lamps.index)).fillna(36.0)))
    failing = set(lamps["asset_id"].iloc[1::97]) if faults else set()

    def times(period_s: float) -> np.ndarray:
        first = start_ms + int(rng.uniform(0, period_s * 1000))
        return np.arange(first, end_ms, int(period_s * 1000))

    for aid in lamps["asset_id"]:
        cab = lamp_cab[aid]
        base = float(rng.uniform(1e5, 2e5))
        for t in times(PERIOD_S["light"]):
            t = int(t)
            dark = outage_cab == cab and outage[0] <= t < outage[1]
            if dark:
                continue  # no supply, no telemetry
            level = 70.0
            power = watts[aid] * level / 100
            energy = round(base + watts[aid] * level / 100 * (t - start_ms) / 3.6e6, 3)
            status = "defectiveLamp" if aid in failing and t > start_ms + (end_ms - start_ms) // 2 else "ok"
            out.append((t, "lighting.telemetry", LampTelemetry(
                asset_id=aid, ts=t, power_state="low", level=level, power_w=round(power, 2), energy_wh=energy,
                status=status, cabinet_id=cab)))
        if aid in failing:
            t0 = start_ms + int(rng.uniform(0.1, 0.3) * (end_ms - start_ms))
            out.append((t0, "lighting.faults", LampFault(asset_id=aid, ts=t0, fault="lampFailure", active=True,
                                                         cabinet_id=cab)))
            out.append((t0 + 60_000, "lighting.faults", LampFault(asset_id=aid, ts=t0 + 60_000, fault="lampFailure",
                                                                  active=False, cabinet_id=cab)))
    for row in cabinets.itertuples():
        members = lamps[lamps["cabinet_id"] == row.asset_id]["asset_id"]
        kw = sum(watts[m] for m in members) * 0.7 / 1000
        for t in times(PERIOD_S["cabinet"]):
            t = int(t)
            off = row.asset_id == outage_cab and outage[0] <= t < outage[1]
            energy = round(1000.0 + kw * (t - start_ms) / 3.6e6, 4)
            out.append((t, "lighting.cabinets", CabinetMetering(
                asset_id=row.asset_id, ts=t, energy_kwh=energy, active_power_kw=0.0 if off else round(kw, 3),
                working_mode="automatic", supply_ok=not off, lamps_on=0 if off else len(members),
                lamps_total=len(members), level=70.0)))
        if row.asset_id == outage_cab:
            for m in list(members)[:5]:
                out.append((outage[0] + 1000, "lighting.faults", LampFault(
                    asset_id=m, ts=outage[0] + 1000, fault="supplyLoss", active=True, cabinet_id=row.asset_id)))
                out.append((outage[1] + 1000, "lighting.faults", LampFault(
                    asset_id=m, ts=outage[1] + 1000, fault="supplyLoss", active=False, cabinet_id=row.asset_id)))
    for i, aid in enumerate(a[a["kind"] == "signal"]["asset_id"]):
        for t in times(PERIOD_S["signal"]):
            t = int(t)
            mode = "flashing" if faults and i == 0 and outage[0] <= t < outage[1] else "normal"
            out.append((t, "traffic.status", SignalStatus(asset_id=aid, ts=t, mode=mode, plan="P1")))
    for i, aid in enumerate(a[a["kind"] == "camera"]["asset_id"]):
        for t in times(PERIOD_S["camera"]):
            t = int(t)
            state = "offline" if faults and i == 0 and t > (start_ms + end_ms) // 2 else "online"
            out.append((t, "cameras.health", CameraHealth(asset_id=aid, ts=t, state=state, bitrate_kbps=2048.0)))
    for i, aid in enumerate(a[a["kind"] == "weather"]["asset_id"]):
        for t in times(PERIOD_S["weather"]):
            t = int(t)
            gust = 25.0 if faults and i == 0 and outage[0] <= t < outage[1] else 8.0
            out.append((t, "weather.observations", WeatherObservation(
                asset_id=aid, ts=t, temperature_c=12.0, road_temperature_c=9.0, humidity_pct=70.0,
                wind_speed_ms=5.0, gust_ms=gust, precipitation_mm_h=0.0)))
    if faults and reports and failing:
        for n, aid in enumerate(sorted(failing)[:3]):
            row = lamps[lamps["asset_id"] == aid].iloc[0]
            t = start_ms + int(0.8 * (end_ms - start_ms)) + n * 1000
            out.append((t, "incidents.reports", IncidentReport(
                asset_id=f"RPT-{seed}-{n}", ts=t, category="street_light_out", lat=float(row["lat"]) + 0.0001,
                lon=float(row["lon"]), source="app", description="Lampadaire éteint")))
        t = start_ms + int(0.9 * (end_ms - start_ms))
        out.append((t, "incidents.reports", IncidentReport(
            asset_id=f"RPT-{seed}-pothole", ts=t, category="pothole", lat=_CENTRE[0], lon=_CENTRE[1],
            source="citizen", description="Nid de poule")))
    out.sort(key=lambda e: e[0])
    records = []
    for i, (_, feed, event) in enumerate(out):
        if invalid_every and i % invalid_every == invalid_every - 1:
            records.append((feed, event.asset_id.encode(), b'{"kind": "lamp.telemetry", "asset_id": "broken"'))
        records.append((feed, event.asset_id.encode(), encode(event)))
    return records


def to_records(events, replicas: int = 1) -> list[tuple[str, bytes, bytes]]:
    """(topic suffix, key, value) of events; with replicas > 1, each asset is copied as `<id>.<k>` (10x assets)."""
    from .topics import event_topic

    records = []
    for event in events:
        feed = event_topic("live", event.kind).split(".", 1)[1]
        if replicas == 1:
            records.append((feed, event.asset_id.encode(), encode(event)))
            continue
        for k in range(replicas):
            changes = {"asset_id": f"{event.asset_id}.{k}"}
            if getattr(event, "cabinet_id", None):
                changes["cabinet_id"] = f"{event.cabinet_id}.{k}"
            copy = _replace(event, changes)
            records.append((feed, copy.asset_id.encode(), encode(copy)))
    return records


def _replace(event: Event, changes: dict) -> Event:
    import msgspec

    return msgspec.structs.replace(event, **changes)


def dijon_stream(n_events: int, *, replicas: int = 1, seed: int = 42) -> tuple[list, str, SyntheticInventory]:
    """About n_events of a Dijon-like stream (with replicas, that many copies of every asset), its source,
    and the inventory of the assets it speaks of (copied as the stream's assets are)."""
    start_ms = (int(time.time() * 1000) - 2 * 86_400_000) // 3_600_000 * 3_600_000
    try:
        from connectors.dijon.inventory import build_inventory
        from connectors.dijon.simulator import Simulator
    except ImportError:
        Simulator = None
    if Simulator is not None:
        try:
            inventory = build_inventory(seed=seed)
            sim = Simulator(inventory, seed=seed, start_ms=start_ms)
            events: list = []
            clock = start_ms
            per_copy = -(-n_events // replicas)
            while len(events) < per_copy:
                clock += 60_000
                events.extend(sim.advance(clock))
            return (to_records(events[:per_copy], replicas)[:n_events], "simulator",
                    _copies(SyntheticInventory(inventory.assets, inventory.communes), replicas))
        except Exception as exc:  # the simulator is someone else's moving part: fall back, say so
            log.warning("Dijon simulator unavailable (%s): using the synthetic generator", exc)
    inv = synthetic_inventory(34_000 * replicas, signals=113 * replicas, cameras=269 * replicas,
                              weather=12 * replicas, seed=seed)
    rate = 34_000 * replicas / 900 + (len(inv.assets) / 40) / 300 + (113 + 269) * replicas / 60
    stream = synthetic_stream(inv, start_ms=start_ms, duration_s=n_events / rate * 1.05, seed=seed)
    return stream[:n_events], "synthetic", inv


def _copies(inventory: SyntheticInventory, replicas: int) -> SyntheticInventory:
    """The inventory of `to_records`' copies: asset `<id>.<k>` behind cabinet `<cabinet>.<k>`."""
    if replicas == 1:
        return inventory
    frames = []
    for k in range(replicas):
        copy = inventory.assets.copy()
        copy["asset_id"] = copy["asset_id"] + f".{k}"
        has_cabinet = copy["cabinet_id"].notna() & (copy["cabinet_id"] != "")
        copy.loc[has_cabinet, "cabinet_id"] = copy.loc[has_cabinet, "cabinet_id"] + f".{k}"
        frames.append(copy)
    return SyntheticInventory(pd.concat(frames, ignore_index=True), inventory.communes)


def _produce(bootstrap: str, namespace: str, records) -> None:
    from .kafka import make_producer
    from .topics import validate_namespace

    prefix = validate_namespace(namespace) + "."
    producer = make_producer(bootstrap, linger_ms=50)
    for feed, key, value in records:
        producer.send(prefix + feed, value=value, key=key)
    producer.flush(timeout=120)
    producer.close()


def _ceiling(bootstrap: str, namespace: str, n: int) -> dict:
    """How fast a bare kafka-python consumer, configured as the processor's, reads the source topics."""
    from kafka import TopicPartition

    from .kafka import make_consumer
    from .processor import CONSUMER_SETTINGS
    from .topics import source_topics

    consumer = make_consumer(bootstrap, **CONSUMER_SETTINGS)
    parts = [TopicPartition(t, p) for t in source_topics(namespace) for p in consumer.partitions_for_topic(t) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    seen = 0
    first = cpu = None
    deadline = time.monotonic() + 300
    while seen < n and time.monotonic() < deadline:
        polled = consumer.poll(timeout_ms=500, max_records=5000)
        got = sum(len(v) for v in polled.values())
        if got and first is None:
            first, cpu = time.monotonic(), time.process_time()
        seen += got
    elapsed = time.monotonic() - (first or time.monotonic())
    cpu_s = time.process_time() - (cpu or time.process_time())
    consumer.close()
    return {"rate": seen / elapsed if elapsed > 0 else 0.0, "cpu_rate": seen / cpu_s if cpu_s > 0 else 0.0,
            "rss_mb": _peak_rss_mb()}


def _fresh_store(database_url: str | None, inventory: SyntheticInventory, folder: str) -> tuple[str, str | None]:
    """A new store holding the inventory, as a room's store does: a SQLite file in `folder`, or a new schema
    of `database_url`. Returns its URL and schema. Filled here, so the processor's own peak memory is
    measured, not the loading's."""
    from .store import Store, dispose_engines
    from .store.inventory import load_inventory_into

    url, schema = ((database_url, f"bench_{time.time_ns()}") if database_url
                   else (f"sqlite:///{Path(folder) / 'bench.db'}", None))
    load_inventory_into(Store.from_url(url, schema=schema), inventory)
    dispose_engines()
    return url, schema


def _processor(bootstrap: str, namespace: str, n: int, fetch_process: bool, store_url: str,
               schema: str | None) -> dict:
    """The processor over the namespace into a store made by `_fresh_store`.

    Its rate runs from its first records to its last write.
    """
    from .config import Settings
    from .processor import Processor
    from .store import Store, dispose_engines

    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        settings = Settings(kafka_bootstrap=bootstrap, data_dir=Path(tmp), namespace=namespace)
        store = Store.from_url(store_url, schema=schema)
        proc = Processor(settings, store=store, group_id=f"bench-{time.time_ns()}", fetch_process=fetch_process)
        try:
            stats = proc.run(once=True, max_seconds=900)
        finally:
            proc.close()
        summary = store.status_summary()
        dispose_engines()
    elapsed = stats.seconds - (stats.first_batch_s or 0.0)
    fetcher_s = stats.fetcher_cpu_s or 0.0
    cpu_s = (stats.busy_cpu_s or 0.0) + fetcher_s
    return {"rate": stats.events / elapsed if elapsed > 0 else 0.0,
            "cpu_rate": stats.events / cpu_s if cpu_s > 0 else 0.0,
            "fetcher_cpu_us": fetcher_s * 1e6 / stats.events if stats.events else 0.0, "rss_mb": _peak_rss_mb(),
            "stored": summary["events_processed"] + summary["dead_letters"], "open_alerts": summary["open_alerts"]}


def _measured_processor(bootstrap: str, namespace: str, n: int, database_url: str | None,
                        inventory: SyntheticInventory, *, fetch_process: bool) -> dict:
    """One processor run in a fresh interpreter, over a fresh store holding the inventory."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as folder:
        return _in_child(_processor, bootstrap, namespace, n, fetch_process,
                         *_fresh_store(database_url, inventory, folder))


def _in_child(function, *args) -> dict:
    """Run one measurement in a fresh interpreter, so each has its own peak memory and no leftovers."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_child_call, args=(results, function, args))
    child.start()
    try:
        ok, value = results.get(timeout=1800)
    finally:
        child.join(timeout=60)
    if not ok:
        raise RuntimeError(f"benchmark step {function.__name__} failed: {value}")
    return value


def _child_call(results, function, args) -> None:
    try:
        results.put((True, function(*args)))
    except Exception as exc:  # reported to the parent, which raises
        results.put((False, f"{type(exc).__name__}: {exc}"))


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def bench_processor(n_events: int = PROCESSOR_EVENTS, scales: tuple[int, ...] = (1, 10), seed: int = 42,
                    repeats: int = 3, database_url: str | None = None) -> dict:
    """Processor throughput beside the raw consume ceiling, at Dijon scale and 10x the assets.

    Each figure is the best of `repeats` runs, ceiling and processor alike, each in a fresh
    interpreter: the machines are shared, and a neighbour's burst should not decide the ratio.
    The processor runs as `vigie process` does, Kafka read by its fetcher process; `inline_fetch_*`
    is one run with Kafka read in the processor's own process. The `cpu_*` figures count CPU time
    over the same span as the rates (from the first records on): `cpu_us_per_event` is the
    processor's and its fetcher's together (`fetcher_cpu_us_per_event` the fetcher's part),
    `ceiling_cpu_us_per_event` the bare consumer's. On a machine of C cores the processor cannot
    go faster than C / cpu_us_per_event million events per second, whatever the overlap. With
    `database_url` (`VIGIE_DATABASE_URL` for `vigie bench processor`) the store is PostgreSQL.
    """
    from .broker import EmbeddedBroker, free_port

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    figures: dict = {"events": n_events, "store": "postgresql" if database_url else "sqlite"}
    namespaces = tuple(f"train-bench-x{s}" for s in scales)
    broker = EmbeddedBroker(free_port())
    broker.start(namespaces=namespaces)
    try:
        for scale, namespace in zip(scales, namespaces):
            suffix = "" if scale == 1 else f"_x{scale}"
            records, source, inventory = dijon_stream(n_events, replicas=scale, seed=seed)
            _produce(broker.bootstrap, namespace, records)
            assets = len({key for _, key, _ in records})
            del records
            ceilings, runs = [], []
            args = (broker.bootstrap, namespace, n_events, database_url, inventory)
            for _ in range(repeats):
                ceilings.append(_in_child(_ceiling, broker.bootstrap, namespace, n_events))
                runs.append(_measured_processor(*args, fetch_process=True))
            inline = _measured_processor(*args, fetch_process=False)  # Kafka read in the processor's process
            ceiling = max(c["rate"] for c in ceilings)
            best = max(runs, key=lambda r: r["rate"])
            cpu_ceiling = max(c["cpu_rate"] for c in ceilings)
            leanest = max(runs, key=lambda r: r["cpu_rate"])
            cpu_best = leanest["cpu_rate"]
            figures.update({
                f"source{suffix}": source,
                f"assets_in_stream{suffix}": assets,
                f"inventory_assets{suffix}": len(inventory.assets),
                f"events_per_s{suffix}": round(best["rate"]),
                f"ceiling_events_per_s{suffix}": round(ceiling),
                f"ratio_to_ceiling{suffix}": round(best["rate"] / ceiling, 3) if ceiling else 0.0,
                f"cpu_events_per_s{suffix}": round(cpu_best),
                f"cpu_ceiling_events_per_s{suffix}": round(cpu_ceiling),
                f"cpu_ratio_to_ceiling{suffix}": round(cpu_best / cpu_ceiling, 3) if cpu_ceiling else 0.0,
                f"cpu_us_per_event{suffix}": round(1e6 / cpu_best, 2) if cpu_best else 0.0,
                f"fetcher_cpu_us_per_event{suffix}": round(leanest["fetcher_cpu_us"], 2),
                f"ceiling_cpu_us_per_event{suffix}": round(1e6 / cpu_ceiling, 2) if cpu_ceiling else 0.0,
                f"peak_rss_mb{suffix}": max(r["rss_mb"] for r in runs),
                f"ceiling_peak_rss_mb{suffix}": max(c["rss_mb"] for c in ceilings),
                f"stored_events{suffix}": best["stored"],
                f"open_alerts{suffix}": best["open_alerts"],
                f"runs_events_per_s{suffix}": "/".join(str(round(r["rate"])) for r in runs),
                f"runs_ceiling_events_per_s{suffix}": "/".join(str(round(c["rate"])) for c in ceilings),
                f"inline_fetch_events_per_s{suffix}": round(inline["rate"]),
                f"inline_fetch_cpu_events_per_s{suffix}": round(inline["cpu_rate"]),
            })
    finally:
        broker.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    """`python -m streams.bench processor [N_EVENTS]`: print the figures as key=value lines."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "processor":
        print("usage: python -m streams.bench processor [N_EVENTS]", file=sys.stderr)
        return 2
    n = int(argv[1]) if len(argv) > 1 else PROCESSOR_EVENTS
    logging.basicConfig(level=logging.WARNING)
    for key, value in bench_processor(n).items():
        print(f"{key}={value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
