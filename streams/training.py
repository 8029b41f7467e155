"""Training sessions: a recording (or a ready scenario) replayed into its own `train-<name>` room.

A `SessionManager` starts sessions (each a `TrainingSession` owned by this process), lists
every session of the data folder whichever process owns it, steers them (directly when it
owns them, else through the session's request queue, see `streams.training_state`) and
debriefs them from their own store.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

from .debrief import Debrief, debrief_from_store
from .topics import training_namespace
from .training_session import SessionError, TrainingSession
from .training_state import SessionDir, SessionInfo, sessions_root

__all__ = ["SessionError", "SessionExists", "SessionManager", "SessionNotFound", "TrainingSession",
           "recordings_dir"]


class SessionExists(SessionError):
    """A session of that name is running, or ran before (its topics hold that replay)."""


class SessionNotFound(SessionError):
    """No session of that name in the data folder."""


def recordings_dir(settings) -> Path:
    """Where scenario recordings are rendered and recordings are looked for by name."""
    return Path(settings.data_dir) / "recordings"


def _now_ms() -> int:
    return int(time.time() * 1000)


class SessionManager:
    """Starts, lists, steers and debriefs the training sessions of one data folder."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self._owned: dict[str, TrainingSession] = {}
        self._lock = threading.Lock()

    # --- starting -----------------------------------------------------------------------------

    def scenario_recording(self, scenario: str, *, hours: float | None = None) -> Path:
        """The recording of a scenario under `data_dir/recordings/`, rendered first if missing."""
        from .scenarios_record import render_scenario

        target = recordings_dir(self.settings) / scenario
        if (target / "manifest.json").exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{scenario}.{os.getpid()}.{threading.get_ident()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        render_scenario(scenario, tmp, hours=hours)
        try:
            os.rename(tmp, target)
        except OSError:  # another process rendered it meanwhile: same seed, same recording
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def start(self, *, scenario: str | None = None, recording: str | Path | None = None, name: str | None = None,
              speed: float | None = 10.0, start_s: float = 0.0, loop: bool = False, paused: bool = False,
              hours: float | None = None) -> TrainingSession:
        """Start a session from a scenario name or a recording folder; SessionExists if the name is taken."""
        if (scenario is None) == (recording is None):
            raise SessionError("give either a scenario or a recording")
        if recording is None:
            recording = self.scenario_recording(scenario, hours=hours)
        elif not (Path(recording) / "manifest.json").exists():
            raise SessionError(f"{recording} is not a recording folder (no manifest.json)")
        name = name or self._default_name(scenario or Path(recording).name)
        training_namespace(name)
        folder = sessions_root(self.settings.data_dir) / name
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()  # atomic: of two processes starting the same name, one wins
        except FileExistsError:
            info = SessionDir(self.settings.data_dir, name).info()
            if info is None:
                raise SessionExists(f"session {name!r} is being started by another process") from None
            if info.running:
                raise SessionExists(f"session {name!r} is already running (pid {info.owner_pid})") from None
            raise SessionExists(f"session {name!r} ran before and its topics hold that replay: "
                                "choose another name") from None
        try:
            session = TrainingSession(self.settings, name, recording, speed=speed, start_s=start_s, loop=loop,
                                      paused=paused, scenario=scenario).start()
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # nothing was replayed: the name stays free
            raise
        with self._lock:
            self._owned[name] = session
        return session

    def catalog(self) -> list[dict]:
        """Scenarios and recordings a session can start from: name, title, briefs, folder (None if not rendered)."""
        from connectors.dijon.scenarios import SCENARIOS

        from .recording import Recording, RecordingError

        out, seen = [], set()
        for scenario in SCENARIOS.values():
            folder = recordings_dir(self.settings) / scenario.name
            seen.add(scenario.name)
            out.append({"kind": "scenario", "name": scenario.name, "title": scenario.title,
                        "brief_fr": scenario.brief_fr, "brief_en": scenario.brief_en,
                        "folder": str(folder) if (folder / "manifest.json").exists() else None})
        root = recordings_dir(self.settings)
        for folder in sorted(root.iterdir()) if root.exists() else ():
            if folder.name in seen or not (folder / "manifest.json").exists():
                continue
            try:
                manifest = Recording.open(folder).manifest
            except RecordingError:
                continue
            out.append({"kind": "recording", "name": folder.name, "title": manifest.meta.get("title", folder.name),
                        "brief_fr": manifest.meta.get("brief_fr"), "brief_en": manifest.meta.get("brief_en"),
                        "folder": str(folder), "duration_s": manifest.duration_s, "events": manifest.events})
        return out

    @staticmethod
    def _default_name(base: str) -> str:
        slug = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:30] or "session"
        return f"{slug}-{datetime.now().strftime('%H%M%S')}"

    # --- listing ------------------------------------------------------------------------------

    def sessions(self, *, running_only: bool = False) -> list[SessionInfo]:
        """Every session of the data folder, newest first, with its progress and liveness."""
        root = sessions_root(self.settings.data_dir)
        infos = [SessionDir(self.settings.data_dir, p.name).info() for p in root.iterdir() if p.is_dir()] \
            if root.exists() else []
        infos = [i for i in infos if i is not None and (i.running or not running_only)]
        return sorted(infos, key=lambda i: i.started_ms, reverse=True)

    def info(self, name: str) -> SessionInfo:
        """One session as listed; SessionNotFound if none."""
        info = SessionDir(self.settings.data_dir, name).info()
        if info is None:
            raise SessionNotFound(f"no training session {name!r} in {sessions_root(self.settings.data_dir)}")
        return info

    def owned(self, name: str) -> TrainingSession | None:
        """The session object if this process runs it."""
        return self._owned.get(name)

    # --- control ------------------------------------------------------------------------------

    def control(self, name: str, command: str, *, timeout: float = 15.0, **args) -> dict:
        """Apply a command to a session, here or through its queue; returns `{ok, error}`."""
        session = self._owned.get(name)
        if session is not None and session.running:
            try:
                session.apply(command, args)
                return {"ok": True, "error": None}
            except Exception as exc:  # the same answer as through the queue: the page shows it
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        info = self.info(name)
        if not info.running:
            return {"ok": False, "error": f"session {name!r} is not running ({info.status})"}
        sdir = SessionDir(self.settings.data_dir, name)
        return sdir.wait_result(sdir.post(command, **args), timeout)

    def pause(self, name: str) -> dict:
        """Pause a session's replay."""
        return self.control(name, "pause")

    def resume(self, name: str) -> dict:
        """Resume a paused session."""
        return self.control(name, "resume")

    def seek(self, name: str, offset_s: float) -> dict:
        """Jump to `offset_s` seconds into the session's recording."""
        return self.control(name, "seek", offset_s=float(offset_s))

    def jump(self, name: str, delta_s: float) -> dict:
        """Seek relative to the current position (`-600`: ten minutes back)."""
        return self.seek(name, max(0.0, self.info(name).position_s + delta_s))

    def set_speed(self, name: str, speed: float | None) -> dict:
        """Change a session's speed (None: as fast as possible)."""
        return self.control(name, "speed", speed=speed)

    def set_loop(self, name: str, loop: bool) -> dict:
        """Turn looping on or off."""
        return self.control(name, "loop", loop=bool(loop))

    def stop(self, name: str, *, timeout: float = 30.0) -> dict:
        """Stop a session: its replay and its processor."""
        result = self.control(name, "stop", timeout=timeout)
        session = self._owned.get(name)
        if session is not None:
            session.stop()
        return result

    def stop_all(self) -> None:
        """Stop every session this process owns."""
        for session in list(self._owned.values()):
            session.stop()

    # --- debrief ------------------------------------------------------------------------------

    def timeline(self, name: str) -> list[dict]:
        """The session's replay timeline, closed at its last known position."""
        state = self.info(name).state
        points = list(state.get("timeline", []))
        if state.get("status") not in ("stopped", "error"):
            at = state.get("heartbeat_ms", _now_ms())
            points.append({"wall_ms": at, "before_s": state.get("position_s", 0.0),
                           "position_s": state.get("position_s", 0.0)})
        return points

    def debrief(self, name: str, *, now_ms: int | None = None) -> Debrief:
        """The session's debrief, from its own store."""
        from .store import open_store

        session = self._owned.get(name)
        if session is not None and session.running:
            session.save_state()
        store = open_store(self.settings, training_namespace(name))
        return debrief_from_store(store, name, timeline=self.timeline(name),
                                  now_ms=now_ms if now_ms is not None else _now_ms())
