"""The files through which training sessions are seen and steered from any process.

Each session owns `data_dir/sessions/<name>/`:

- `state.json`: what the owning process last knew (status, progress, speed, recording, the
  owner's pid and heartbeat, the replay timeline, the results of recent requests). It is
  rewritten whole and atomically (temporary file, then rename) about twice a second, so a
  reader never sees half a file.
- `control/`: the request queue. A request is one small JSON file
  (`<ns-timestamp>-<random>.json`, written to a temporary name then renamed), so any number
  of processes can post at once without locks; the owner applies them in name order, deletes
  each and records `{id: {ok, error, at_ms}}` under `results` in `state.json`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COMMANDS", "HEARTBEAT_STALE_S", "SessionDir", "SessionInfo", "pid_alive", "sessions_root"]

COMMANDS = ("pause", "resume", "seek", "speed", "loop", "stop")
HEARTBEAT_STALE_S = 10.0


def sessions_root(data_dir: str | Path) -> Path:
    """Folder that holds one folder per training session."""
    return Path(data_dir) / "sessions"


def pid_alive(pid: int | None) -> bool:
    """True if a process with this id exists on this machine."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


@dataclass(frozen=True)
class SessionInfo:
    """One session as listed from its state file, whichever process runs it."""

    name: str
    namespace: str
    status: str
    position_s: float
    duration_s: float
    speed: float | None
    loop: bool
    recording: str
    scenario: str | None
    started_ms: int
    owner_pid: int | None
    alive: bool
    error: str | None
    state: dict

    @property
    def fraction(self) -> float:
        """Share of the recording played, 0 to 1."""
        return min(1.0, self.position_s / self.duration_s) if self.duration_s > 0 else 1.0

    @property
    def running(self) -> bool:
        """True while the owning process is alive and the session was not stopped."""
        return self.alive and self.status not in ("stopped", "error")

    def to_dict(self) -> dict:
        """Plain fields for JSON (without the raw state)."""
        return {"name": self.name, "namespace": self.namespace, "status": self.status,
                "position_s": self.position_s, "duration_s": self.duration_s, "fraction": self.fraction,
                "speed": self.speed, "loop": self.loop, "recording": self.recording, "scenario": self.scenario,
                "started_ms": self.started_ms, "owner_pid": self.owner_pid, "alive": self.alive,
                "running": self.running, "error": self.error}


class SessionDir:
    """The folder of one session: its state file and its control queue."""

    def __init__(self, data_dir: str | Path, name: str) -> None:
        self.name = name
        self.path = sessions_root(data_dir) / name
        self.state_path = self.path / "state.json"
        self.control = self.path / "control"

    def exists(self) -> bool:
        """True once a session of this name was started here."""
        return self.state_path.exists()

    def create(self) -> None:
        """Make the folders."""
        self.control.mkdir(parents=True, exist_ok=True)

    def read_state(self) -> dict | None:
        """The last state written, or None if there is none (yet)."""
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # cannot happen with the atomic rename, unless the file was edited by hand
            return None

    def write_state(self, state: dict) -> None:
        """Replace the state file atomically."""
        _write_json(self.state_path, state)

    def info(self) -> SessionInfo | None:
        """The session as listed, with its owner's liveness checked (pid and heartbeat)."""
        s = self.read_state()
        if s is None:
            return None
        fresh = time.time() * 1000 - s.get("heartbeat_ms", 0) < HEARTBEAT_STALE_S * 1000
        alive = pid_alive(s.get("owner_pid")) and fresh
        status = s.get("status", "unknown")
        if not alive and status not in ("stopped", "error"):
            status = "lost"
        return SessionInfo(
            name=self.name, namespace=s.get("namespace", f"train-{self.name}"), status=status,
            position_s=float(s.get("position_s", 0.0)), duration_s=float(s.get("duration_s", 0.0)),
            speed=s.get("speed"), loop=bool(s.get("loop")), recording=s.get("recording", ""),
            scenario=s.get("scenario"), started_ms=int(s.get("started_ms", 0)), owner_pid=s.get("owner_pid"),
            alive=alive, error=s.get("error"), state=s)

    def post(self, command: str, **args) -> str:
        """Queue a control request for the owner; returns its id."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r} (known: {', '.join(COMMANDS)})")
        self.control.mkdir(parents=True, exist_ok=True)
        request_id = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        _write_json(self.control / f"{request_id}.json", {"id": request_id, "command": command, "args": args})
        return request_id

    def take(self) -> list[dict]:
        """Pending requests, oldest first, removed from the queue."""
        out = []
        try:
            names = sorted(p for p in os.listdir(self.control) if p.endswith(".json") and not p.startswith("."))
        except FileNotFoundError:
            return out
        for name in names:
            path = self.control / name
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                out.append({"id": name[:-5], "command": None, "error": f"unreadable request: {exc}"})
            path.unlink(missing_ok=True)
        return out

    def wait_result(self, request_id: str, timeout: float = 10.0) -> dict:
        """Wait until the owner reports on a request; returns `{ok, error, at_ms}`."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.read_state() or {}
            result = state.get("results", {}).get(request_id)
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"session {self.name!r} did not answer request {request_id} in {timeout:g} s")
            time.sleep(0.05)
