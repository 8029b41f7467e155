"""Fixtures of the TALQ tests: a small registry and the readings (the fake TALQ system `cms`: ../conftest.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
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


@pytest.fixture
def registry():
    return AssetRegistry(small_assets(), communes=approximate_communes())


@pytest.fixture
def readings():
    return json.loads((FIXTURES / "readings.json").read_text(encoding="utf-8"))


@pytest.fixture
def now():
    return NOW
