"""The notification endpoint: both NGSI forms on the three paths, malformed bodies rejected, health served."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from connectors.fiware.run import FiwareConnector
from connectors.fiware.server import NOTIFY_PATHS, notification_server
from streams.kafka import BrokerUnavailable


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served(registry, now):
    sent = []
    connector = FiwareConnector(registry, sent.append, clock=lambda: now)
    server = notification_server(connector, port=0).start()
    yield server, connector, sent
    server.stop()


@pytest.mark.parametrize("path", NOTIFY_PATHS)
@pytest.mark.parametrize("name", ["dijon-notification-v2.json", "dijon-notification-ld.json"])
def test_notifications_on_every_path(served, payload, path, name):
    server, connector, sent = served
    status, reply = _post(server.url + path, json.dumps(payload(name)).encode())
    assert status == 200
    assert reply["events"] == len(sent) > 0


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "malformed JSON"),
    (b'{"subscriptionId": "x", "data": 3}', "not a list"),
    (b'"hello"', "expected a JSON object"),
])
def test_malformed_bodies_get_400_with_the_reason(served, body, reason):
    server, connector, sent = served
    status, reply = _post(server.url + "/notify", body)
    assert status == 400 and reason in reply["error"]
    assert connector.health()["rejected"] == 1 and connector.health()["state"] != "down"


def test_published_examples_are_answered_with_their_rejection(served, payload):
    server, _, sent = served
    body = json.dumps({"subscriptionId": "x", "data": [payload("Streetlight-example.json")]}).encode()
    status, reply = _post(server.url + "/v2/notify", body)
    assert status == 200 and sent == []
    assert "outside Dijon Métropole" in reply["rejected"][0]["reason"]


def test_health_and_unknown_paths(served, payload):
    server, _, _ = served
    _post(server.url + "/notify", json.dumps(payload("dijon-notification-ld.json")).encode())
    status, health = _get(server.url + "/health")
    assert status == 200 and health["feed"] == "fiware" and health["state"] == "up" and health["events"] > 0
    assert _get(server.url + "/nope")[0] == 404
    assert _post(server.url + "/nope", b"{}")[0] == 404


def test_a_broker_down_answers_503_and_marks_the_feed(registry, payload, now):
    def send(event):
        raise BrokerUnavailable("no broker")

    connector = FiwareConnector(registry, send, clock=lambda: now)
    connector.health_status.down_after = 1
    server = notification_server(connector, port=0).start()
    try:
        status, reply = _post(server.url + "/notify", json.dumps(payload("dijon-notification-ld.json")).encode())
        assert status == 503 and "no broker" in reply["error"]
        status, health = _get(server.url + "/health")
        assert status == 503 and health["available"] is False
    finally:
        server.stop()
