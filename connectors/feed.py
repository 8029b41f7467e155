"""What every field-standard connector shares: its health, backoff, event building and small HTTP helpers.

A connector turns every vendor error into `FeedUnavailable` (the source is down or answers
garbage) or `Rejected` (one payload or entity is wrong, with a reason a human can read); it
never crashes on either. Its `FeedHealth` says whether the feed, not a device, is down, and
logs one `feed=<name> state=<state>` line at every change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping

import msgspec

from streams.schemas import Event

__all__ = [
    "INCIDENT_KEYWORDS",
    "MAX_BODY_BYTES",
    "Backoff",
    "EdgeFilter",
    "FeedHealth",
    "FeedUnavailable",
    "JsonServer",
    "Rejected",
    "Route",
    "classify_incident",
    "iso_utc",
    "loads_lenient",
    "make_event",
    "parse_time_ms",
    "safe_asset_id",
]

log = logging.getLogger("connectors.feed")

_ASSET_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.\-]*$")
_LEADING_ZERO_RE = re.compile(r'(?<=[:\[,])(\s*)(-?0\d+)(?=\s*[,}\]])')
MAX_BODY_BYTES = 16 * 1024 * 1024


class FeedUnavailable(RuntimeError):
    """The field system cannot be reached, or answers something that is not its protocol."""


class Rejected(ValueError):
    """One payload or entity that cannot become an event; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FeedHealth:
    """The health of one connector's feed: up, degraded (failing, retrying) or down, with counters."""

    def __init__(self, name: str, *, down_after: int = 3, clock: Callable[[], float] = time.time,
                 on_change: Callable[[dict], None] | None = None) -> None:
        self.name = name
        self.on_change = on_change
        self.down_after = down_after
        self._clock = clock
        self._lock = threading.Lock()
        self.state = "starting"
        self.reason = ""
        self.failures = 0
        self.events = 0
        self.rejected = 0
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self.last_rejection: str | None = None

    def _set(self, state: str, reason: str) -> bool:
        changed = state != self.state
        if changed:
            level = logging.INFO if state == "up" else logging.WARNING
            log.log(level, "feed=%s state=%s reason=%s", self.name, state, reason or "-")
        self.state, self.reason = state, reason
        return changed

    def _notify(self, changed: bool) -> None:
        if changed and self.on_change is not None:
            self.on_change(self.snapshot())

    def ok(self, events: int = 0) -> None:
        """Record a successful exchange with the source (and the events it produced)."""
        with self._lock:
            self.failures = 0
            self.events += events
            self.last_ok = self._clock()
            changed = self._set("up", "")
        self._notify(changed)

    def failed(self, reason: str) -> None:
        """Record a failed exchange; the feed is down after `down_after` failures in a row."""
        with self._lock:
            self.failures += 1
            self.last_error = reason
            changed = self._set("down" if self.failures >= self.down_after else "degraded", reason)
        self._notify(changed)

    def reject(self, reason: str, count: int = 1) -> None:
        """Record payloads or entities rejected (the feed itself stays up)."""
        with self._lock:
            self.rejected += count
            self.last_rejection = reason

    @property
    def available(self) -> bool:
        """False when the feed is down (the room should show the feed, not its devices, as unavailable)."""
        return self.state != "down"

    def snapshot(self) -> dict:
        """The health as a JSON-ready dict (what `/health` serves)."""
        with self._lock:
            return {
                "feed": self.name,
                "state": self.state,
                "available": self.state != "down",
                "reason": self.reason,
                "failures": self.failures,
                "events": self.events,
                "rejected": self.rejected,
                "last_ok": iso_utc(self.last_ok) if self.last_ok else None,
                "last_error": self.last_error,
                "last_rejection": self.last_rejection,
            }


class Backoff:
    """Exponential backoff with jitter: 1, 2, 4 ... seconds up to `maximum`."""

    def __init__(self, initial: float = 1.0, *, factor: float = 2.0, maximum: float = 60.0,
                 jitter: float = 0.1, rng: random.Random | None = None) -> None:
        self.initial, self.factor, self.maximum, self.jitter = initial, factor, maximum, jitter
        self._rng = rng or random.Random()
        self._next = initial

    def next(self) -> float:
        """The delay to wait before the next attempt (grows at each call)."""
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return delay * (1.0 + self.jitter * self._rng.random())

    def reset(self) -> None:
        """Start again from the initial delay (after a success)."""
        self._next = self.initial


