"""The monthly report built in the background: one thread per job, its state on disk, its files served by URL.

A job writes `status.json` and the report files (`streams.report.write_report`) into its own
folder, so any worker of the server can answer a poll or a download; the page polls the status
with a `dcc.Interval` and offers the files as links to `/exports/<job>/<file>`.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from pathlib import Path
from typing import Callable

import flask

__all__ = ["EXPORT_PREFIX", "STEPS", "ExportJobs"]

log = logging.getLogger(__name__)

EXPORT_PREFIX = "/exports"
# what the job does, in order; the page shows the current step and its share of the whole
STEPS = ("queued", "reading", "tables", "table", "trends", "communes", "done")


class ExportJobs:
    """Report jobs keyed by id; `build(month)` is whatever computes the KPI page of a month (data access)."""

    def __init__(self, folder: Path, build: Callable[[str], tuple], communes: Callable[[], object]) -> None:
        self.folder = Path(folder)
        self._build = build
        self._communes = communes
        self._lock = threading.Lock()
        self._running: dict[str, str] = {}  # month -> job id of the job building it

    def start(self, month: str) -> str:
        """Start (or join, when the same month is already building) a report job; return its id."""
        with self._lock:
            running = self._running.get(month)
            if running and self.status(running).get("state") == "running":
                return running
            job = uuid.uuid4().hex[:12]
            self._running[month] = job
        self._write(job, {"state": "running", "step": "queued", "month": month})
        threading.Thread(target=self._run, args=(job, month), name=f"vigie-report-{job}", daemon=True).start()
        return job

    def status(self, job: str | None) -> dict:
        """The job's state (`running`, `done`, `failed`), step, progress (0-1), files and error."""
        if not job or not job.isalnum():
            return {"state": "unknown"}
        try:
            status = json.loads((self.folder / job / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"state": "unknown"}
        step = status.get("step", "queued")
        status["progress"] = STEPS.index(step) / (len(STEPS) - 1) if step in STEPS else 0.0
        return status

    def path(self, job: str, name: str) -> Path | None:
        """A finished job's file by name, None if there is no such file."""
        files = self.status(job).get("files") or {}
        return self.folder / job / name if name in files.values() else None

    def _write(self, job: str, status: dict) -> None:
        folder = self.folder / job
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "status.json.tmp"
        tmp.write_text(json.dumps(status), encoding="utf-8")
        tmp.replace(folder / "status.json")

    def _run(self, job: str, month: str) -> None:
        from streams.report import write_report

        status = {"state": "running", "step": "reading", "month": month}
        self._write(job, status)
        try:
            page = self._build(month)
            if page is None:
                raise RuntimeError("store unavailable")

            def step(name: str) -> None:
                """Record the report's current step for the page's progress bar."""
                status["step"] = name
                self._write(job, status)

            with _PLOT_LOCK:  # pyplot keeps global state: one report drawn at a time
                files = write_report(page.results, page.history, page.period, page.contract, self.folder / job,
                                     as_of=page.as_of, communes=self._communes(), progress=step)
        except Exception as exc:  # a failed report is shown on the page, never raised into the server
            log.exception("report %s of %s failed", job, month)
            self._write(job, {**status, "state": "failed", "error": str(exc)})
            return
        names = {"pdf": files.pdf.name, "kpis_csv": files.kpis_csv.name, "history_csv": files.history_csv.name,
                 "communes_csv": files.communes_csv.name}
        self._write(job, {**status, "state": "done", "step": "done", "files": names})

    def register(self, server: flask.Flask) -> None:
        """Add the `/exports/<job>/<file>` download route to the Flask server."""

        def download(job: str, name: str):
            """A report file as an attachment."""
            path = self.path(job, name)
            if path is None or not path.is_file():
                flask.abort(404)
            return flask.send_file(path, as_attachment=True, download_name=name)

        server.add_url_rule(f"{EXPORT_PREFIX}/<job>/<name>", "vigie_export", download)


_PLOT_LOCK = threading.Lock()
