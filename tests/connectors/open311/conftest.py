"""Fixtures of the Open311 tests: a local GeoReport v2 server answering pages, garbage, 500s or nothing."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 21, 5, tzinfo=timezone.utc).timestamp()


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


@pytest.fixture
def dijon_rows():
    return json.loads((FIXTURES / "dijon-requests.json").read_text(encoding="utf-8"))


@pytest.fixture
def published_bytes():
    return (FIXTURES / "georeport-v2-requests.json").read_bytes()


@pytest.fixture
def city(dijon_rows):
    fake = FakeGeoReport(dijon_rows)
    yield fake
    fake.close()


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def fake_city():
    """A factory of fake GeoReport servers answering a given body, closed after the test."""
    made = []

    def make(body):
        made.append(FakeGeoReport(body))
        return made[-1]

    yield make
    for fake in made:
        fake.close()
