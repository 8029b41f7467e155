"""Helpers shared by the connectors' tests, as fixtures (the tests run with --import-mode=importlib, where a
conftest cannot be imported as a module, so helpers are handed out by fixtures):

- `read_events`, `wait_up`, `connector` (`vigie connect NAME` in a thread), `process` (the room's processor
  over a namespace into a store): the plumbing of the end-to-end tests;
- `small_assets` and `inventory_dir` (those assets saved as a data folder's inventory);
- `fake_city` (a city's Open311 GeoReport v2 server) and `cms` (a TALQ central management system).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from kafka import TopicPartition

from connectors import connect_cmd
from connectors.dijon.geography import approximate_communes
from connectors.register.registry import KnownAsset
from dashboard.cli import build_parser
from streams.kafka import make_consumer
from streams.schemas import Validator


def _small_assets() -> list[KnownAsset]:
    """Two lamps behind one cabinet, a camera and two weather stations in central Dijon."""
    return [
        KnownAsset("LP-000001", "light", 5.0414, 47.3213, "21231", cabinet_id="CAB-0001", wattage_w=40.0),
        KnownAsset("LP-000002", "light", 5.0416, 47.3215, "21231", cabinet_id="CAB-0001", wattage_w=40.0),
        KnownAsset("CAB-0001", "cabinet", 5.0420, 47.3210, "21231", lamps_total=2),
        KnownAsset("CAM-001", "camera", 5.0401, 47.3219, "21231"),
        KnownAsset("WS-01", "weather", 5.0398, 47.3220, "21231"),
        KnownAsset("WS-02", "weather", 5.0530, 47.3545, "21231"),
    ]


def _save_inventory(assets: list[KnownAsset], data_dir) -> None:
    """Save assets as the data folder's inventory (GeoParquet, like `vigie inventory`)."""
    import geopandas as gpd
    import pandas as pd

    from connectors.dijon.geography import transport_lines
    from connectors.dijon.inventory import Inventory, save_inventory

    frame = pd.DataFrame([{
        "asset_id": a.asset_id, "kind": a.kind, "commune_code": a.commune_code, "name": a.asset_id, "lon": a.lon,
        "lat": a.lat, "cabinet_id": a.cabinet_id, "lamp_type": "LED" if a.kind == "light" else None,
        "wattage_w": a.wattage_w, "baseline_w": 0.0, "renovated_on": pd.NaT, "lamps_total": a.lamps_total,
        "bus_priority": False, "lines": "", "period_s": 300} for a in assets])
    frame["renovated_on"] = pd.to_datetime(frame["renovated_on"])
    geo = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
    save_inventory(Inventory(communes=approximate_communes(), assets=geo, lines=transport_lines(), seed=None,
                             built_at="2026-11-20T00:00:00+00:00"), data_dir / "inventory")


