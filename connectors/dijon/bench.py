"""`vigie bench simulator`: the simulator's top speed, alone and through the embedded broker."""

from __future__ import annotations

from streams.broker import EmbeddedBroker, free_port

from .inventory import build_inventory
from .runner import measure_top_speed

__all__ = ["bench_simulator"]


def bench_simulator(seconds: float = 10.0) -> dict:
    """Measure events/s and the speed factor at Dijon scale, with a real broker started for the run."""
    inventory = build_inventory(42)
    with EmbeddedBroker(free_port()) as broker:
        return measure_top_speed(inventory, seconds, bootstrap=broker.bootstrap)
