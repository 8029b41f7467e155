"""The readings endpoint of the TALQ connector: POST `/talq/readings`, GET `/health`."""

from __future__ import annotations

from typing import Mapping

from connectors.feed import JsonServer
from connectors.talq.run import TalqConnector
from streams.kafka import BrokerUnavailable

__all__ = ["READINGS_PATH", "readings_server"]

READINGS_PATH = "/talq/readings"


def readings_server(connector: TalqConnector, *, host: str = "127.0.0.1", port: int = 0) -> JsonServer:
    """An HTTP server handing pushed LampMonitor readings to the connector (start it with `.start()`)."""

    def readings(body: bytes, headers: Mapping[str, str]) -> tuple[int, dict]:
        try:
            return 200, connector.handle_body(body)
        except BrokerUnavailable as exc:
            connector.health_status.failed(str(exc))
            return 503, {"error": f"events cannot be delivered: {exc}"}

    return JsonServer({READINGS_PATH: readings}, connector.health, host=host, port=port)
