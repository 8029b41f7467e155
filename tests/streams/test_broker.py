"""The embedded broker: it starts, speaks Kafka, refuses a taken port and leaves no orphan."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from streams.broker import BrokerError, EmbeddedBroker, free_port
from streams.kafka import BrokerUnavailable, EventProducer, make_consumer, wait_for_broker
from streams.schemas import CameraHealth, Validator, now_ms
from streams.topics import namespace_topics


def test_catalog_topics_exist_and_events_round_trip(embedded_broker):
    consumer = make_consumer(embedded_broker.bootstrap)
    try:
        topics = consumer.topics()
    finally:
        consumer.close()
    assert {name for name, _ in namespace_topics("live")} <= topics

    producer = EventProducer.connect(embedded_broker.bootstrap, "live")
    sent = [CameraHealth(asset_id=f"CAM-{i:03d}", ts=now_ms(), state="online") for i in range(50)]
    for event in sent:
        producer.send(event)
    producer.close()
    consumer = make_consumer(embedded_broker.bootstrap, ["live.cameras.health"], consumer_timeout_ms=5000)
    got = []
    try:
        for message in consumer:
            got.append(Validator().decode(message.value))
            assert message.key.decode() == got[-1].asset_id
            if len(got) == len(sent):
                break
    finally:
        consumer.close()
    assert sorted(got, key=lambda e: e.asset_id) == sent


def test_a_taken_port_gives_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} .* already taken"):
            EmbeddedBroker(port).start()


def test_no_broker_gives_a_clear_error():
    with pytest.raises(BrokerUnavailable, match="no Kafka broker answered"):
        wait_for_broker(f"127.0.0.1:{free_port()}", timeout=1.5)


def _tansu_children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=,comm=", "-e"], capture_output=True, text=True).stdout
    return [int(p) for p, pp, comm in (line.split(None, 2) for line in out.splitlines())
            if int(pp) == pid and comm.startswith("tansu")]


def _run_cli_broker(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.cli", "broker", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert f"broker ready on 127.0.0.1:{port}" in line, line + proc.stderr.read()
    return proc


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split()[2] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_vigie_broker_stops_cleanly_and_leaves_no_orphan(how):
    port = free_port()
    proc = _run_cli_broker(port)
    children = _tansu_children(proc.pid)
    assert len(children) == 1
    wait_for_broker(f"127.0.0.1:{port}", timeout=5)
    proc.send_signal(how)
    proc.wait(10)
    if how != signal.SIGKILL:
        assert proc.returncode == 0
    assert _gone(children[0]), "the broker process outlived its parent"
