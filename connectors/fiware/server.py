"""The notification endpoint: `/notify`, `/v2/notify` and `/ngsi-ld/v1/notify` (POST), `/health` (GET)."""

from __future__ import annotations

from typing import Mapping

from connectors.feed import JsonServer
from connectors.fiware.run import FiwareConnector
from streams.kafka import BrokerUnavailable

__all__ = ["NOTIFY_PATHS", "notification_server"]

NOTIFY_PATHS = ("/notify", "/v2/notify", "/ngsi-ld/v1/notify")


def notification_server(connector: FiwareConnector, *, host: str = "127.0.0.1", port: int = 0) -> JsonServer:
    """An HTTP server handing every notification to the connector (start it with `.start()`)."""

    def notify(body: bytes, headers: Mapping[str, str]) -> tuple[int, dict]:
        try:
            report = connector.handle_body(body)
        except BrokerUnavailable as exc:
            connector.health_status.failed(str(exc))
            return 503, {"error": f"events cannot be delivered: {exc}"}
        return 200, report.as_dict()

    return JsonServer({path: notify for path in NOTIFY_PATHS}, connector.health, host=host, port=port)