class EdgeFilter:
    """Lets a fault event through only when its state changes for that asset (first sightings pass).

    `fresh` keeps the events worth sending; `remember` records them once they are delivered, so a
    fault lost with a broker outage is sent again at the next reading.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def fresh(self, events: list) -> list:
        """The events to send: faults whose state differs from the last delivered one, and all others."""
        out, batch = [], {}
        with self._lock:
            for event in events:
                fault = getattr(event, "fault", None)
                if fault is None:
                    out.append(event)
                    continue
                key = (event.asset_id, fault)
                if batch.get(key, self._last.get(key)) is event.active:
                    continue
                batch[key] = event.active
                out.append(event)
        return out

    def remember(self, events: list) -> None:
        """Record the fault states of delivered events."""
        with self._lock:
            for event in events:
                fault = getattr(event, "fault", None)
                if fault is not None:
                    self._last[(event.asset_id, fault)] = event.active


def safe_asset_id(raw: Any) -> str:
    """An id valid as a project asset id (letters, digits, `:_.-`, at most 64), stable for the same input."""
    text = str(raw).strip()
    if _ASSET_ID_RE.match(text) and len(text) <= 64:
        return text
    cleaned = re.sub(r"[^A-Za-z0-9:_.\-]+", "-", text).lstrip(":_.-") or "x"
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[:55]}-{digest}"


def parse_time_ms(value: Any) -> int | None:
    """Epoch milliseconds of an ISO 8601 date-time (naive means UTC; `a/b` intervals give `b`), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value if value > 1e11 else value * 1000)
    if isinstance(value, dict):
        return parse_time_ms(value.get("@value", value.get("value")))
    text = str(value).strip()
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def iso_utc(seconds: float) -> str:
    """An epoch time in seconds as `YYYY-MM-DDTHH:MM:SSZ`."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loads_lenient(raw: bytes | str) -> Any:
    """Parse JSON, also accepting numbers with leading zeros (`"service_code":006` in the Open311 spec)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, (bytes, bytearray)) else raw
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return json.loads(_LEADING_ZERO_RE.sub(lambda m: f'{m.group(1)}"{m.group(2)}"', text))
    except ValueError as exc:
        raise Rejected(f"malformed JSON: {exc}") from None


def make_event(cls: type[Event], fields: Mapping[str, Any], *, max_future_s: float = 600.0,
               now_ms: int | None = None) -> Event:
    """Build and validate one event from plain fields (None values are left out), or raise Rejected."""
    kind = cls.__struct_config__.tag
    clean = {k: v for k, v in fields.items() if v is not None}
    try:
        event = msgspec.convert(clean, type=cls)
    except msgspec.ValidationError as exc:
        raise Rejected(f"{kind}: {exc}") from None
    limit = (now_ms if now_ms is not None else int(time.time() * 1000)) + int(max_future_s * 1000)
    if event.ts > limit:
        raise Rejected(f"{kind}: timestamp is in the future")
    return event


Route = Callable[[bytes, Mapping[str, str]], tuple[int, Any]]


class JsonServer:
    """A small threaded HTTP server: POST routes take a body and return (status, JSON); GET /health."""

    def __init__(self, routes: Mapping[str, Route], health: Callable[[], dict], *,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        handler = _handler(dict(routes), health)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> "JsonServer":
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="json-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()`."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _handler(routes: dict[str, Route], health: Callable[[], dict]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # the default writes every request to stderr
            log.debug("%s %s", self.address_string(), fmt % args)

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/health":
                snapshot = health()
                self._reply(200 if snapshot.get("available", True) else 503, snapshot)
            else:
                self._reply(404, {"error": f"no such path {path}"})

        def do_POST(self):
            path = self.path.split("?", 1)[0].rstrip("/")
            route = routes.get(path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._reply(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
                return
            body = self.rfile.read(length) if length else b""
            if route is None:
                self._reply(404, {"error": f"no such path {path}"})
                return
            try:
                status, reply = route(body, dict(self.headers))
            except Rejected as exc:
                status, reply = 400, {"error": exc.reason}
            except Exception as exc:  # a bug in one route must not take the endpoint down
                log.exception("error handling POST %s", path)
                status, reply = 500, {"error": f"internal error: {exc}"}
            self._reply(status, reply)

    return Handler


# Keyword (lower case, accents kept) -> incident category; the first match in this order wins.
INCIDENT_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("trafficlight", "traffic_light_fault"), ("traffic light", "traffic_light_fault"),
    ("traffic signal", "traffic_light_fault"), ("feu tricolore", "traffic_light_fault"),
    ("feux", "traffic_light_fault"), ("signalisation lumineuse", "traffic_light_fault"),
    ("streetlight", "street_light_out"), ("street light", "street_light_out"), ("lampadaire", "street_light_out"),
    ("éclairage", "street_light_out"), ("eclairage", "street_light_out"), ("lighting", "street_light_out"),
    ("pothole", "pothole"), ("nid de poule", "pothole"), ("nid-de-poule", "pothole"), ("chaussée", "pothole"),
    ("sidewalk", "pothole"), ("trottoir", "pothole"), ("road damage", "pothole"),
    ("dumping", "illegal_dumping"), ("dépôt sauvage", "illegal_dumping"), ("depot sauvage", "illegal_dumping"),
    ("encombrant", "illegal_dumping"), ("déchet", "illegal_dumping"), ("trash", "illegal_dumping"),
    ("waste", "illegal_dumping"),
    ("graffiti", "graffiti"),
    ("panneau", "damaged_sign"), ("sign", "damaged_sign"),
    ("tree", "fallen_tree"), ("arbre", "fallen_tree"),
    ("flood", "flooding"), ("inondation", "flooding"),
    ("verglas", "ice"), ("ice", "ice"), ("snow", "ice"), ("neige", "ice"), ("frost", "ice"),
    ("abandoned", "abandoned_vehicle"), ("épave", "abandoned_vehicle"), ("véhicule", "abandoned_vehicle"),
    ("vehicle", "abandoned_vehicle"),
    ("noise", "noise"), ("bruit", "noise"), ("nuisance sonore", "noise"),
)


def classify_incident(*texts: Any) -> str:
    """The incident category whose keyword first appears in the texts (service names, codes, sub-categories)."""
    haystack = " ".join(str(t) for t in texts if t).lower()
    for keyword, category in INCIDENT_KEYWORDS:
        if keyword in haystack:
            return category
    return "other"
