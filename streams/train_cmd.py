"""`vigie train`: start, list, control and debrief training sessions."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .config import Settings
from .replay_cmd import parse_offset

__all__ = ["add_arguments", "parse_relative", "parse_speed", "run"]


def parse_speed(text: str) -> float | None:
    """A speed factor, or None for `fast`."""
    if text.lower() in ("fast", "max", "inf"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed factor (a number, or fast)") from None


def parse_relative(text: str) -> tuple[str, float]:
    """`+S`/`-S` (or H:M:S) relative to the current position, else an absolute offset: (sign, seconds)."""
    sign = text[0] if text[:1] in "+-" else ""
    return sign, parse_offset(text[1:] if sign else text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands of `vigie train`."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("start", help="start a session from a scenario or a recording")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenario", help="scenario name (rendered into DATA/recordings/ if missing)")
    src.add_argument("--recording", help="recording folder")
    p.add_argument("--name", help="session name (default: scenario or folder name and the time)")
    p.add_argument("--speed", type=parse_speed, default=10.0, help="speed factor, or fast (default 10)")
    p.add_argument("--from", dest="start", type=parse_offset, default=0.0, metavar="OFFSET",
                   help="start this far into the recording (S or H:M:S)")
    p.add_argument("--loop", action="store_true", help="start again from the beginning at the end")
    p.add_argument("--paused", action="store_true", help="start paused")
    p.add_argument("--hours", type=float, help="hours of scenario to render when it is missing")
    p.add_argument("--detach", action="store_true", help="run the session in the background and return")
    p.add_argument("--progress-every", type=float, default=5.0, metavar="S", help="seconds between progress lines")
    p = sub.add_parser("list", help="list sessions with their progress")
    p.add_argument("--all", action="store_true", help="include stopped sessions")
    p.add_argument("--json", action="store_true", help="print JSON")
    for action, text in (("pause", "pause a session"), ("resume", "resume a session"), ("stop", "stop a session")):
        sub.add_parser(action, help=text).add_argument("name")
    p = sub.add_parser("seek", help="jump to an offset (S or H:M:S; +S/-S from the current position)")
    p.add_argument("name")
    p.add_argument("offset", type=parse_relative)
    p = sub.add_parser("speed", help="change the speed (a factor, or fast)")
    p.add_argument("name")
    p.add_argument("speed", type=parse_speed)
    p = sub.add_parser("loop", help="turn looping on or off")
    p.add_argument("name")
    p.add_argument("state", choices=("on", "off"))
    p = sub.add_parser("debrief", help="debrief a session: actions, response times, missed alerts, scores")
    p.add_argument("name")
    p.add_argument("--out", help="folder for alerts.csv, trainees.csv and debrief.json")
    p.add_argument("--json", action="store_true", help="print the debrief as JSON")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `vigie train` action."""
    from .training import SessionError, SessionManager

    manager = SessionManager(settings)
    try:
        if args.action == "start":
            return _detach(args, settings, manager) if args.detach else _start(args, manager)
        if args.action == "list":
            return _list(args, manager)
        if args.action == "debrief":
            return _debrief(args, manager)
        return _control(args, manager)
    except (SessionError, ValueError, TimeoutError) as exc:
        print(f"vigie train: {exc}", file=sys.stderr)
        return 2


def _start(args, manager) -> int:
    session = manager.start(scenario=args.scenario, recording=args.recording, name=args.name, speed=args.speed,
                            start_s=args.start, loop=args.loop, paused=args.paused, hours=args.hours)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    state = session.state()
    print(f"session {session.name}: replaying {session.recording_path} into {session.namespace}.*", flush=True)
    if state.get("title"):
        print(f"scenario: {state['title']}: {state.get('brief_en') or ''}", flush=True)
    print(f"steer it with `vigie train pause|resume|seek|speed|stop {session.name}`", flush=True)
    next_line = time.monotonic() + args.progress_every
    while not stop.wait(0.2) and session.running:
        if time.monotonic() >= next_line:
            print(session.progress().line(), flush=True)
            next_line += args.progress_every
    session.stop()
    print(f"session {session.name} stopped: {session.progress().line()}", flush=True)
    return 1 if session.error else 0


