"""`vigie broker`: run the embedded broker in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .broker import BrokerError, EmbeddedBroker
from .config import DEFAULT_BROKER_PORT, Settings
from .kafka import BrokerUnavailable
from .topics import LIVE, namespace_topics

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie broker`."""
    parser.add_argument("--port", type=int, default=None,
                        help=f"TCP port on 127.0.0.1 (default: the port of KAFKA_BOOTSTRAP, else {DEFAULT_BROKER_PORT})")


def _default_port(settings: Settings) -> int:
    host, _, port = settings.kafka_bootstrap.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        return DEFAULT_BROKER_PORT
    return int(port)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Start the broker, print where it listens, and wait for a stop signal."""
    port = args.port or _default_port(settings)
    broker = EmbeddedBroker(port, log_path=settings.data_dir / "broker.log")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        broker.start()
    except (BrokerError, BrokerUnavailable) as exc:
        print(f"vigie broker: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"broker ready on {broker.bootstrap} ({len(namespace_topics(LIVE))} topics in '{LIVE}'); "
              "Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            if not broker.alive():
                print("vigie broker: the broker process died", file=sys.stderr)
                return 1
        return 0
    finally:
        broker.stop()
