"""The scenario library renders each simulator scenario into a replayable recording, the same every time."""

import pytest

from streams.recording import Recording
from streams.replayer import Replayer

pytest.importorskip("connectors.dijon.scenarios")


def test_a_scenario_renders_deterministically_with_its_brief(tmp_path):
    from connectors.dijon.inventory import build_inventory

    from streams.scenarios_record import render_scenario

    inventory = build_inventory(42)
    first = render_scenario("cabinet-outage", tmp_path / "a", inventory=inventory, hours=0.1)
    again = render_scenario("cabinet-outage", tmp_path / "b", inventory=inventory, hours=0.1)
    assert first.events > 1000 and first.complete
    assert [s.sha256 for s in first.segments] == [s.sha256 for s in again.segments]
    recording = Recording.open(tmp_path / "a")
    meta = recording.manifest.meta
    assert meta["scenario"] == "cabinet-outage" and "Chenôve" in meta["brief_fr"] and meta["onset_offset_s"] == 1800
    assert recording.manifest.duration_s <= 360
    assert "live.lighting.telemetry" in recording.topics
    Replayer(recording, session="scenario-check")  # every topic maps into a training namespace
