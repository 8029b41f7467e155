"""Factories for the training-session tests: settings on the test broker, camera recordings, waits."""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from streams.config import Settings
from streams.recording import Record, write_recording
from streams.schemas import CameraHealth, LampTelemetry, encode

T0 = 1_764_000_000_000  # a fixed recording start (2025-11-24), far from the replay time


def camera_records(span_s: int, faults: dict[str, tuple[int, str]], *, every_s: int = 30,
                   cameras: int = 4, t0: int = T0) -> list[Record]:
    """Camera health every `every_s` for `cameras` cameras and a lamp.

    `faults`: camera (`TCAM-001`...) -> (from_s, state) or (from_s, state, until_s).
    """
    out = []
    offset = 0
    for s in range(0, span_s + 1, every_s):
        ts = t0 + s * 1000
        for n in range(1, cameras + 1):
            key = f"TCAM-{n:03d}"
            since, bad, until = (*faults.get(key, (None, None)), None)[:3]
            state = bad if since is not None and s >= since and (until is None or s < until) else "online"
            value = encode(CameraHealth(asset_id=key, ts=ts, state=state, bitrate_kbps=2048.0))
            out.append(Record(ts, "live.cameras.health", n % 3, offset, key.encode(), value, None))
            offset += 1
        value = encode(LampTelemetry(asset_id="TLP-1", ts=ts, power_state="on", level=100.0, power_w=30.0,
                                     energy_wh=float(s), cabinet_id="CAB-0001"))
        out.append(Record(ts, "live.lighting.telemetry", 0, offset, b"TLP-1", value, None))
        offset += 1
    return out


def wait_for(check, timeout: float = 30.0, every: float = 0.2, what: str = "condition"):
    """Poll `check()` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(every)


@pytest.fixture
def settings(embedded_broker, tmp_path):
    """Settings on the test broker with a fresh data folder (SQLite stores)."""
    return Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path / "data", database_url=None)


@pytest.fixture
def make_recording(tmp_path):
    """Write records into a new recording folder and return its path."""
    def make(records, name: str | None = None):
        folder = tmp_path / (name or f"rec-{uuid.uuid4().hex[:6]}")
        write_recording(folder, records, namespace="live",
                        topics=("live.cameras.health", "live.lighting.telemetry"))
        return folder
    return make


@pytest.fixture
def kit():
    """The helpers above, for test modules (conftest modules cannot be imported under importlib mode)."""
    return SimpleNamespace(T0=T0, camera_records=camera_records, wait_for=wait_for)


@pytest.fixture
def name():
    """A unique session name."""
    return f"s{uuid.uuid4().hex[:8]}"
