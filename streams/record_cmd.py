"""`vigie record`: record live topics into a recording folder until --duration, SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from .config import Settings
from .kafka import BrokerUnavailable
from .recorder import Recorder, RecorderError
from .recording import RecordingError, RollPolicy
from .topics import LIVE

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie record`."""
    parser.add_argument("--out", required=True, help="new folder to write the recording into")
    parser.add_argument("--topics", nargs="+", metavar="TOPIC",
                        help="topics to record, full (live.lighting.telemetry) or short (lighting.telemetry); "
                             "default: every topic of the namespace")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--namespace", default=LIVE, help="namespace of the topics to record (default: live)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="also record what the topics still hold from before the start")
    parser.add_argument("--roll-records", type=int, default=RollPolicy.max_records,
                        help="records per segment at most (bounds memory)")
    parser.add_argument("--roll-seconds", type=float, default=RollPolicy.max_age_s,
                        help="seconds a record may wait in memory before its segment is written")
    parser.add_argument("--progress-every", type=float, default=5.0, metavar="S",
                        help="seconds between progress lines")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Record until the duration ends or a stop signal comes; always leave a valid manifest."""
    roll = RollPolicy(max_records=args.roll_records, max_age_s=args.roll_seconds)
    stop = threading.Event()
    try:
        recorder = Recorder(args.out, bootstrap=settings.kafka_bootstrap, topics=args.topics,
                            namespace=args.namespace, duration_s=args.duration,
                            from_beginning=args.from_beginning, roll=roll).start()
    except (RecorderError, RecordingError, BrokerUnavailable, ValueError) as exc:
        print(f"vigie record: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"recording {len(recorder.writer.manifest.topics)} topics into {args.out}; Ctrl-C stops", flush=True)
    next_line = time.monotonic() + args.progress_every
    while not stop.wait(0.2) and not recorder.wait(0):
        if time.monotonic() >= next_line:
            print(recorder.progress().line(), flush=True)
            next_line += args.progress_every
    try:
        manifest = recorder.stop()
    except RecorderError as exc:
        print(f"vigie record: {exc}", file=sys.stderr)
        return 1
    print(recorder.progress().line(), flush=True)
    print(f"recording complete: {manifest.events:,} events over {manifest.duration_s:.1f} s in {args.out}",
          flush=True)
    return 0
