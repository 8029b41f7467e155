"""Polling /v2/entities: pages until the total, headers sent, a dead or garbage broker is FeedUnavailable."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from connectors.feed import FeedUnavailable
from connectors.fiware.client import NgsiV2Client
from connectors.fiware.run import FiwareConnector


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
def orion(payload):
    entities = payload("dijon-notification-v2.json")["data"] * 3
    fake = FakeOrion(entities)
    yield fake
    fake.close()


def test_pages_until_the_total(orion):
    client = NgsiV2Client(orion.url + "/v2/entities", limit=5, types=["Streetlight", "Alert"], service="dijon",
                          service_path="/lighting")
    assert len(client.fetch_all()) == 24
    assert [int(q["offset"]) for _, q, _ in orion.calls] == [0, 5, 10, 15, 20]
    path, query, headers = orion.calls[0]
    assert path == "/v2/entities" and query["type"] == "Streetlight,Alert" and query["options"] == "count"
    assert headers["fiware-service"] == "dijon" and headers["fiware-servicepath"] == "/lighting"


def test_polled_entities_feed_the_connector(orion, registry, now):
    sent = []
    report = FiwareConnector(registry, sent.append, clock=lambda: now).handle_entities(
        NgsiV2Client(orion.url, limit=100).fetch_all())
    assert len(report.events) > 0 and len(sent) == len(report.events)


@pytest.mark.parametrize("mode, message", [("500", "HTTP 500"), ("garbage", "garbage")])
def test_failures_become_feed_unavailable(payload, mode, message):
    fake = FakeOrion([], mode=mode)
    try:
        with pytest.raises(FeedUnavailable, match=message):
            NgsiV2Client(fake.url).fetch_all()
    finally:
        fake.close()


def test_nobody_listening_is_feed_unavailable():
    from streams.broker import free_port

    with pytest.raises(FeedUnavailable, match="unreachable"):
        NgsiV2Client(f"http://127.0.0.1:{free_port()}", timeout=2).fetch_all()
