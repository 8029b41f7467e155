"""`vigie connect talq` end to end: commands from the broker to TALQ and acks back; readings to lamp events."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from kafka import TopicPartition

from connectors import connect_cmd
from dashboard.cli import build_parser
from streams.broker import free_port
from streams.config import Settings
from streams.kafka import EventProducer, ensure_topics, make_consumer
from streams.schemas import CommandAck, CommandRequest, Validator
from streams.topics import event_topic

pytestmark = pytest.mark.kafka
NAMESPACE = "train-conn-talq"


def read_events(bootstrap: str, topic: str, want: int, timeout: float = 20.0) -> list:
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


def test_commands_and_readings_through_the_broker(embedded_broker, inventory_dir, cms, readings):
    ensure_topics(embedded_broker.bootstrap, NAMESPACE)
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=inventory_dir, namespace=NAMESPACE)
    port = free_port()
    args = build_parser("connect").parse_args(["connect", "talq", "--url", cms.url, "--port", str(port)])
    stop = threading.Event()
    runner = threading.Thread(target=connect_cmd.run, args=(args, settings, stop), daemon=True)
    runner.start()
    producer = EventProducer.connect(embedded_broker.bootstrap, NAMESPACE)
    try:
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
    finally:
        producer.close()
        stop.set()
        runner.join(15)
    assert not runner.is_alive()
    acks = read_events(embedded_broker.bootstrap, event_topic(NAMESPACE, "command.ack"), 1)
    assert isinstance(acks[0], CommandAck) and (acks[0].command_id, acks[0].status, acks[0].applied) == \
        ("CMD-E2E", "done", 2)
    lamps = read_events(embedded_broker.bootstrap, event_topic(NAMESPACE, "lamp.telemetry"), 2)
    assert {e.asset_id for e in lamps} == {"LP-000001", "LP-000002"}
    faults = read_events(embedded_broker.bootstrap, event_topic(NAMESPACE, "lamp.fault"), 5)
    assert ("LP-000002", "supplyLoss", True) in {(e.asset_id, e.fault, e.active) for e in faults}
