"""Fixtures of the TALQ tests: a small registry, the readings, and a local TALQ central management system."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connectors.dijon.geography import approximate_communes
from connectors.register.registry import AssetRegistry, KnownAsset

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 21, 5, tzinfo=timezone.utc).timestamp()


def small_assets() -> list[KnownAsset]:
    """Two lamps behind one cabinet, and a camera."""
    return [
        KnownAsset("LP-000001", "light", 5.0414, 47.3213, "21231", cabinet_id="CAB-0001", wattage_w=40.0),
        KnownAsset("LP-000002", "light", 5.0416, 47.3215, "21231", cabinet_id="CAB-0001", wattage_w=40.0),
        KnownAsset("CAB-0001", "cabinet", 5.0420, 47.3210, "21231", lamps_total=2),
        KnownAsset("CAM-001", "camera", 5.0401, 47.3219, "21231"),
    ]


class FakeCms:
    """A TALQ central management system taking override commands; `mode` picks its answer."""

    def __init__(self) -> None:
        self.mode = "results"
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                command = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                outer.received.append(command)
                if outer.mode == "500":
                    return self._send(500, b"{}")
                if outer.mode == "400":
                    return self._send(400, b'{"error": "unknown address"}')
                if outer.mode == "empty":
                    return self._send(202, b"")
                statuses = ["done"] * len(command["overrides"])
                if outer.mode == "partial":
                    statuses[-1] = "failed"
                results = [{"address": o["address"], "status": s} for o, s in zip(command["overrides"], statuses)]
                self._send(200, json.dumps({"results": results}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/talq/commands"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cms():
    fake = FakeCms()
    yield fake
    fake.close()


@pytest.fixture
def registry():
    return AssetRegistry(small_assets(), communes=approximate_communes())


@pytest.fixture
def readings():
    return json.loads((FIXTURES / "readings.json").read_text(encoding="utf-8"))


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def inventory_dir(tmp_path):
    """A data folder holding the small inventory as GeoParquet."""
    import geopandas as gpd
    import pandas as pd

    from connectors.dijon.geography import transport_lines
    from connectors.dijon.inventory import Inventory, save_inventory

    frame = pd.DataFrame([{
        "asset_id": a.asset_id, "kind": a.kind, "commune_code": a.commune_code, "name": a.asset_id, "lon": a.lon,
        "lat": a.lat, "cabinet_id": a.cabinet_id, "lamp_type": None, "wattage_w": a.wattage_w, "baseline_w": 0.0,
        "renovated_on": pd.NaT, "lamps_total": a.lamps_total, "bus_priority": False, "lines": "", "period_s": 300}
        for a in small_assets()])
    frame["renovated_on"] = pd.to_datetime(frame["renovated_on"])
    geo = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")
    save_inventory(Inventory(communes=approximate_communes(), assets=geo, lines=transport_lines()),
                   tmp_path / "inventory")
    return tmp_path
