"""`vigie replay`: replay a recording into a training session, with a progress bar."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from .config import Settings
from .kafka import BrokerUnavailable
from .recording import RecordingError
from .replayer import IsolationError, Replayer

__all__ = ["add_arguments", "parse_offset", "run"]


def parse_offset(text: str) -> float:
    """Seconds from `S`, `M:S` or `H:M:S`."""
    try:
        seconds = 0.0
        for part in text.split(":"):
            seconds = seconds * 60 + float(part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an offset in seconds or H:M:S") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError("the offset cannot be negative")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie replay`."""
    parser.add_argument("folder", help="recording folder written by `vigie record`")
    parser.add_argument("--session", required=True, help="training session name: replays into train-NAME.*")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0,
                      help="speed factor: 1 = real time (default), 60 = an hour a minute")
    pace.add_argument("--fast", action="store_true", help="as fast as possible")
    parser.add_argument("--from", dest="start", type=parse_offset, default=0.0, metavar="OFFSET",
                        help="start this far into the recording (S or H:M:S), rebuilding the state there")
    parser.add_argument("--loop", action="store_true", help="start again from the beginning at the end")
    parser.add_argument("--all-topics", action="store_true",
                        help="also replay alerts, dead letters and operator commands (by default only field "
                             "events: the session's own processor and trainees produce the rest)")
    parser.add_argument("--progress-every", type=float, default=1.0, metavar="S", help="seconds between progress lines")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Replay until the end (or forever with --loop) or a stop signal."""
    stop = threading.Event()
    try:
        replayer = Replayer(args.folder, session=args.session, bootstrap=settings.kafka_bootstrap,
                            speed=None if args.fast else args.speed, start_s=args.start, loop=args.loop,
                            derived=args.all_topics)
        replayer.play()
    except (RecordingError, IsolationError, BrokerUnavailable, ValueError) as exc:
        print(f"vigie replay: {exc}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"replaying {args.folder} into {replayer.namespace}.*; Ctrl-C stops", flush=True)
    manifest = replayer.recording.manifest
    if "title" in manifest.meta:
        print(f"scenario: {manifest.meta['title']}: {manifest.meta.get('brief_en', '')}", flush=True)
    if not manifest.complete:
        print("note: this recording was cut short (its recorder did not stop cleanly); "
              "it replays up to its last written segment", file=sys.stderr, flush=True)
    next_line = time.monotonic() + args.progress_every
    while not stop.wait(0.1) and not replayer.wait(0):
        if time.monotonic() >= next_line:
            print(replayer.progress().line(), flush=True)
            next_line += args.progress_every
    progress = replayer.stop()
    print(progress.line(), flush=True)
    if progress.error:
        print(f"vigie replay: {progress.error}", file=sys.stderr)
        return 1
    return 0
