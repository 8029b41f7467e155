"""The `vigie simulate` subcommand: run the Dijon Métropole simulator onto Kafka."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timedelta

from connectors.dijon.scenarios import SCENARIOS, Scenario, get_scenario
from connectors.dijon.sim_base import HOUR_MS, MINUTE_MS, TZ, local_date, local_ms
from connectors.dijon.simulator import PROGRAMMES, Simulator
from streams.config import Settings
from streams.kafka import BrokerUnavailable, ensure_topics, wait_for_broker
from streams.schemas import now_ms
from streams.topics import validate_namespace

__all__ = ["DEFAULT_SEED", "add_arguments", "default_start", "parse_start", "run"]

DEFAULT_SEED = 42
SCENARIO_LEAD_MS = 15 * MINUTE_MS  # a scenario starts this long after the simulation, to see the calm first
BROKER_WAIT_S = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of `vigie simulate`."""
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per wall second (60: one simulated hour per minute; default 1)")
    parser.add_argument("--fast", action="store_true",
                        help="run as fast as possible (measures the top speed) until the simulated clock reaches now")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S wall seconds (default: run until Ctrl-C)")
    parser.add_argument("--scenario", default=None, metavar="NAME",
                        help=f"play a training scenario: {', '.join(SCENARIOS)}")
    parser.add_argument("--list-scenarios", action="store_true", help="print the scenarios and their briefs, then exit")
    parser.add_argument("--start", default=None, metavar="ISO-TIME",
                        help="simulated start time (Europe/Paris unless an offset is given). Default: now at speed 1; "
                             "faster, it starts in the past (now - duration x speed, or now - 24 h without "
                             "--duration) so the simulated clock reaches now at the end, since events more than "
                             "10 minutes ahead of the wall clock are rejected; with --scenario, the start is moved "
                             "back so the scenario begins 15 simulated minutes in")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--namespace", default=None, help="'live' or 'train-<session>' (default: VIGIE_NAMESPACE or live)")
    parser.add_argument("--programme", choices=sorted(PROGRAMMES), default="70",
                        help="night dimming programme: 70 (70 %% 22:00-05:00), 50 (50 %% 23:00-05:00), off (00:00-05:00)")


def parse_start(text: str) -> int:
    """Epoch ms of an ISO time; a time without offset is Europe/Paris. ValueError with a readable message."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"bad --start {text!r}: expected an ISO time such as 2025-01-14T16:00 "
                         "(Europe/Paris unless an offset is given)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=TZ)
    return int(moment.timestamp() * 1000)


def default_start(now: int, speed: float, duration_s: float | None, scenario: Scenario | None) -> tuple[int, int | None]:
    """Start (epoch ms) and scenario onset (None: the simulator's default) when no --start is given."""
    if speed <= 1 and not math.isinf(speed):
        return now, (now + SCENARIO_LEAD_MS if scenario else None)
    span_ms = int(duration_s * speed * 1000) if duration_s is not None and not math.isinf(speed) else 24 * HOUR_MS
    start = now - span_ms
    if scenario is None:
        return start, None
    day = local_date(start + SCENARIO_LEAD_MS)
    onset = local_ms(day, scenario.onset)
    if onset > start + SCENARIO_LEAD_MS:
        onset = local_ms(day - timedelta(days=1), scenario.onset)
    return onset - SCENARIO_LEAD_MS, onset


def _fail(message: str) -> int:
    print(f"vigie simulate: {message}", file=sys.stderr)
    return 2


def _inventory(settings: Settings):
    from connectors.dijon.inventory import build_inventory, inventory_exists, load_inventory, save_inventory

    folder = settings.inventory_dir
    if inventory_exists(folder):
        return load_inventory(folder)
    inventory = build_inventory(42)
    save_inventory(inventory, folder)
    print(f"vigie simulate: inventory built and saved in {folder}", file=sys.stderr)
    return inventory


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the simulator onto the broker; 2 on a bad flag or an unreachable broker."""
    from connectors.dijon.runner import Runner

    if args.list_scenarios:
        for s in SCENARIOS.values():
            print(f"{s.name}: {s.title}, from {s.onset:%H:%M} for {s.duration_h:g} h\n  FR {s.brief_fr}\n  EN {s.brief_en}")
        return 0
    speed = math.inf if args.fast else args.speed
    if not speed > 0:
        return _fail(f"--speed must be positive, got {args.speed}")
    if args.duration is not None and args.duration <= 0:
        return _fail(f"--duration must be positive, got {args.duration}")
    try:
        scenario = get_scenario(args.scenario)
        namespace = validate_namespace(args.namespace or settings.namespace)
        now = now_ms()
        if args.start:
            start, onset = parse_start(args.start), None
        else:
            start, onset = default_start(now, speed, args.duration, scenario)
    except ValueError as exc:
        return _fail(str(exc))
    if start > now + settings.max_future_s * 1000:
        return _fail(f"--start {args.start} is ahead of the wall clock: its events would be rejected as future ones")
    bootstrap = settings.kafka_bootstrap
    try:
        wait_for_broker(bootstrap, timeout=BROKER_WAIT_S)
        ensure_topics(bootstrap, namespace)
    except BrokerUnavailable as exc:
        return _fail(f"{exc}; start one with `vigie broker` or point KAFKA_BOOTSTRAP at a cluster")
    try:
        inventory = _inventory(settings)
    except Exception as exc:  # a damaged save surfaces as JSON, Arrow, key or OS errors alike
        return _fail(f"cannot load the inventory in {settings.inventory_dir} ({exc}); run `vigie inventory --rebuild`")
    sim = Simulator(inventory, seed=args.seed, start_ms=start, scenario=scenario,
                    programme=PROGRAMMES[args.programme], scenario_at_ms=onset)
    begin = datetime.fromtimestamp(start / 1000, TZ)
    pace = "as fast as possible" if math.isinf(speed) else f"x{speed:g}"
    print(f"vigie simulate: {namespace} from {begin:%Y-%m-%d %H:%M} Europe/Paris, {pace}, seed {args.seed}, "
          f"programme {PROGRAMMES[args.programme].name}, broker {bootstrap}", file=sys.stderr)
    if scenario is not None:
        onset_ms, end_ms = sim.scenario_window
        print(f"vigie simulate: scenario {scenario.name} from {datetime.fromtimestamp(onset_ms / 1000, TZ):%Y-%m-%d %H:%M}"
              f" to {datetime.fromtimestamp(end_ms / 1000, TZ):%H:%M}\n  FR {scenario.brief_fr}\n  EN {scenario.brief_en}",
              file=sys.stderr)
    runner = Runner(sim, bootstrap=bootstrap, namespace=namespace, speed=speed, duration_s=args.duration,
                    max_future_s=settings.max_future_s)
    try:
        runner.run()
    except BrokerUnavailable as exc:
        return _fail(f"{exc}; start one with `vigie broker` or point KAFKA_BOOTSTRAP at a cluster")
    return 0
