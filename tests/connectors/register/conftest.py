"""Fixtures of the asset-register tests: a registry over the approximate communes that knows one lamp."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.dijon.geography import approximate_communes
from connectors.register.registry import AssetRegistry, KnownAsset

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def communes():
    return approximate_communes()


@pytest.fixture
def fixtures():
    return FIXTURES


@pytest.fixture
def registry(tmp_path, communes):
    known = [KnownAsset("LP-000001", "light", 5.0414, 47.3213, "21231", cabinet_id="CAB-0001", wattage_w=40.0),
             KnownAsset("CAB-0001", "cabinet", 5.0420, 47.3210, "21231", lamps_total=1)]
    return AssetRegistry(known, communes=communes, path=tmp_path / "registered_assets.json")
