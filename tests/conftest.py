"""Fixtures shared by every test: the embedded broker, started once per test session."""

from __future__ import annotations

import pytest

from streams.broker import EmbeddedBroker, free_port


@pytest.fixture(scope="session")
def embedded_broker():
    """A real Kafka-protocol broker (embedded Tansu) on 127.0.0.1, with the live topic catalog."""
    last = None
    for _ in range(3):
        broker = EmbeddedBroker(free_port())
        try:
            broker.start()
        except Exception as exc:  # a port just freed may be refused for a moment: try another
            last = exc
            continue
        try:
            yield broker
        finally:
            broker.stop()
        return
    raise RuntimeError(f"the embedded broker did not start: {last}")
