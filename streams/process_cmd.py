"""`vigie process`: run the stream processor of a namespace into its store."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .config import Settings
from .kafka import BrokerUnavailable

__all__ = ["add_arguments", "run"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie process`."""
    parser.add_argument("--namespace", default=None, help="namespace to process: live or train-<session> "
                        "(default: VIGIE_NAMESPACE, else live)")
    parser.add_argument("--once", action="store_true", help="stop once every partition is read to its end")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--batch", type=int, default=5000, help="events per batch (default 5000)")
    parser.add_argument("--rules", default=None, help="rules file (default: the packaged streams/rules.yaml)")
    parser.add_argument("--inline-fetch", action="store_true",
                        help="read Kafka in this process instead of a fetcher child process")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Process until stopped (SIGINT/SIGTERM), caught up (--once) or out of time (--max-seconds)."""
    from .processor import Processor
    from .rules import RuleConfigError, load_rules
    from .store import OffsetConflict
    from .topics import validate_namespace

    try:
        namespace = validate_namespace(args.namespace or settings.namespace)
        rules = load_rules(args.rules)
    except (ValueError, RuleConfigError) as exc:
        print(f"vigie process: {exc}", file=sys.stderr)
        return 2
    stopping = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.append(True))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    processor = Processor(settings, namespace=namespace, rules=rules, batch_size=args.batch,
                          fetch_process=not args.inline_fetch)
    try:
        processor.connect()
        stats = processor.run(once=args.once, max_seconds=args.max_seconds, should_stop=lambda: bool(stopping))
    except BrokerUnavailable as exc:
        print(f"vigie process: {exc}", file=sys.stderr)
        return 1
    except OffsetConflict as exc:  # a zombie of a rebalance: restart and warm up from the store
        print(f"vigie process: fenced: {exc}", file=sys.stderr)
        return 3
    finally:
        processor.close()
    rate = stats.events / stats.seconds if stats.seconds else 0.0
    print(f"processed {stats.events} events in {stats.batches} batches ({rate:.0f}/s), "
          f"{stats.dead_letters} dead letters, {stats.published} alert transitions published", flush=True)
    return 0
