"""The `vigie inventory` subcommand: build, save or load the Dijon inventory and print its counts."""

from __future__ import annotations

import argparse
import json
import sys

from connectors.dijon.geography import load_communes_geojson
from connectors.dijon.inventory import (
    build_inventory,
    counts_table,
    inventory_counts,
    inventory_exists,
    load_inventory,
    save_inventory,
)
from streams.config import Settings

__all__ = ["add_arguments", "run"]

DEFAULT_SEED = 42


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the flags of `vigie inventory`."""
    parser.add_argument("--json", action="store_true", help="print the counts per asset kind and per commune as JSON")
    parser.add_argument("--seed", type=int, default=None, help=f"random seed of a new build (default {DEFAULT_SEED})")
    parser.add_argument("--communes", metavar="FILE", default=None,
                        help="official commune boundaries (GeoJSON with properties code and nom)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild and save even if an inventory is saved")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load the saved inventory (or build and save it), then print its counts; 2 on a bad input."""
    folder = settings.inventory_dir
    try:
        communes = load_communes_geojson(args.communes) if args.communes else None
    except ValueError as exc:
        print(f"vigie inventory: {exc}", file=sys.stderr)
        return 2
    if args.rebuild or not inventory_exists(folder):
        inv = build_inventory(DEFAULT_SEED if args.seed is None else args.seed, communes)
        try:
            save_inventory(inv, folder)
        except OSError as exc:
            print(f"vigie inventory: cannot save the inventory in {folder} ({exc})", file=sys.stderr)
            return 2
        print(f"inventory built and saved in {folder}", file=sys.stderr)
    else:
        try:
            inv = load_inventory(folder)
        except Exception as exc:  # a damaged save surfaces as JSON, Arrow, key or OS errors alike
            print(f"vigie inventory: cannot read the inventory in {folder} ({exc}); use --rebuild", file=sys.stderr)
            return 2
        if (args.seed is not None and args.seed != inv.seed) or (communes is not None and inv.approximate):
            print(f"note: showing the inventory saved in {folder}; add --rebuild to build it anew", file=sys.stderr)
    print(json.dumps(inventory_counts(inv), ensure_ascii=False, indent=2) if args.json else counts_table(inv))
    return 0
