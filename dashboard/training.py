"""What the trainer page reads and steers: sessions, the scenario library, the live-room recorder, debriefs.

The dashboard server owns the sessions it starts (`streams.training.SessionManager`); starting
one renders its scenario first when needed, so it runs in a background thread and the page
shows it as "preparing" meanwhile. Each session's room is served by the same server under
`/salle/<name>/` (`SessionRooms`, a WSGI dispatcher building one app per session on demand).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import flask

from streams.training import SessionError, SessionManager, recordings_dir
from streams.training_state import SessionDir
from streams.topics import training_namespace

__all__ = ["DEBRIEF_FILES", "DEBRIEF_PREFIX", "ROOM_PREFIX", "SPEEDS", "SessionRooms", "TrainingDesk",
           "parse_speed", "room_url"]

log = logging.getLogger(__name__)

ROOM_PREFIX = "/salle"
DEBRIEF_PREFIX = "/formation/debrief"
DEBRIEF_FILES = ("debrief.json", "alerts.csv", "trainees.csv")
SPEEDS = ("1", "5", "10", "30", "60", "max")


def parse_speed(value) -> float | None:
    """A speed choice of the page ('10', 'max') as the replayer's factor (None: as fast as possible)."""
    if value in (None, "", "max"):
        return None
    return float(value)


def room_url(name: str) -> str:
    """Where the room of a session is served."""
    return f"{ROOM_PREFIX}/{name}/"


class TrainingDesk:
    """The trainer page's single access point to training sessions and the recorder of the live room."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.manager = SessionManager(settings)
        self._lock = threading.Lock()
        self._pending: dict[str, dict] = {}
        self._recorder = None
        self._recording_dir: Path | None = None

    # --- library and sessions -------------------------------------------------------------------

    def catalog(self) -> list[dict]:
        """Scenarios and recordings a session can start from (see `SessionManager.catalog`)."""
        try:
            return self.manager.catalog()
        except Exception as exc:  # an unreadable recording folder must not blank the page
            log.warning("training catalog unavailable: %s", exc)
            return []

    def start(self, source: str, *, name: str | None = None, speed: float | None = 10.0, loop: bool = False,
              hours: float | None = None) -> str:
        """Start a session from `scenario:<name>` or `recording:<folder>` in the background; return its name."""
        kind, _, ref = (source or "").partition(":")
        if kind not in ("scenario", "recording") or not ref or "/" in ref or ref.startswith("."):
            raise SessionError("choose a scenario or a recording")
        name = (name or "").strip() or SessionManager._default_name(ref)
        training_namespace(name)  # ValueError with the naming rule
        with self._lock:
            if name in self._pending or SessionDir(self.settings.data_dir, name).path.exists():
                raise SessionError(f"session {name!r} exists already: choose another name")
            self._pending[name] = {"name": name, "status": "preparing", "source": ref, "error": None,
                                   "started_ms": int(time.time() * 1000)}
        args = {"scenario": ref} if kind == "scenario" else {"recording": recordings_dir(self.settings) / ref}
        threading.Thread(target=self._start, args=(name, args, speed, loop, hours), name=f"train-start:{name}",
                         daemon=True).start()
        return name

    def _start(self, name: str, args: dict, speed, loop: bool, hours) -> None:
        try:
            self.manager.start(name=name, speed=speed, loop=loop, hours=hours, **args)
        except Exception as exc:  # shown on the page next to the session's name
            log.exception("training session %s did not start", name)
            with self._lock:
                self._pending[name].update(status="failed", error=f"{exc}")
            return
        with self._lock:
            self._pending.pop(name, None)

    def sessions(self) -> list[dict]:
        """Sessions being prepared, then every session of the data folder, newest first, as plain dicts."""
        with self._lock:
            pending = [dict(p, position_s=0.0, duration_s=0.0, fraction=0.0, speed=None, running=False,
                            title=p["source"]) for p in self._pending.values()]
        listed = []
        for info in self.manager.sessions():
            if info.name in {p["name"] for p in pending}:
                continue
            row = info.to_dict()
            row["title"] = info.state.get("title") or info.scenario or Path(info.recording).name
            row["processor_pid"] = info.state.get("processor_pid")
            listed.append(row)
        return sorted(pending, key=lambda p: -p["started_ms"]) + listed

    def session(self, name: str | None) -> dict | None:
        """One session as listed by `sessions()`, None if unknown."""
        return next((s for s in self.sessions() if s["name"] == name), None) if name else None

    def control(self, name: str, action: str, value=None) -> dict:
        """Steer a session: pause, resume, jump (value: seconds, signed), seek (value: offset), speed, loop, stop."""
        m = self.manager
        try:
            if action == "jump":
                return m.jump(name, float(value))
            if action == "seek":
                return m.seek(name, float(value))
            if action == "speed":
                return m.set_speed(name, parse_speed(value))
            if action == "loop":
                return m.set_loop(name, bool(value))
            if action in ("pause", "resume", "stop"):
                return getattr(m, action)(name)
        except (SessionError, TimeoutError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown action {action!r}"}

    def debrief(self, name: str):
        """The session's debrief (`streams.debrief.Debrief`), from its own store."""
        return self.manager.debrief(name)

    def export_debrief(self, name: str) -> Path:
        """Write the session's debrief files into `data_dir/debriefs/<name>/`; return the folder."""
        from streams.debrief import write_debrief

        folder = Path(self.settings.data_dir) / "debriefs" / name
        write_debrief(self.debrief(name), folder)
        return folder

    def stop_all(self) -> None:
        """Stop every session this server owns and the recorder (at shutdown)."""
        self.manager.stop_all()
        self.stop_recording()

    # --- recorder of the live room --------------------------------------------------------------

    def start_recording(self) -> Path:
        """Record every live topic into `data_dir/recordings/<timestamp>/` until stopped; return the folder."""
        from streams.recorder import Recorder

        with self._lock:
            if self._recorder is not None and self._recorder.progress().state == "recording":
                return self._recording_dir
            folder = recordings_dir(self.settings) / datetime.now().strftime("%Y%m%d-%H%M%S")
            recorder = Recorder(folder, bootstrap=self.settings.kafka_bootstrap).start()
            self._recorder, self._recording_dir = recorder, folder
            return folder

    def stop_recording(self) -> None:
        """Stop the recorder, if one runs (its manifest is finalised)."""
        with self._lock:
            recorder = self._recorder
        if recorder is not None and recorder.progress().state == "recording":
            recorder.stop()

    def recording(self) -> dict | None:
        """The recorder's progress (state, elapsed_s, events, bytes, folder, line), None if none ever ran."""
        if self._recorder is None:
            return None
        p = self._recorder.progress()
        return {"state": p.state, "elapsed_s": p.elapsed_s, "events": p.events, "bytes": p.bytes,
                "error": p.error, "folder": self._recording_dir.name if self._recording_dir else None}

    # --- Flask ----------------------------------------------------------------------------------

    def register(self, server: flask.Flask) -> None:
        """Add the debrief download route `/formation/debrief/<session>/<file>`."""

        def download(name: str, filename: str):
            """A debrief file of a session, computed now."""
            if filename not in DEBRIEF_FILES:
                flask.abort(404)
            try:
                training_namespace(name)
                self.manager.info(name)
                folder = self.export_debrief(name)
            except (SessionError, ValueError):
                flask.abort(404)
            return flask.send_file(folder / filename, as_attachment=True,
                                   download_name=f"debrief-{name}-{filename}")

        server.add_url_rule(f"{DEBRIEF_PREFIX}/<name>/<filename>", "vigie_debrief", download)