def _read_events(bootstrap: str, topic: str, want: int, timeout: float = 20.0) -> list:
    """Every event on a topic, decoded and validated, once at least `want` are there (all until the timeout if 0)."""
    consumer = make_consumer(bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        validator, events, deadline = Validator(), [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=300).values():
                events.extend(validator.decode(r.value) for r in records)
            if want and len(events) >= want:
                break
        return events
    finally:
        consumer.close()


def _wait_up(url: str, timeout: float = 20.0) -> None:
    """Wait until `url/health` answers (any HTTP status but a refused connection)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except urllib.error.HTTPError:  # an answer, even a 503, means the endpoint is up
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@contextmanager
def _connector(argv: list[str], settings):
    """`vigie connect <argv>` running in a thread until the block ends; it must then stop within 15 s."""
    args = build_parser("connect").parse_args(["connect", *argv])
    stop = threading.Event()
    runner = threading.Thread(target=connect_cmd.run, args=(args, settings, stop), daemon=True)
    runner.start()
    try:
        yield runner
    finally:
        stop.set()
        runner.join(15)
    assert not runner.is_alive(), f"vigie connect {argv[0]} did not stop"


def _process(settings, store, max_seconds: float = 60.0):
    """The room's processor over the settings' namespace, once to the end of every source topic, into `store`."""
    from streams.processor import Processor

    processor = Processor(settings, store=store)
    try:
        return processor.run(once=True, max_seconds=max_seconds)
    finally:
        processor.close()


class FakeGeoReport:
    """A city's GeoReport v2 endpoint: `requests.json` by page, a status URL, and failure modes."""

    def __init__(self, body: bytes | list) -> None:
        self.rows = body if isinstance(body, list) else None
        self.raw = body if isinstance(body, bytes) else None
        self.mode = "ok"
        self.fail_first = 0
        self.ignore_paging = False
        self.gets: list[dict] = []
        self.posts: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.gets.append({"path": url.path, **query})
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    return self._send(500, b"Internal Server Error", "text/plain")
                if outer.mode == "500":
                    return self._send(500, b"Internal Server Error", "text/plain")
                if outer.mode == "404":
                    return self._send(404, b'[{"code":404,"description":"jurisdiction_id not found"}]')
                if outer.mode == "garbage":
                    return self._send(200, b"<html><body>Maintenance</body></html>", "text/html")
                if outer.mode == "object":
                    return self._send(200, b'{"error": "try later"}')
                if outer.mode == "nothing":
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.close()
                    return
                if outer.raw is not None:
                    return self._send(200, outer.raw)
                size, page = int(query.get("page_size", 1000)), int(query.get("page", 1))
                if outer.ignore_paging:
                    page = 1
                rows = outer.rows[(page - 1) * size: page * size]
                self._send(200, json.dumps(rows).encode())

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                outer.posts.append({"path": urlparse(self.path).path, **form})
                self._send(200, b'[{"service_request_id": "%s"}]' % form.get("service_request_id", "").encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/open311/v2"

    @property
    def url(self) -> str:
        """The requests.json URL."""
        return self.base + "/requests.json"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class FakeCms:
    """A TALQ central management system taking override commands; `mode` picks its answer."""

    def __init__(self) -> None:
        self.mode = "results"
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                command = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.received.append(command)
                if outer.mode == "500":
                    return self._send(500, b"{}")
                if outer.mode == "400":
                    return self._send(400, b'{"error": "unknown address"}')
                if outer.mode == "empty":
                    return self._send(202, b"")
                statuses = ["done"] * len(command["overrides"])
                if outer.mode == "partial":
                    statuses[-1] = "failed"
                results = [{"address": o["address"], "status": s} for o, s in zip(command["overrides"], statuses)]
                self._send(200, json.dumps({"results": results}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/talq/commands"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_city():
    """A factory of fake GeoReport servers answering a given body (rows or raw bytes), closed after the test."""
    made = []

    def make(body):
        made.append(FakeGeoReport(body))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


@pytest.fixture
def cms():
    """A fake TALQ central management system taking override commands at `cms.url`."""
    fake = FakeCms()
    yield fake
    fake.close()


@pytest.fixture
def small_assets() -> list[KnownAsset]:
    """Two lamps LP-000001/2 behind cabinet CAB-0001, camera CAM-001, weather stations WS-01/02 (commune 21231)."""
    return _small_assets()


@pytest.fixture
def inventory_dir(tmp_path, small_assets):
    """A data folder holding `small_assets` as the inventory."""
    _save_inventory(small_assets, tmp_path)
    return tmp_path


@pytest.fixture
def read_events():
    """`read_events(bootstrap, topic, want, timeout=20)`: the decoded events of a topic."""
    return _read_events


@pytest.fixture
def wait_up():
    """`wait_up(url, timeout=20)`: wait for a connector's HTTP endpoint to answer on /health."""
    return _wait_up


@pytest.fixture
def connector():
    """`with connector(["fiware", "--port", "8080"], settings): ...` runs a connector in a thread."""
    return _connector


@pytest.fixture
def process():
    """`process(settings, store)`: run the room's processor once over the namespace; its RunStats."""
    return _process
