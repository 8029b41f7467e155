"""`vigie backfill --days N`: generate N days of history up to now straight into the store, and say how fast."""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd

__all__ = ["add_arguments", "run"]

_log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie backfill`."""
    parser.add_argument("--days", type=int, default=365, help="days of history to generate (default 365)")
    parser.add_argument("--end", help="end of the window, ISO date or time in UTC (default: now, on the hour)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same history")
    parser.add_argument("--replace", action="store_true",
                        help="first delete the window's energy rows, closed fault and maintenance intervals "
                             "and the alerts an earlier backfill wrote")
    parser.add_argument("--contract", help="contract YAML file (default: the bundled OnDijon-like contract)")
    parser.add_argument("--namespace", help="store namespace (default: the settings', `live`)")
    parser.add_argument("--dry-run", action="store_true", help="generate only, write nothing, print the counts")


def run(args: argparse.Namespace, settings) -> int:
    """Generate the history and write it into the store; print counts and timings as key=value lines."""
    from streams.backfill import energy_chunks, generate_history
    from streams.backfill_store import BackfillConflict, write_history
    from streams.contract import DEFAULT_CONTRACT, ContractError, load_contract
    from streams.kpi_store import inventory_assets
    from streams.store import open_store

    if args.days < 1:
        print("--days must be at least 1")
        return 2
    try:
        contract = load_contract(args.contract or DEFAULT_CONTRACT)
    except ContractError as exc:
        print(f"contract: {exc}")
        return 2
    end = pd.Timestamp(args.end, tz="UTC") if args.end else pd.Timestamp.now(tz="UTC")
    end = end.floor("h")
    start = end - pd.Timedelta(days=args.days)
    t0 = time.perf_counter()
    assets = inventory_assets(settings)
    t_inv = time.perf_counter()
    history = generate_history(assets, contract, start, end, seed=args.seed,
                               namespace=args.namespace or settings.namespace)
    chunks = energy_chunks(assets, contract, start, end, seed=args.seed)
    print(f"window={start.isoformat()}/{end.isoformat()} days={args.days} seed={args.seed}")
    if args.dry_run:
        rows = sum(len(c) for c in chunks)
        print(f"alerts={len(history.alerts)} intervals={len(history.intervals)} feed_outages={len(history.outages)} "
              f"energy_rows={rows} generate_s={time.perf_counter() - t_inv:.2f}")
        return 0
    store = open_store(settings, args.namespace)
    try:
        done = write_history(store, history, chunks, replace=args.replace,
                             progress=lambda n: _log.debug("energy rows written: %s", n))
    except BackfillConflict as exc:
        print(f"backfill: {exc}")
        return 1
    total = time.perf_counter() - t0
    for key in ("alerts", "transitions", "interventions", "intervals", "feed_outages", "energy_rows", "seq"):
        print(f"{key}={done[key]}")
    if done["cleared"]:
        print("cleared=" + ",".join(f"{k}:{v}" for k, v in done["cleared"].items()))
    print(f"inventory_s={t_inv - t0:.2f} facts_s={done['facts_seconds']:.2f} write_s={done['seconds']:.2f} "
          f"total_s={total:.2f} "
          f"days_per_s={args.days / total:.1f}")
    return 0
