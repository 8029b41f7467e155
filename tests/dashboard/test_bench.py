"""The browser benchmark, short: the real stack, one render, three probes, two bursts; figures present and sane.

No timing thresholds here (the machines are shared and noisy): `vigie bench dashboard` gives the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.bench import CHROMIUM, bench_dashboard, tick_size


def _merge(states: dict) -> dict:
    return {"hideout": {"__dash_patch_update": "__dash_patch_update",
                        "operations": [{"operation": "Merge", "location": ["s"], "params": {"value": states}}]}}


def test_tick_size_counts_each_changed_asset_once():
    body = json.dumps({"multi": True, "response": {
        "layer-lights": _merge({"LP-000001": 2, "LP-000002": 0}),
        "layer-faults": _merge({"LP-000001": 2, "LP-000002": 0}),  # the same lamps again, for the fault layer
        "layer-weather": _merge({"WS-001": {"s": 0, "t": 3.5}}),
        "layer-signals": {"hideout": {"__dash_patch_update": "__dash_patch_update",
                                      "operations": [{"operation": "Assign", "location": ["n"], "params": {"value": 3}}]}},
        "seq-store": {"data": 42},
    }}).encode()
    assert tick_size(body) == (len(body), 3)
    assert tick_size(b"not json") == (8, 0)


@pytest.mark.browser
def test_short_benchmark_gives_sane_figures(browser):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make system-deps` (apt-get install chromium)")
    figures = bench_dashboard(renders=1, probes=3, loads=(("nominal", 1.0),), bursts=(10, 100), warm_s=5.0,
                              browser=browser)  # the session's: one Playwright per process

    assert "stopped_during_run" not in figures and "page_errors" not in figures, figures
    assert 0 < figures["first_render_s"] < 60
    assert figures["render_lamps_fetch_s"] < figures["first_render_s"]
    assert figures["lamp_geojson_bytes"] > 0 and figures["lamp_geojson_serve_s"] > 0
    assert figures["probes"] == "3/3"
    assert 0 < figures["latency_p50_s"] <= figures["latency_p95_s"] <= figures["latency_max_s"] < 20
    assert figures["events_per_s"] > 0
    assert figures["bytes_per_update"] > 0
    # update size follows the number of changed assets
    assert figures["burst_10_assets"] >= 10 and figures["burst_100_assets"] >= 100
    assert figures["burst_100_bytes"] > figures["burst_10_bytes"] > 0
    assert figures["bytes_per_changed_asset"] > 0
