"""`vigie bench NAME`: the project's benchmarks, printing `key=value` lines measured in one run."""

from __future__ import annotations

import argparse
import importlib
import sys

from .config import Settings

__all__ = ["BENCHMARKS", "add_arguments", "run"]

# name -> (module, function); each function takes keyword options and returns a dict of figures.
BENCHMARKS: dict[str, tuple[str, str]] = {
    "decode": ("streams.bench_decode", "bench_decode"),
    "processor": ("streams.bench", "bench_processor"),
    "simulator": ("connectors.dijon.bench", "bench_simulator"),
    "replay": ("streams.bench_replay", "bench_replay"),
    "dashboard": ("dashboard.bench", "bench_dashboard"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie bench`."""
    parser.add_argument("name", choices=[*BENCHMARKS, "all"], help="which benchmark to run")
    parser.add_argument("--events", type=int, default=None, metavar="N",
                        help="processor: events in the recorded stream (default 400,000: about 2 h 20 min of Dijon)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one benchmark (or all) and print its figures as key=value lines."""
    names = list(BENCHMARKS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        module, function = BENCHMARKS[name]
        try:
            bench = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as exc:
            print(f"# {name}: not available ({exc})", file=sys.stderr)
            status = 1
            continue
        print(f"# {name}", flush=True)
        options: dict = {}
        if name == "processor":
            if settings.database_url:
                options["database_url"] = settings.database_url
            if args.events:
                options["n_events"] = args.events
        for key, value in bench(**options).items():
            print(f"{key}={value}", flush=True)
    return status
