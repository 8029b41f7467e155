"""`vigie status`: the room's status from the store (assets, open alerts, events, dead letters, lag)."""

from __future__ import annotations

import argparse
import json
import sys

from .config import Settings

__all__ = ["add_arguments", "format_status", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie status`."""
    parser.add_argument("--namespace", default=None, help="namespace whose store to read (default: live)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def format_status(summary: dict) -> str:
    """The status summary as a few lines of text."""
    sev = summary["open_alerts_by_severity"]
    lines = [
        f"assets with a live state: {summary['assets_with_state']:,} (inventory {summary['inventory_assets']:,})",
        "  " + (", ".join(f"{k} {v:,}" for k, v in sorted(summary["assets_by_state"].items())) or "(none yet)"),
        f"open alerts: {summary['open_alerts']:,} (" + ", ".join(f"{k} {v}" for k, v in sev.items())
        + f"), {summary['absorbed_alerts']:,} absorbed by a parent",
        f"events processed: {summary['events_processed']:,}; dead letters: {summary['dead_letters']:,}; "
        f"lag: {summary['lag']:,}",
    ]
    for t in summary["topics"]:
        lines.append(f"  {t['topic']:<40} {t['events']:>10,} events {t['rate']:>8.1f}/s lag {t['lag']:>7,} "
                     f"dead {t['dead_letters']:>5,}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the status summary of a namespace's store."""
    from .store import open_store
    from .topics import validate_namespace

    try:
        namespace = validate_namespace(args.namespace or settings.namespace)
        store = open_store(settings, namespace)
        summary = store.status_summary()
    except Exception as exc:  # a missing or unreachable store is a message, not a traceback
        print(f"vigie status: cannot read the store: {exc}", file=sys.stderr)
        return 1
    summary["namespace"] = namespace
    print(json.dumps(summary, indent=2, default=str) if args.json else format_status(summary))
    return 0
