"""`vigie connect talq` end to end: commands from the broker to TALQ and acks back; readings to lamp events."""

from __future__ import annotations

import json
import time
import urllib.request
from contextlib import closing

import pytest

from streams.broker import free_port
from streams.config import Settings
from streams.kafka import EventProducer, ensure_topics
from streams.schemas import CommandAck, CommandRequest
from streams.topics import event_topic

pytestmark = pytest.mark.kafka
NAMESPACE = "train-conn-talq"


def test_commands_and_readings_through_the_broker(embedded_broker, inventory_dir, cms, readings, connector,
                                                  read_events):
    ensure_topics(embedded_broker.bootstrap, NAMESPACE)
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=inventory_dir, namespace=NAMESPACE)
    port = free_port()
    with closing(EventProducer.connect(embedded_broker.bootstrap, NAMESPACE)) as producer, \
            connector(["talq", "--url", cms.url, "--port", str(port)], settings):
        deadline = time.monotonic() + 30
        while not cms.received and time.monotonic() < deadline:
            now = int(time.time() * 1000)
            producer.send(CommandRequest(asset_id="CAB-0001", ts=now, command_id="CMD-E2E", action="dim",
                                         targets=["LP-000001", "LP-000002"], expires_at=now + 600_000,
                                         user="op1", reason="end-to-end test", level=50.0))
            producer.flush()
            time.sleep(0.5)
        assert cms.received, "the command never reached the TALQ endpoint"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/talq/readings",
                                         data=json.dumps(readings).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            reply = json.loads(response.read())
        assert reply["events"] > 0 and len(reply["rejected"]) == 4
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            assert json.loads(response.read())["state"] == "up"
    acks = read_events(embedded_broker.bootstrap, event_topic(NAMESPACE, "command.ack"), 1)
    assert isinstance(acks[0], CommandAck) and (acks[0].command_id, acks[0].status, acks[0].applied) == \
        ("CMD-E2E", "done", 2)
    lamps = read_events(embedded_broker.bootstrap, event_topic(NAMESPACE, "lamp.telemetry"), 2)
    assert {e.asset_id for e in lamps} == {"LP-000001", "LP-000002"}
    faults = read_events(embedded_broker.bootstrap, event_topic(NAMESPACE, "lamp.fault"), 5)
    assert ("LP-000002", "supplyLoss", True) in {(e.asset_id, e.fault, e.active) for e in faults}
