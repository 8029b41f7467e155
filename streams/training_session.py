"""One training session, owned by the process that started it: processor child, replayer thread, control loop.

The session creates its `train-<name>` topics, runs its processor as a child process
(`vigie process --namespace train-<name>`, which dies with its parent) writing to the
session's own store, and plays the recording with a `Replayer` thread held until the
processor has joined its group. A control loop applies the requests other processes queue
in the session folder and rewrites the session's state file (see `streams.training_state`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .broker import die_with_parent
from .kafka import ensure_topics
from .recording import Recording
from .replayer import Replayer, ReplayProgress
from .topics import training_namespace
from .training_state import SessionDir, SessionInfo

__all__ = ["SessionError", "TrainingSession", "spawn"]

ROOT = Path(__file__).resolve().parents[1]
_TICK_S = 0.2
_STATE_EVERY_S = 0.5
_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def spawn(*args, **kwargs) -> subprocess.Popen:
    """`subprocess.Popen` from one long-lived thread of this process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends: a session started from
    a short-lived web request thread would lose its processor with that thread.
    """
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigie-spawn")
    return _spawner.submit(subprocess.Popen, *args, **kwargs).result()


def _now_ms() -> int:
    return int(time.time() * 1000)


class SessionError(RuntimeError):
    """A training session cannot be started or steered; the message says why."""


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
                                 bootstrap=settings.kafka_bootstrap, speed=speed, loop=loop)
        self._start_s = start_s
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
        self._closing = False
        self._monitor: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> TrainingSession:
        """Create the topics, start the processor and the replay, then the control loop."""
        self.dir.create()
        self.save_state()
        try:
            ensure_topics(self.settings.kafka_bootstrap, self.namespace)
            self.processor = self._spawn_processor()
            # Held until the processor has joined its group, so the first minutes do not pile up unseen.
            self.replayer.play(paused=True)
            if self._start_s:
                self.replayer.seek(self._start_s)
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
        with open(self.dir.path / "processor.log", "ab") as log:
            return spawn([sys.executable, "-m", "dashboard.cli", "process", "--namespace", self.namespace,
                          *self._processor_args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def stop(self, timeout: float = 15.0) -> SessionInfo | None:
        """Stop the replay and the processor (SIGTERM, then SIGKILL) and mark the session stopped."""
        self._shutdown("stopped", timeout)
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout)
        return self.dir.info()

    def _shutdown(self, status: str, timeout: float = 15.0) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            try:
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
                self.save_state()
            finally:
                self._stopped.set()

    @property
    def running(self) -> bool:
        """True until stopped."""
        return not self._closing

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
        self.save_state()

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
            if self._closing:
                raise SessionError(f"session {self.name!r} is stopped")
            before = self.replayer.progress().position_s
            result = action()
            self._mark(before)
            self.save_state()
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

    def save_state(self) -> None:
        """Rewrite the session's state file now."""
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
                    self._shutdown("error")
                    break
                if state != self._status and not self._closing:
                    self._status = "error" if self.error else state
                    self._mark(self.replayer.progress().position_s)
                    changed = True
            if changed or time.monotonic() - last_write >= _STATE_EVERY_S:
                self.save_state()
                last_write = time.monotonic()
        self.save_state()
