"""Fixtures of the FIWARE connector tests: a small registry over the approximate communes, and payloads."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from connectors.dijon.geography import approximate_communes
from connectors.register.registry import AssetRegistry

FIXTURES = Path(__file__).parent / "fixtures"
# 2026-11-20T21:05:00Z: five minutes after the Dijon fixtures were observed.
NOW = datetime(2026, 11, 20, 21, 5, tzinfo=timezone.utc).timestamp()


def load(name: str):
    """A fixture payload, decoded."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def communes():
    return approximate_communes()


@pytest.fixture
def registry(tmp_path, communes, small_assets):
    """The inventory's `small_assets` (tests/connectors/conftest.py), registering into a list too."""
    registered = []
    reg = AssetRegistry(small_assets, communes=communes, path=tmp_path / "registered_assets.json",
                        on_register=registered.append)
    reg.registered_log = registered
    return reg


@pytest.fixture
def payload():
    """Load a fixture payload by file name."""
    return load


@pytest.fixture
def now():
    """The fixed clock of the Dijon fixtures (epoch seconds)."""
    return NOW


class FakeOrion:
    """A context broker answering /v2/entities from a list, page by page, or failing on demand."""

    def __init__(self, entities: list, mode: str = "ok") -> None:
        self.entities, self.mode, self.calls = entities, mode, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                outer.calls.append((url.path, query, {k.lower(): v for k, v in self.headers.items()}))
                if outer.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                body = b"<html>oops</html>" if outer.mode == "garbage" else json.dumps(
                    outer.entities[int(query["offset"]): int(query["offset"]) + int(query["limit"])]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Fiware-Total-Count", str(len(outer.entities)))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_orion():
    """A factory of fake context brokers serving given entities, closed after the test."""
    made = []

    def make(entities: list, mode: str = "ok") -> FakeOrion:
        made.append(FakeOrion(entities, mode))
        return made[-1]

    yield make
    for fake in made:
        fake.close()
