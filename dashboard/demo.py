"""`vigie demo`: the whole room on one machine — broker, simulator, processor and dashboard.

Each part runs as its own child process, exactly as it would on a server; the demo only
starts them in order, prints what runs where, relays their output and stops them all on
Ctrl-C (or when one of them dies).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass

from streams.broker import BrokerError, EmbeddedBroker, die_with_parent
from streams.config import DEFAULT_BROKER_PORT, Settings
from streams.kafka import BrokerUnavailable

__all__ = ["add_arguments", "run"]


@dataclass(frozen=True)
class Part:
    """One child process of the demo."""

    name: str
    argv: tuple[str, ...]
    where: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vigie demo`."""
    parser.add_argument("--port", type=int, default=8050, help="dashboard port on 127.0.0.1 (default 8050)")
    parser.add_argument("--broker-port", type=int, default=DEFAULT_BROKER_PORT,
                        help=f"embedded broker port (default {DEFAULT_BROKER_PORT})")
    parser.add_argument("--speed", type=float, default=1.0, help="simulation speed (1 = real time)")
    parser.add_argument("--scenario", default=None, help="simulator scenario (storm-night, ice-morning, ...)")
    parser.add_argument("--no-open", dest="open", action="store_false",
                        help="do not open the dashboard in a browser (opened only where a display exists)")
    parser.add_argument("--external-broker", action="store_true",
                        help="do not start the embedded broker; use KAFKA_BOOTSTRAP")


def _parts(args: argparse.Namespace) -> list[Part]:
    sim = ["simulate", "--speed", str(args.speed)]
    if args.scenario:
        sim += ["--scenario", args.scenario]
    return [
        Part("simulator", tuple(sim)),
        Part("processor", ("process",)),
        Part("dashboard", ("dashboard", "--port", str(args.port)), f"http://127.0.0.1:{args.port}/"),
    ]


def _relay(name: str, stream) -> None:
    for line in iter(stream.readline, b""):
        sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
        sys.stdout.flush()


def _spawn(part: Part, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", *part.argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        # Own process group: a terminal's Ctrl-C reaches the demo only, which stops each part once.
        start_new_session=True,
    )
    threading.Thread(target=_relay, args=(part.name, proc.stdout), daemon=True).start()
    return proc


def _stop_all(procs: dict[str, subprocess.Popen]) -> None:
    for proc in reversed(list(procs.values())):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# one demo seat per role: name, role (their passwords are drawn again at every start of the demo)
SEATS = (("admin", "admin"), ("operateur", "operator"), ("superviseur", "supervisor"),
         ("gestionnaire", "manager"), ("formateur", "trainer"), ("stagiaire", "trainee"))


def demo_seats(settings: Settings) -> list[tuple[str, str, str]]:
    """Make one user per role for this demo and draw their passwords: (name, role, password).

    Only seats the demo created itself get a new password; a seat someone created or changed by
    hand (another creator, another role) is left alone and listed without a password.
    """
    from streams.store.accounts import Accounts

    accounts = Accounts.from_settings(settings)
    known = {u["name"]: u for u in accounts.users()}
    seats = []
    for name, role in SEATS:
        password = secrets.token_urlsafe(12)
        user = known.get(name)
        if user is None:
            accounts.add_user(name, role, password, by="demo")
        elif user["created_by"] == "demo" and user["role"] == role:
            accounts.set_password(name, password, by="demo")
        else:
            password = "(unchanged)"
        seats.append((name, role, password))
    return seats


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Start every part of the room, print where they are, and wait for Ctrl-C."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    broker = None
    bootstrap = settings.kafka_bootstrap
    if not args.external_broker:
        broker = EmbeddedBroker(args.broker_port, log_path=settings.data_dir / "broker.log")
        try:
            broker.start()
        except (BrokerError, BrokerUnavailable) as exc:
            print(f"vigie demo: {exc}", file=sys.stderr)
            return 2
        bootstrap = broker.bootstrap
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "VIGIE_DATA_DIR": str(settings.data_dir.resolve()),
           "PYTHONUNBUFFERED": "1"}
    procs: dict[str, subprocess.Popen] = {}
    try:
        print(f"Vigie demo — data in {settings.data_dir.resolve()}")
        print(f"  broker     {'embedded Tansu' if broker else 'external'} on {bootstrap}")
        # Build the inventory once, before the parts that all read it.
        subprocess.run([sys.executable, "-m", "dashboard.cli", "inventory"], env=env, check=True,
                       stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)
        seats = demo_seats(settings)
        parts = _parts(args)
        for part in parts:
            procs[part.name] = _spawn(part, env)
            print(f"  {part.name:<10} pid {procs[part.name].pid}" + (f"  →  {part.where}" if part.where else ""))
        print(f"  sign in at {next(p.where for p in parts if p.name == 'dashboard')} "
              "with one seat per role (passwords drawn for this run):")
        for name, role, password in seats:
            print(f"             {name:<13} {role:<11} {password}")
        print("  add your own users: vigie user add NAME --role ROLE --by admin")
        print("Ctrl-C stops everything.", flush=True)
        dashboard = next(p for p in parts if p.name == "dashboard")
        if args.open and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            threading.Timer(4.0, webbrowser.open, args=(dashboard.where,)).start()
        while not stop.wait(0.5):
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                print(f"vigie demo: {', '.join(dead)} stopped (exit {procs[dead[0]].returncode}); stopping the room",
                      file=sys.stderr)
                return 1
            if broker is not None and not broker.alive():
                print("vigie demo: the broker died; stopping the room", file=sys.stderr)
                return 1
        return 0
    finally:
        _stop_all(procs)
        if broker is not None:
            broker.stop()
        print("Vigie demo stopped.")