class SessionRooms:
    """WSGI middleware serving `/salle/<name>/...` from one app per training session, built on first visit."""

    def __init__(self, wsgi_app, build: Callable[[str], object], exists: Callable[[str], bool]) -> None:
        self.wsgi_app = wsgi_app
        self._build = build
        self._exists = exists
        self._apps: dict[str, object] = {}
        self._lock = threading.Lock()

    def app(self, name: str):
        """The WSGI app of a session's room, None when there is no such session."""
        with self._lock:
            if name not in self._apps:
                try:
                    training_namespace(name)
                except ValueError:
                    return None
                if not self._exists(name):
                    return None
                self._apps[name] = self._build(name)
            return self._apps[name]

    def __call__(self, environ, start_response):
        """Dispatch by path; `/?session=NAME` is redirected to that session's room."""
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/" and "session=" in environ.get("QUERY_STRING", ""):
            from urllib.parse import parse_qs

            name = (parse_qs(environ["QUERY_STRING"]).get("session") or [""])[0]
            return _redirect(start_response, room_url(name))
        if not path.startswith(ROOM_PREFIX + "/"):
            return self.wsgi_app(environ, start_response)
        name, _, rest = path[len(ROOM_PREFIX) + 1:].partition("/")
        app = self.app(name)
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"no training session {name!r}".encode()]
        if not _ and not rest:
            return _redirect(start_response, room_url(name))
        environ = dict(environ, SCRIPT_NAME=environ.get("SCRIPT_NAME", "") + f"{ROOM_PREFIX}/{name}",
                       PATH_INFO="/" + rest)
        return app(environ, start_response)


def _redirect(start_response, location: str):
    start_response("302 Found", [("Location", location), ("Content-Length", "0")])
    return [b""]
