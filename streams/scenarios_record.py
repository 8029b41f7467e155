"""The scenario library: each Dijon simulator scenario rendered, deterministically, into a recording folder.

A scenario recording opens half an hour before the onset on a fixed day that suits it, and runs
through the situation (at most `MAX_HOURS`). The same seed gives the same events and the same
segment checksums; the manifest's `meta` carries the scenario's name, title and trainee brief.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

from kafka.partitioner import murmur2

from .config import Settings
from .recording import Manifest, Record, RecordingWriter
from .schemas import encode
from .topics import CATALOG, LIVE, event_topic

__all__ = ["LEAD_H", "MAX_HOURS", "SCENARIO_DAYS", "add_arguments", "render_all", "render_scenario", "run",
           "simulated_records"]

LEAD_H = 0.5
MAX_HOURS = 12.0
STEP_MS = 60_000
# A day that suits each situation (local date of the onset).
SCENARIO_DAYS = {
    "storm-night": date(2025, 10, 22),
    "ice-morning": date(2025, 1, 14),
    "heatwave": date(2025, 7, 1),
    "cabinet-outage": date(2025, 11, 18),
    "stadium-event": date(2025, 9, 27),
}
_PARTITIONS = {f"{LIVE}.{spec.suffix}": spec.partitions for spec in CATALOG}


def simulated_records(simulator, end_ms: int) -> Iterator[Record]:
    """The simulator's events up to `end_ms` as recorded Kafka records: catalog topic, key, Kafka's partition."""
    offsets: dict[tuple[str, int], int] = {}
    topics: dict[str, str] = {}
    while simulator.clock < end_ms:
        for event in simulator.advance(min(end_ms, simulator.clock + STEP_MS)):
            topic = topics.get(event.kind) or topics.setdefault(event.kind, event_topic(LIVE, event.kind))
            key = event.asset_id.encode()
            partition = (murmur2(key) & 0x7FFFFFFF) % _PARTITIONS[topic]
            offset = offsets.get((topic, partition), 0)
            offsets[(topic, partition)] = offset + 1
            yield Record(event.ts, topic, partition, offset, key, encode(event), None)


def render_scenario(name: str, out: str | Path, *, inventory=None, seed: int = 42,
                    hours: float | None = None) -> Manifest:
    """Render one scenario into a new recording folder and return its manifest."""
    from connectors.dijon.inventory import build_inventory
    from connectors.dijon.scenarios import get_scenario
    from connectors.dijon.sim_base import local_ms
    from connectors.dijon.simulator import Simulator

    scenario = get_scenario(name)
    inventory = inventory if inventory is not None else build_inventory(seed)
    onset = local_ms(SCENARIO_DAYS.get(name, date(2025, 3, 12)), scenario.onset)
    start = onset - int(LEAD_H * 3_600_000)
    hours = hours if hours is not None else min(scenario.duration_h + 2 * LEAD_H, MAX_HOURS)
    end = start + int(hours * 3_600_000)
    simulator = Simulator(inventory, seed=seed, start_ms=start, scenario=scenario, scenario_at_ms=onset)
    meta = {"scenario": scenario.name, "title": scenario.title, "brief_fr": scenario.brief_fr,
            "brief_en": scenario.brief_en, "seed": seed, "onset_ms": onset,
            "onset_offset_s": (onset - start) / 1000, "scenario_hours": scenario.duration_h}
    with RecordingWriter(out, namespace=LIVE, meta=meta) as writer:
        for spec in CATALOG:
            writer.add_topic(f"{LIVE}.{spec.suffix}")
        for r in simulated_records(simulator, end):
            writer.append(r.topic, r.partition, r.offset, r.ts, r.key, r.value)
    return writer.manifest


def render_all(folder: str | Path, *, names: list[str] | None = None, seed: int = 42,
               hours: float | None = None) -> dict[str, Manifest]:
    """Render every scenario (or the named ones) into `folder/<name>/`."""
    from connectors.dijon.inventory import build_inventory
    from connectors.dijon.scenarios import SCENARIOS

    inventory = build_inventory(seed)
    return {name: render_scenario(name, Path(folder) / name, inventory=inventory, seed=seed, hours=hours)
            for name in (names or list(SCENARIOS))}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the scenario library command."""
    parser.add_argument("--out", required=True, help="folder that receives one recording folder per scenario")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="render only these scenarios")
    parser.add_argument("--seed", type=int, default=42, help="inventory and simulator seed")
    parser.add_argument("--hours", type=float,
                        help=f"hours per recording (default: the scenario's, at most {MAX_HOURS:g})")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Render the scenario library and print one line per recording."""
    try:
        manifests = render_all(args.out, names=args.only, seed=args.seed, hours=args.hours)
    except ValueError as exc:
        print(f"scenarios: {exc}", file=sys.stderr)
        return 2
    for name, m in manifests.items():
        print(f"{name}: {m.events:,} events over {timedelta(seconds=round(m.duration_s))} in {Path(args.out) / name}")
    return 0
