"""Fixtures of the Open311 tests: the Dijon and published requests (the fake city server: ../conftest.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 21, 5, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def dijon_rows():
    return json.loads((FIXTURES / "dijon-requests.json").read_text(encoding="utf-8"))


@pytest.fixture
def published_bytes():
    return (FIXTURES / "georeport-v2-requests.json").read_bytes()


@pytest.fixture
def city(fake_city, dijon_rows):
    """The Dijon requests served by a fake GeoReport server (tests/connectors/conftest.py)."""
    return fake_city(dijon_rows)


@pytest.fixture
def now():
    return NOW
