"""The Open311 run loop: poll windows, de-duplicate by service_request_id, send reports, post resolutions back."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from connectors.feed import Backoff, FeedHealth, FeedUnavailable, Rejected, iso_utc
from connectors.open311.client import Open311Client
from connectors.open311.mapping import ID_PREFIX, in_bbox, to_report
from streams.kafka import BrokerUnavailable
from streams.schemas import AlertTransition, Event

__all__ = [
    "MAX_WINDOW_S",
    "RESOLVED_STATES",
    "Open311Connector",
    "PollReport",
]

log = logging.getLogger(__name__)

MAX_WINDOW_S = 90 * 86400
RESOLVED_STATES = ("resolved", "closed")


@dataclass
class PollReport:
    """What one poll gave: requests read, reports sent (new or changed), duplicates and rejections."""

    read: int = 0
    sent: list[Event] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready summary."""
        return {"read": self.read, "sent": len(self.sent), "unchanged": self.unchanged, "rejected": self.rejected}


class Open311Connector:
    """Polls a GeoReport v2 endpoint into incident reports; never raises on a bad request or a dead server."""

    name = "open311"

    def __init__(self, client: Open311Client, send: Callable[[Event], None], *,
                 flush: Callable[[], None] | None = None, state_path: Path | None = None,
                 lookback_s: float = 86400.0, overlap_s: float = 600.0,
                 categories: Mapping[str, str] | None = None, max_future_s: float = 600.0,
                 inside: Callable[[float, float], bool] = in_bbox,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self._send = send
        self._flush = flush
        self.state_path = Path(state_path) if state_path else None
        self.lookback_s = lookback_s
        self.overlap_s = overlap_s
        self.categories = dict(categories or {})
        self.max_future_s = max_future_s
        self.inside = inside
        self._clock = clock
        self.health_status = FeedHealth(self.name, clock=clock)
        self._seen: dict[str, list] = {}
        self._last_end_ms: int | None = None
        self._load_state()

    def health(self) -> dict:
        """The feed's health as a JSON-ready dict."""
        return self.health_status.snapshot()

    def _load_state(self) -> None:
        if not self.state_path or not self.state_path.is_file():
            return
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("url") == self.client.url:
                self._seen = dict(state.get("seen", {}))
                self._last_end_ms = state.get("last_end_ms")
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("open311: cannot read the state in %s (%s): starting afresh", self.state_path, exc)

    def _save_state(self) -> None:
        if not self.state_path:
            return
        state = {"url": self.client.url, "last_end_ms": self._last_end_ms, "seen": self._seen}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def window(self, now_ms: int) -> tuple[int, int]:
        """The next (start, end) window in ms: from the last end minus an overlap, at most 90 days."""
        if self._last_end_ms is None:
            start = now_ms - int(self.lookback_s * 1000)
        else:
            start = self._last_end_ms - int(self.overlap_s * 1000)
        return max(start, now_ms - MAX_WINDOW_S * 1000), now_ms

    def poll_once(self) -> PollReport:
        """Fetch one window, send new or changed reports; FeedUnavailable or BrokerUnavailable if it cannot."""
        now_ms = int(self._clock() * 1000)
        start, end = self.window(now_ms)
        try:
            requests = self.client.fetch(start, end)
        except FeedUnavailable as exc:
            self.health_status.failed(str(exc))
            raise
        report = PollReport(read=len(requests))
        pending: dict[str, list] = {}
        for request in requests:
            try:
                event = to_report(request, categories=self.categories, now_ms=now_ms, max_future_s=self.max_future_s,
                                  inside=self.inside)
            except Rejected as exc:
                rid = request.get("service_request_id") if isinstance(request, dict) else None
                report.rejected.append({"service_request_id": rid, "reason": exc.reason})
                self.health_status.reject(exc.reason)
                continue
            signature = [event.status, event.ts, event.description]
            if self._seen.get(event.external_id) == signature or pending.get(event.external_id) == signature:
                report.unchanged += 1
                continue
            pending[event.external_id] = signature
            report.sent.append(event)
        for event in report.sent:
            self._send(event)
        if self._flush is not None and report.sent:
            self._flush()
        self._seen.update(pending)
        self._last_end_ms = end
        self._save_state()
        self.health_status.ok(len(report.sent))
        if report.rejected:
            log.info("open311: %d of %d service requests rejected, first: %s", len(report.rejected), report.read,
                     report.rejected[0]["reason"])
        return report

    def run(self, *, interval_s: float, stop: threading.Event, once: bool = False,
            backoff: Backoff | None = None) -> int:
        """Poll until `stop` is set (or once); back off while the server or the broker is down."""
        backoff = backoff or Backoff(1.0, maximum=max(interval_s, 60.0))
        while not stop.is_set():
            try:
                report = self.poll_once()
                backoff.reset()
                log.info("open311: %s", report.as_dict())
                if once:
                    return 0
                stop.wait(interval_s)
            except (FeedUnavailable, BrokerUnavailable) as exc:
                if isinstance(exc, BrokerUnavailable):
                    self.health_status.failed(f"Kafka: {exc}")
                if once:
                    return 1
                delay = backoff.next()
                log.warning("open311: %s; next try in %.0f s", exc, delay)
                stop.wait(delay)
        return 0

    def on_alert(self, transition: Event) -> bool:
        """Post `closed` back to the city when an alert on one of its reports is resolved; True if posted."""
        if not isinstance(transition, AlertTransition) or transition.state not in RESOLVED_STATES:
            return False
        report_id = next((i for i in (transition.asset_id, transition.parent_id) if i and i.startswith(ID_PREFIX)),
                         None)
        if report_id is None:
            return False
        external_id = report_id[len(ID_PREFIX):]
        fields = {
            "service_request_id": external_id,
            "status": "closed",
            "status_notes": f"Resolved in the control room: {transition.title}"[:500],
            "updated_datetime": iso_utc(transition.ts / 1000),
        }
        try:
            self.client.post_status(fields)
        except FeedUnavailable as exc:
            self.health_status.failed(str(exc))
            log.warning("open311: status of %s not posted back: %s", external_id, exc)
            return False
        log.info("open311: service request %s posted back as closed", external_id)
        return True
