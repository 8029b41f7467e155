"""`vigie assets`: the inventory with each asset's live state from the store, for operators' scripts and checks."""

from __future__ import annotations

import argparse
import json
import sys

import orjson

from .config import Settings

__all__ = ["KINDS", "add_arguments", "asset_rows", "run"]

KINDS = ("light", "cabinet", "signal", "camera", "weather")
# attributes of the last event lifted to the top level, per kind
_LIFTED = {
    "light": ("level", "power_w", "power_state", "energy_wh", "status"),
    "cabinet": ("level", "active_power_kw", "lamps_on", "lamps_total", "supply_ok", "working_mode"),
    "signal": ("mode", "plan"),
    "camera": ("state",),
    "weather": ("temperature_c", "road_temperature_c", "wind_speed_ms"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie assets`."""
    parser.add_argument("--commune", help="only the assets of a commune (INSEE code)")
    parser.add_argument("--kind", choices=KINDS, help="only one kind of asset")
    parser.add_argument("--namespace", default=None, help="namespace whose store to read (default: live)")
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of text")


def _load(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else (value or {})


def asset_rows(store, *, commune: str | None = None, kind: str | None = None) -> list[dict]:
    """Inventory assets joined with their live state (state, last seen, and the last reading's main values)."""
    states = {s["asset_id"]: s for s in store.asset_states(kind=kind)}
    out = []
    for asset in store.inventory(kind):
        if commune and asset["commune_code"] != commune:
            continue
        state = states.get(asset["asset_id"])
        attrs = _load(state["attributes"]) if state else {}
        row = {"asset_id": asset["asset_id"], "kind": asset["kind"], "commune_code": asset["commune_code"],
               "name": asset["name"], "lat": asset["lat"], "lon": asset["lon"], "cabinet_id": asset["cabinet_id"],
               "state": state["state"] if state else "unknown",
               "last_seen": state["last_seen"] if state else None,
               "last_changed": state["last_changed"] if state else None}
        for key in _LIFTED.get(asset["kind"], ()):
            row[key] = attrs.get(key)
        row["attributes"] = {k: v for k, v in attrs.items() if k not in ("asset_id", "kind", "v")}
        out.append(row)
    return out


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the assets with their live state."""
    from .store import open_store
    from .topics import validate_namespace

    try:
        namespace = validate_namespace(args.namespace or settings.namespace)
        rows = asset_rows(open_store(settings, namespace), commune=args.commune, kind=args.kind)
    except Exception as exc:  # a missing or unreachable store is a message, not a traceback
        print(f"vigie assets: cannot read the store: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    for r in rows:
        extra = " ".join(f"{k}={r[k]}" for k in _LIFTED.get(r["kind"], ()) if r.get(k) is not None)
        print(f"{r['asset_id']:<14} {r['kind']:<8} {r['commune_code'] or '-':<6} {r['state']:<10} {extra}")
    print(f"{len(rows)} asset(s)", file=sys.stderr)
    return 0
