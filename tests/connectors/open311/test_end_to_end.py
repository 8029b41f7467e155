"""`vigie connect open311` end to end: a city's server in, valid reports on the embedded broker, resolutions back."""

from __future__ import annotations

import json
import time
from contextlib import closing

import pytest

from connectors import connect_cmd
from dashboard.cli import build_parser
from streams.config import Settings
from streams.kafka import EventProducer, ensure_topics
from streams.schemas import AlertTransition
from streams.topics import event_topic

pytestmark = pytest.mark.kafka
NAMESPACE = "train-conn-open311"


@pytest.fixture(scope="module")
def namespace(embedded_broker):
    ensure_topics(embedded_broker.bootstrap, NAMESPACE)
    return NAMESPACE


def test_polls_feed_the_broker_once_per_report(embedded_broker, namespace, city, tmp_path, read_events):
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path, namespace=namespace)
    args = build_parser("connect").parse_args(["connect", "open311", "--url", city.base, "--once",
                                               "--page-size", "3"])
    assert connect_cmd.run(args, settings) == 0
    assert connect_cmd.run(args, settings) == 0  # the second poll finds nothing new
    topic = event_topic(namespace, "incident.report")
    events = read_events(embedded_broker.bootstrap, topic, 0, timeout=3)
    assert sorted(e.external_id for e in events) == ["DJ-2026-000101", "DJ-2026-000102", "DJ-2026-000103",
                                                     "DJ-2026-000104"]
    assert {e.source for e in events} == {"open311"}
    assert (tmp_path / "open311_state.json").is_file()


def test_a_dead_city_exits_with_1_once(embedded_broker, namespace, city, tmp_path):
    city.mode = "garbage"
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path, namespace=namespace)
    args = build_parser("connect").parse_args(["connect", "open311", "--url", city.url, "--once", "--retries", "0"])
    assert connect_cmd.run(args, settings) == 1


def test_missing_url_is_a_usage_error(tmp_path):
    args = build_parser("connect").parse_args(["connect", "open311", "--once"])
    assert connect_cmd.run(args, Settings(data_dir=tmp_path)) == 2


def test_a_resolved_alert_is_posted_back_to_the_city(embedded_broker, namespace, city, tmp_path, connector):
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path, namespace=namespace)
    with closing(EventProducer.connect(embedded_broker.bootstrap, namespace)) as producer, \
            connector(["open311", "--url", city.url, "--interval", "3600", "--status-url", city.base + "/status"],
                      settings):
        deadline = time.monotonic() + 30
        while not city.posts and time.monotonic() < deadline:
            producer.send(AlertTransition(asset_id="open311-DJ-2026-000102", ts=int(time.time() * 1000),
                                          alert_id="AL-7", rule="citizen_report", state="resolved",
                                          severity="minor", domain="incidents", title="Nid de poule rebouché"))
            producer.flush()
            time.sleep(0.5)
    assert city.posts and city.posts[0]["service_request_id"] == "DJ-2026-000102"
    assert city.posts[0]["status"] == "closed"


def test_a_broker_down_fails_a_single_poll_without_losing_reports(city, tmp_path, capsys):
    from streams.broker import free_port

    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", data_dir=tmp_path, namespace=NAMESPACE)
    args = build_parser("connect").parse_args(["connect", "open311", "--url", city.url, "--once"])
    assert connect_cmd.run(args, settings) == 1
    health = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert health["feed"] == "open311" and health["state"] == "degraded" and "Kafka" in health["reason"]
    assert not (tmp_path / "open311_state.json").exists()  # nothing marked as seen: the next poll sends them
