"""`vigie report --month YYYY-MM --out DIR`: the monthly contract report (PDF and CSV tables) from the store."""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie report`."""
    parser.add_argument("--month", help="month to report, YYYY-MM (default: the current month)")
    parser.add_argument("--out", default="reports", help="folder to write the files into (default: reports)")
    parser.add_argument("--as-of", help="measure up to this UTC time (default: now)")
    parser.add_argument("--contract", help="contract YAML file (default: the bundled OnDijon-like contract)")
    parser.add_argument("--namespace", help="store namespace (default: the settings', `live`)")


def run(args: argparse.Namespace, settings) -> int:
    """Compute the month's KPIs and twelve months of history from the store and write the report files."""
    from connectors.dijon.inventory import build_inventory, inventory_exists, load_inventory
    from streams.contract import DEFAULT_CONTRACT, ContractError, load_contract
    from streams.kpi import compute_kpis, kpi_history
    from streams.kpi_periods import Period, month, parse_month
    from streams.kpi_store import read_frames
    from streams.report import write_report
    from streams.store import open_store

    t0 = time.perf_counter()
    try:
        contract = load_contract(args.contract or DEFAULT_CONTRACT)
        as_of = pd.Timestamp(args.as_of, tz="UTC") if args.as_of else pd.Timestamp.now(tz="UTC")
        at = parse_month(args.month) if args.month else as_of.tz_convert(contract.timezone).date()
        p = month(contract, at.year, at.month)
    except (ContractError, ValueError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    if p.start >= as_of:
        print(f"report: {p.label} has not started at {as_of.isoformat()}", file=sys.stderr)
        return 2
    first = pd.Period(p.label, "M") - 11
    try:
        span_start = month(contract, first.year, first.month).start
    except ValueError:
        span_start = pd.Timestamp(contract.start, tz=contract.timezone).tz_convert("UTC")
    span = Period("span", span_start, p.end, f"{first} → {p.label}")
    inventory = load_inventory(settings.inventory_dir) if inventory_exists(settings.inventory_dir) \
        else build_inventory(seed=42)
    frames = read_frames(open_store(settings, args.namespace), contract, inventory.assets, as_of=as_of,
                         since=span.start)
    results = compute_kpis(frames, contract, p)
    history = kpi_history(frames, contract, span)
    files = write_report(results, history, p, contract, args.out, as_of=min(as_of, p.end),
                         communes=inventory.communes, progress=lambda step: print(f"... {step}", file=sys.stderr))
    for name in ("pdf", "kpis_csv", "history_csv", "communes_csv"):
        print(f"{name}={getattr(files, name)}")
    print(f"seconds={time.perf_counter() - t0:.2f}")
    return 0
