"""`vigie connect fiware` end to end: notifications in over HTTP, valid events out on the embedded broker."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from streams.broker import free_port
from streams.config import Settings
from streams.kafka import ensure_topics
from streams.topics import event_topic

pytestmark = pytest.mark.kafka
NAMESPACE = "train-conn-fiware"


def test_notifications_reach_the_broker_as_valid_events(embedded_broker, inventory_dir, payload, connector,
                                                        wait_up, read_events):
    tmp_path = inventory_dir
    ensure_topics(embedded_broker.bootstrap, NAMESPACE)
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path, namespace=NAMESPACE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with connector(["fiware", "--port", str(port)], settings):
        wait_up(url)
        for name, path in (("dijon-notification-v2.json", "/v2/notify"),
                           ("dijon-notification-ld.json", "/ngsi-ld/v1/notify")):
            request = urllib.request.Request(url + path, data=json.dumps(payload(name)).encode(), method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        bad = urllib.request.Request(url + "/notify", data=b"{oops", method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(bad, timeout=5)
        assert error.value.code == 400
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            health = json.loads(response.read())
        assert health["state"] == "up" and health["rejected"] >= 2
    bootstrap = embedded_broker.bootstrap
    lamps = read_events(bootstrap, event_topic(NAMESPACE, "lamp.telemetry"), 3)
    assert {e.asset_id for e in lamps} == {"LP-000001", "LP-000002", "streetlight:quetigny:0017"}
    assert {e.cabinet_id for e in lamps if e.asset_id.startswith("LP-")} == {"CAB-0001"}
    faults = read_events(bootstrap, event_topic(NAMESPACE, "lamp.fault"), 3)
    assert {(e.asset_id, e.active) for e in faults} == {("LP-000001", True), ("LP-000002", False),
                                                        ("streetlight:quetigny:0017", False)}
    cabinets = read_events(bootstrap, event_topic(NAMESPACE, "cabinet.metering"), 1)
    assert (cabinets[0].asset_id, cabinets[0].lamps_total) == ("CAB-0001", 2)
    weather = read_events(bootstrap, event_topic(NAMESPACE, "weather.observation"), 2)
    assert {e.asset_id for e in weather} == {"WS-01", "WS-02"}
    incidents = read_events(bootstrap, event_topic(NAMESPACE, "incident.report"), 1)
    assert incidents[0].external_id == "Alert:dijon:42"
    cameras = read_events(bootstrap, event_topic(NAMESPACE, "camera.health"), 1)
    assert (cameras[0].asset_id, cameras[0].state) == ("CAM-001", "offline")
    registered = json.loads((tmp_path / "registered_assets.json").read_text())
    assert [(r["asset_id"], r["kind"], r["commune_code"]) for r in registered] == \
        [("streetlight:quetigny:0017", "light", "21515")]


def test_a_broker_down_keeps_the_endpoint_up_and_marks_the_feed(tmp_path, payload, connector, wait_up):
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path, namespace=NAMESPACE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    body = json.dumps(payload("dijon-notification-ld.json")).encode()
    with connector(["fiware", "--port", str(port)], settings):
        wait_up(url)
        codes = []
        for _ in range(3):
            try:
                urllib.request.urlopen(urllib.request.Request(url + "/notify", data=body, method="POST"), timeout=30)
                codes.append(200)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
        assert codes == [503, 503, 503]
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(url + "/health", timeout=5)
        health = json.loads(error.value.read())
        assert error.value.code == 503 and health["state"] == "down"
        assert "Kafka" in health["reason"]


def test_polling_a_context_broker_feeds_the_broker(embedded_broker, inventory_dir, payload, fake_orion, connector,
                                                  read_events):
    namespace = "train-conn-fiware-poll"
    ensure_topics(embedded_broker.bootstrap, namespace)
    orion = fake_orion(payload("dijon-notification-ld.json")["data"])
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=inventory_dir, namespace=namespace)
    with connector(["fiware", "--port", str(free_port()), "--poll", orion.url, "--interval", "0.2",
                    "--types", "Streetlight,WeatherObserved"], settings):
        weather = read_events(embedded_broker.bootstrap, event_topic(namespace, "weather.observation"), 1)
        time.sleep(1.0)  # a few more polls: unchanged entities are not sent again
    assert len(orion.calls) >= 3 and orion.calls[0][1]["type"] == "Streetlight,WeatherObserved"
    assert [e.asset_id for e in weather] == ["WS-02"]
    assert len(read_events(embedded_broker.bootstrap, event_topic(namespace, "weather.observation"), 0,
                           timeout=1)) == 1