def _detach(args, settings, manager) -> int:
    from .training import SessionNotFound

    name = args.name or manager._default_name(args.scenario or Path(args.recording).name)
    argv = ["train", "start", *(("--scenario", args.scenario) if args.scenario else ("--recording", args.recording)),
            "--name", name, "--speed", "fast" if args.speed is None else str(args.speed), "--from", str(args.start),
            "--progress-every", str(args.progress_every), *(["--loop"] if args.loop else []),
            *(["--paused"] if args.paused else []), *(["--hours", str(args.hours)] if args.hours else [])]
    log_path = Path(settings.data_dir) / "sessions" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", *argv], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            info = manager.info(name)
        except SessionNotFound:
            info = None
        if info is not None and info.running and info.status != "starting":
            print(f"session {name} started in the background (pid {proc.pid}, log {log_path})")
            return 0
        if proc.poll() is not None:
            print(f"vigie train: the session did not start:\n{log_path.read_text()[-2000:]}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"vigie train: session {name} did not start within 120 s (see {log_path})", file=sys.stderr)
    return 1


def _fmt_speed(speed) -> str:
    return "fast" if speed is None else f"{speed:g}x"


def _list(args, manager) -> int:
    infos = manager.sessions(running_only=not args.all)
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=1))
        return 0
    if not infos:
        print("no training session" + ("" if args.all else " running (--all lists stopped ones)"))
        return 0
    for i in infos:
        print(f"{i.name:<32} {i.status:<9} {i.position_s / 60:7.1f} / {i.duration_s / 60:.1f} min "
              f"({i.fraction:4.0%}) {_fmt_speed(i.speed):>6}{' loop' if i.loop else ''}  "
              f"{i.scenario or Path(i.recording).name}")
    return 0


def _control(args, manager) -> int:
    if args.action == "seek":
        sign, seconds = args.offset
        result = (manager.jump(args.name, seconds if sign == "+" else -seconds) if sign
                  else manager.seek(args.name, seconds))
    elif args.action == "speed":
        result = manager.set_speed(args.name, args.speed)
    elif args.action == "loop":
        result = manager.set_loop(args.name, args.state == "on")
    else:
        result = getattr(manager, args.action)(args.name)
    if not result.get("ok"):
        print(f"vigie train: {args.action} {args.name}: {result.get('error')}", file=sys.stderr)
        return 1
    info = manager.info(args.name)
    print(f"{args.name}: {info.status} at {info.position_s / 60:.1f} / {info.duration_s / 60:.1f} min, "
          f"{_fmt_speed(info.speed)}")
    return 0


def _debrief(args, manager) -> int:
    from .debrief import write_debrief

    debrief = manager.debrief(args.name)
    if args.out:
        for path in write_debrief(debrief, args.out):
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(debrief.to_dict(), ensure_ascii=False, indent=1))
        return 0
    c = debrief.counts
    print(f"session {args.name}: {c['alerts']} alerts, {c['handled']} handled, {c['missed']} missed, "
          f"{c['self-cleared']} cleared by themselves, {c['pending']} pending, {c['not-scored']} not scored "
          f"(info or absorbed); room score {debrief.score}")
    for t in debrief.trainees:
        mean = "-" if t.ack_mean_s is None else f"{t.ack_mean_s / 60:.1f} min"
        print(f"  {t.actor:<20} handled {t.handled:>4}  acks on time {t.ack_on_time:>4}  mean ack {mean:>9}  "
              f"contract on time {t.contract_on_time} late {t.contract_late}  score {t.score}")
    for a in debrief.missed[:20]:
        print(f"  missed: #{a.alert_id} {a.severity} {a.priority or '-'} {a.title} ({a.asset_id})")
    return 0
