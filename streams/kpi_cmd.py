"""`vigie kpi`: every contract KPI of a period with its value, target, status and penalty, read from the store."""

from __future__ import annotations

import argparse
import json
import sys
import time

import pandas as pd

__all__ = ["add_arguments", "format_table", "run"]

_STATUS = {"on_track": "on track", "at_risk": "AT RISK", "breached": "BREACHED", "no_target": "-", "no_data": "no data"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie kpi`."""
    parser.add_argument("--period", choices=("month", "quarter", "year", "contract"), default="month",
                        help="month, quarter, year or contract to date (default: month)")
    parser.add_argument("--at", help="month the period holds, YYYY-MM (default: the current month)")
    parser.add_argument("--as-of", help="measure up to this UTC time (default: now)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--contract", help="contract YAML file (default: the bundled OnDijon-like contract)")
    parser.add_argument("--namespace", help="store namespace (default: the settings', `live`)")


def _fmt(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "EUR":
        return f"{value:,.0f} EUR"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:,.1f} {unit}"


def format_table(results, period, elapsed_s: float | None = None) -> str:
    """The KPIs as a readable table for the terminal."""
    lines = [f"Contract KPIs, {period.kind} {period.label}", ""]
    lines.append(f"{'KPI':<44} {'value':>16} {'target':>12}  {'status':<9} {'penalty':>12}")
    lines.append("-" * 98)
    for r in results:
        lines.append(f"{r.label_en:<44} {_fmt(r.value, r.unit):>16} {_fmt(r.target, r.unit):>12}  "
                     f"{_STATUS.get(r.status, r.status):<9} {r.penalty_eur:>8,.0f} EUR")
    energy = next((r for r in results if r.key == "energy_saving"), None)
    if energy and energy.details.get("forecast_year_end_pct") is not None:
        lines.append("")
        lines.append(f"Energy saving forecast: {energy.details['forecast_year_end_pct']:.1f} % at the end of the year, "
                     f"{energy.details['forecast_contract_end_pct']:.1f} % over the contract's last 12 months "
                     f"(target {energy.details['contract_target_pct']:.0f} %)")
    if elapsed_s is not None:
        lines.append(f"computed in {elapsed_s:.2f} s")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings) -> int:
    """Read the store, compute the KPIs of the period and print them."""
    from streams.contract import DEFAULT_CONTRACT, ContractError, load_contract
    from streams.kpi import compute_kpis
    from streams.kpi_periods import parse_month, period
    from streams.kpi_store import inventory_assets, read_frames
    from streams.store import open_store

    t0 = time.perf_counter()
    try:
        contract = load_contract(args.contract or DEFAULT_CONTRACT)
        as_of = pd.Timestamp(args.as_of, tz="UTC") if args.as_of else pd.Timestamp.now(tz="UTC")
        at = parse_month(args.at) if args.at else as_of.tz_convert(contract.timezone).date()
        p = period(contract, args.period, at)
    except (ContractError, ValueError) as exc:
        print(f"kpi: {exc}", file=sys.stderr)
        return 2
    if min(p.end, as_of) <= p.start:
        print(f"kpi: period {p.label} has not started at {as_of.isoformat()}", file=sys.stderr)
        return 2
    store = open_store(settings, args.namespace)
    frames = read_frames(store, contract, inventory_assets(settings), as_of=as_of, since=p.start)
    results = compute_kpis(frames, contract, p)
    elapsed = time.perf_counter() - t0
    if args.json:
        out = {"period": {"kind": p.kind, "label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat()},
               "as_of": as_of.isoformat(), "contract": contract.name, "seconds": round(elapsed, 3),
               "kpis": [r.to_dict() for r in results]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(format_table(results, p, elapsed))
    return 0
