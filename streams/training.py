"""Training sessions: a recording (or a ready scenario) replayed into its own `train-<name>` room.

A `TrainingSession` is owned by the process that started it: it creates the session's topics,
runs the session's processor as a child process (`vigie process --namespace train-<name>`,
which dies with its parent) writing to the session's own store, and plays the recording with a
`Replayer` thread. A `SessionManager` starts sessions, lists every session of the data folder
(whichever process owns it) and steers them: directly when it owns them, else through the
session's request queue (see `streams.training_state`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from .broker import die_with_parent
from .debrief import Debrief, debrief_from_store
from .kafka import ensure_topics
from .recording import Recording
from .replayer import ReplayProgress, Replayer
from .topics import training_namespace
from .training_state import SessionDir, SessionInfo, sessions_root

__all__ = ["SessionError", "SessionExists", "SessionManager", "SessionNotFound", "TrainingSession",
           "recordings_dir"]

ROOT = Path(__file__).resolve().parents[1]
_TICK_S = 0.2
_STATE_EVERY_S = 0.5


class SessionError(RuntimeError):
    """A training session cannot be started or steered; the message says why."""


class SessionExists(SessionError):
    """A session of that name is running, or ran before (its topics hold that replay)."""


class SessionNotFound(SessionError):
    """No session of that name in the data folder."""


def recordings_dir(settings) -> Path:
    """Where scenario recordings are rendered and recordings are looked for by name."""
    return Path(settings.data_dir) / "recordings"


def _now_ms() -> int:
    return int(time.time() * 1000)


class TrainingSession:
    """One running session, owned by this process: processor child, replayer thread, control loop."""

    def __init__(self, settings, name: str, recording: str | Path, *, speed: float | None = 10.0,
                 start_s: float = 0.0, loop: bool = False, paused: bool = False, scenario: str | None = None,
                 processor_args: tuple[str, ...] = ("--inline-fetch",)) -> None:
        self.settings = settings
        self.name = name
        self.namespace = training_namespace(name)
        self.dir = SessionDir(settings.data_dir, name)
        self.recording_path = Path(recording).resolve()
        self.scenario = scenario
        self.replayer = Replayer(Recording.open(self.recording_path), session=name,
                                 bootstrap=settings.kafka_bootstrap, speed=speed, start_s=start_s, loop=loop)
        self._paused_at_start = paused
        self._processor_args = processor_args
        self.processor: subprocess.Popen | None = None
        self.started_ms = _now_ms()
        self.timeline: list[dict] = []
        self.results: dict[str, dict] = {}
        self.error: str | None = None
        self._status = "starting"
        self._ready_by: float | None = None
        self.processor_timeout_s = 60.0
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._monitor: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "TrainingSession":
        """Create the topics, start the processor and the replay, then the control loop."""
        self.dir.create()
        self._write_state()
        try:
            ensure_topics(self.settings.kafka_bootstrap, self.namespace)
            self.processor = self._spawn_processor()
            # Held until the processor has joined its group, so the first minutes do not pile up unseen.
            self.replayer.play(paused=True)
        except BaseException as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self._shutdown("error")
            raise
        self._ready_by = time.monotonic() + self.processor_timeout_s
        self._mark(self.replayer.progress().position_s)
        self._monitor = threading.Thread(target=self._control_loop, name=f"train:{self.name}", daemon=True)
        self._monitor.start()
        return self

    def _spawn_processor(self) -> subprocess.Popen:
        s = self.settings
        env = {**os.environ, "KAFKA_BOOTSTRAP": s.kafka_bootstrap, "VIGIE_DATA_DIR": str(Path(s.data_dir).resolve()),
               "VIGIE_DATABASE_URL": s.database_url or "", "VIGIE_NAMESPACE": self.namespace,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        log = open(self.dir.path / "processor.log", "ab")
        try:
            return subprocess.Popen([sys.executable, "-m", "dashboard.cli", "process", "--namespace", self.namespace,
                                     *self._processor_args], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        finally:
            log.close()

    def stop(self, timeout: float = 15.0) -> SessionInfo | None:
        """Stop the replay and the processor (SIGTERM, then SIGKILL) and mark the session stopped."""
        self._shutdown("stopped", timeout)
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout)
        return self.dir.info()

    def _shutdown(self, status: str, timeout: float = 15.0) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
            before = self.replayer.progress().position_s
            self.replayer.stop()
            proc, self.processor = self.processor, None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._status = status if self.error is None else "error"
            self._mark(before)
            self._write_state()

    @property
    def running(self) -> bool:
        """True until stopped."""
        return not self._stopped.is_set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until the session is stopped (by `stop()` or a stop request); True if it is."""
        return self._stopped.wait(timeout)

    # --- control ------------------------------------------------------------------------------

    def pause(self) -> None:
        """Hold the replay (the processor keeps running: trainees can still act)."""
        self._paused_at_start = True
        self._steer(self.replayer.pause)

    def resume(self) -> None:
        """Go on from the pause."""
        self._paused_at_start = False
        self._ready_by = None
        self._steer(self.replayer.resume)

    def _processor_ready(self) -> bool:
        try:
            with open(self.dir.path / "processor.log", "rb") as f:
                return b"assigned" in f.read()
        except OSError:
            return False

    def _check_ready(self) -> None:
        if self._ready_by is None:
            return
        late = time.monotonic() > self._ready_by
        if not (late or self._processor_ready()):
            return
        self._ready_by = None
        if not self._paused_at_start:
            self.resume()

    def seek(self, offset_s: float) -> float | None:
        """Jump to `offset_s` seconds into the recording, rebuilding the room's state there."""
        return self._steer(lambda: self.replayer.seek(float(offset_s)))

    def set_speed(self, speed: float | None) -> None:
        """Change the speed factor (None: as fast as possible)."""
        self._steer(lambda: self.replayer.set_speed(speed))

    def set_loop(self, loop: bool) -> None:
        """Start again from the beginning at the end, or not."""
        self.replayer.loop = bool(loop)
        self._write_state()

    def apply(self, command: str, args: dict | None = None):
        """Apply one control command by name (`pause`, `resume`, `seek`, `speed`, `loop`, `stop`)."""
        args = args or {}
        if command == "pause":
            return self.pause()
        if command == "resume":
            return self.resume()
        if command == "seek":
            return self.seek(args["offset_s"])
        if command == "speed":
            return self.set_speed(args.get("speed"))
        if command == "loop":
            return self.set_loop(args.get("loop", True))
        if command == "stop":
            return self._shutdown("stopped")
        raise SessionError(f"unknown command {command!r}")

    def _steer(self, action):
        with self._lock:
            if self._stopped.is_set():
                raise SessionError(f"session {self.name!r} is stopped")
            before = self.replayer.progress().position_s
            result = action()
            self._mark(before)
            self._write_state()
            return result

    # --- state --------------------------------------------------------------------------------

    def progress(self) -> ReplayProgress:
        """The replayer's progress."""
        return self.replayer.progress()

    def _mark(self, before_s: float) -> None:
        self.timeline.append({"wall_ms": _now_ms(), "before_s": before_s,
                              "position_s": self.replayer.progress().position_s})

    def state(self) -> dict:
        """The state file's content."""
        p = self.replayer.progress()
        manifest = self.replayer.recording.manifest
        return {
            "name": self.name, "namespace": self.namespace, "status": self._status, "position_s": p.position_s,
            "duration_s": p.duration_s, "speed": p.speed, "loop": self.replayer.loop, "sent": p.sent,
            "seeks": p.seeks, "loops": p.loops, "lag_s": p.lag_s, "recording": str(self.recording_path),
            "scenario": self.scenario, "title": manifest.meta.get("title"),
            "brief_fr": manifest.meta.get("brief_fr"), "brief_en": manifest.meta.get("brief_en"),
            "started_ms": self.started_ms, "heartbeat_ms": _now_ms(), "owner_pid": os.getpid(),
            "processor_pid": self.processor.pid if self.processor else None,
            "error": self.error or p.error, "timeline": self.timeline, "results": self.results,
        }

    def _write_state(self) -> None:
        with self._lock:
            self.dir.write_state(self.state())

    def _control_loop(self) -> None:
        last_write = 0.0
        while not self._stopped.wait(_TICK_S):
            changed = False
            for request in self.dir.take():
                changed = True
                try:
                    if request.get("error"):
                        raise SessionError(request["error"])
                    self.apply(request["command"], request.get("args"))
                    result = {"ok": True, "error": None}
                except Exception as exc:  # reported to the requester through the state file
                    result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.results[request["id"]] = {**result, "at_ms": _now_ms()}
                for old in list(self.results)[:-20]:
                    del self.results[old]
            if self._stopped.is_set():
                break
            with self._lock:
                self._check_ready()
                state = "starting" if self._ready_by is not None else self.replayer.progress().state
                if self.processor is not None and self.processor.poll() is not None:
                    self.error = (f"the session's processor exited with code {self.processor.returncode} "
                                  f"(see {self.dir.path / 'processor.log'})")
                if state != self._status and not self._stopped.is_set():
                    self._status = "error" if self.error else state
                    self._mark(self.replayer.progress().position_s)
                    changed = True
            if changed or time.monotonic() - last_write >= _STATE_EVERY_S:
                self._write_state()
                last_write = time.monotonic()
        self._write_state()


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
            if info is not None and info.running:
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
            except Exception as exc:
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
            session._write_state()
        store = open_store(self.settings, training_namespace(name))
        return debrief_from_store(store, name, timeline=self.timeline(name),
                                  now_ms=now_ms if now_ms is not None else _now_ms())
