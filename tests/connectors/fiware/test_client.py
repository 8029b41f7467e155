"""Polling /v2/entities: pages until the total, headers sent, a dead or garbage broker is FeedUnavailable."""

from __future__ import annotations

import pytest

from connectors.feed import FeedUnavailable
from connectors.fiware.client import NgsiV2Client
from connectors.fiware.run import FiwareConnector


@pytest.fixture
def orion(payload, fake_orion):
    return fake_orion(payload("dijon-notification-v2.json")["data"] * 3)


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
def test_failures_become_feed_unavailable(fake_orion, mode, message):
    fake = fake_orion([], mode=mode)
    with pytest.raises(FeedUnavailable, match=message):
        NgsiV2Client(fake.url).fetch_all()


def test_nobody_listening_is_feed_unavailable():
    from streams.broker import free_port

    with pytest.raises(FeedUnavailable, match="unreachable"):
        NgsiV2Client(f"http://127.0.0.1:{free_port()}", timeout=2).fetch_all()


def test_only_changed_entities_are_handed_on(fake_orion, payload):
    orion = fake_orion(payload("dijon-notification-v2.json")["data"])
    client = NgsiV2Client(orion.url, limit=100)
    assert len(client.fetch_changed()) == 8
    assert len(client.fetch_changed()) == 8  # not committed (say the broker was down): handed on again
    client.commit()
    assert client.fetch_changed() == []
    orion.entities[0] = {**orion.entities[0], "status": {"type": "Text", "value": "ok"}}
    assert [e["id"] for e in client.fetch_changed()] == ["streetlight:LP-000001"]
    client.commit()
    assert client.fetch_changed() == []
