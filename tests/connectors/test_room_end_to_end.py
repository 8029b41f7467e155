"""Each connector feeds a running room: connector → embedded broker → processor → store, in a training namespace.

What is asserted is what an operator sees in the store (asset states, open alerts, reports, commands), not
only events on a topic. The helpers (`connector`, `wait_up`, `read_events`, `process`, `inventory_dir`) are
the fixtures of tests/connectors/conftest.py.
"""

from __future__ import annotations

import json
import time
import urllib.request
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from connectors import connect_cmd
from dashboard.cli import build_parser
from streams.broker import free_port
from streams.config import Settings
from streams.kafka import EventProducer, ensure_topics
from streams.schemas import CommandAck, CommandRequest
from streams.store import ACTIVE_STATES, Store
from streams.store.inventory import asset_rows
from streams.topics import event_topic

pytestmark = pytest.mark.kafka
HERE = Path(__file__).parent


def _room(broker, data_dir, name: str) -> tuple[Settings, Store]:
    """Settings of the training namespace `train-room-<name>` on the embedded broker, and a fresh SQLite store."""
    namespace = f"train-room-{name}"
    ensure_topics(broker.bootstrap, namespace)
    settings = Settings(kafka_bootstrap=broker.bootstrap, data_dir=data_dir, namespace=namespace)
    return settings, Store.from_url(f"sqlite:///{data_dir / 'room.db'}")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _post(url: str, body) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        raw = response.read()
    return json.loads(raw) if raw.strip() else {}


def _open_alerts(store: Store, asset_id: str) -> dict[str, dict]:
    """The active alerts of an asset, by rule."""
    return {a["rule"]: a for a in store.alerts(state=ACTIVE_STATES) if a["asset_id"] == asset_id}


def _streetlight(asset_id: str, status: str, ts_ms: int) -> dict:
    """An NGSI-v2 normalized Streetlight entity (Smart Data Models) without a location: the registry places it."""
    return {"id": f"urn:ngsi-ld:Streetlight:{asset_id}", "type": "Streetlight",
            "status": {"type": "Text", "value": status}, "powerState": {"type": "Text", "value": "on"},
            "powerConsumption": {"type": "Number", "value": 0.0},
            "dateModified": {"type": "DateTime", "value": _iso(ts_ms)}}


def _weather(station: str, ts_ms: int, temperature: float, wind: float) -> dict:
    """An NGSI-v2 normalized WeatherObserved entity of a station (refDevice)."""
    return {"id": f"urn:ngsi-ld:WeatherObserved:{station}:{ts_ms}", "type": "WeatherObserved",
            "refDevice": {"type": "Relationship", "value": station},
            "dateObserved": {"type": "DateTime", "value": _iso(ts_ms)},
            "temperature": {"type": "Number", "value": temperature}, "windSpeed": {"type": "Number", "value": wind},
            "relativeHumidity": {"type": "Number", "value": 0.87}}


def _connect_once(argv: list[str], settings: Settings) -> int:
    """`vigie connect <argv>` run to its end in this thread (register, open311 --once)."""
    return connect_cmd.run(build_parser("connect").parse_args(["connect", *argv]), settings)


def test_fiware_notifications_reach_the_operator(embedded_broker, inventory_dir, connector, wait_up, process):
    """A defective inventory lamp becomes a lamp fault with open alerts; a station's observation updates it."""
    settings, store = _room(embedded_broker, inventory_dir, "fiware")
    seen = int(time.time()) * 1000 - 120_000
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with connector(["fiware", "--port", str(port)], settings):
        wait_up(url)
        _post(url + "/v2/notify", {"subscriptionId": "room-1", "data": [
            _streetlight("LP-000002", "defectiveLamp", seen), _weather("WS-02", seen, 8.5, 2.0)]})
        _post(url + "/notify", {"subscriptionId": "room-2", "data": [_weather("WS-02", seen + 60_000, 6.0, 4.2)]})
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            assert json.loads(response.read())["rejected"] == 0
    stats = process(settings, store)
    assert stats.events == 4 and stats.dead_letters == 0  # lamp telemetry + lamp fault + 2 observations

    lamp = store.asset_state("LP-000002")
    assert (lamp["kind"], lamp["state"]) == ("light", "fault")
    assert lamp["attributes"]["status"] == "defectiveLamp" and lamp["attributes"]["cabinet_id"] == "CAB-0001"
    alerts = _open_alerts(store, "LP-000002")
    assert {"lamp_failure", "lamp_defect"} <= set(alerts)
    failure = alerts["lamp_failure"]
    assert (failure["domain"], failure["state"], failure["commune_code"]) == ("lighting", "open", "21231")
    assert (failure["lat"], failure["lon"]) == pytest.approx((47.3215, 5.0416))  # placed from the inventory
    assert store.asset_state("LP-000001") is None  # nothing said about the other lamp

    station = store.asset_state("WS-02")
    assert (station["kind"], station["state"], station["last_updated"]) == ("weather", "ok", seen + 60_000)
    assert station["attributes"]["temperature_c"] == 6.0 and station["attributes"]["wind_speed_ms"] == 4.2
    assert station["attributes"]["humidity_pct"] == pytest.approx(87.0)
    assert _open_alerts(store, "WS-02") == {}
    summary = store.status_summary()
    assert summary["assets_with_state"] == 2 and summary["open_alerts"] >= 2


def test_open311_reports_become_incident_alerts_once(embedded_broker, tmp_path, fake_city, read_events, process):
    """A Dijon pothole report becomes a P2 incident alert with its report; polling it again does not double it."""
    rows = json.loads((HERE / "open311" / "fixtures" / "dijon-requests.json").read_text(encoding="utf-8"))
    [pothole] = [r for r in rows if isinstance(r, dict) and r.get("service_request_id") == "DJ-2026-000102"]
    city = fake_city([pothole])
    settings, store = _room(embedded_broker, tmp_path, "open311")
    argv = ["open311", "--url", city.url, "--once"]
    assert _connect_once(argv, settings) == 0
    assert _connect_once(argv, settings) == 0  # the same request: the connector's state says it was sent
    assert len(city.gets) >= 2
    stats = process(settings, store)
    assert stats.events == 1 and stats.dead_letters == 0  # the processor read the whole topic: one report on it

    [report] = store.reports()
    assert (report["external_id"], report["source"], report["category"], report["status"]) == \
        ("DJ-2026-000102", "open311", "pothole", "open")
    [alert] = store.alerts(rule="citizen_report")
    assert report["alert_id"] == alert["id"] and alert["asset_id"] == "open311-DJ-2026-000102"
    assert (alert["priority"], alert["severity"], alert["domain"], alert["state"]) == \
        ("P2", "minor", "incidents", "open")
    assert (alert["lat"], alert["lon"]) == pytest.approx((47.3390, 5.0480))

    # Even a connector that lost its state and sends the request again does not double it in the room.
    (tmp_path / "open311_state.json").unlink()
    assert _connect_once(argv, settings) == 0
    topic = event_topic(settings.namespace, "incident.report")
    assert [e.external_id for e in read_events(embedded_broker.bootstrap, topic, 2)] == ["DJ-2026-000102"] * 2
    assert process(settings, store).events == 1
    assert [r["external_id"] for r in store.reports()] == ["DJ-2026-000102"]
    assert [a["id"] for a in store.alerts(rule="citizen_report")] == [alert["id"]]


def test_talq_readings_and_a_dim_command_round_trip(embedded_broker, inventory_dir, cms, connector, wait_up,
                                                    read_events, process):
    """A lampFailure reading opens a lamp fault alert; a dim command reaches TALQ and its ack the command's row."""
    settings, store = _room(embedded_broker, inventory_dir, "talq")
    now = int(time.time() * 1000)
    command = CommandRequest(asset_id="CAB-0001", ts=now, command_id="CMD-ROOM-1", action="dim",
                             targets=["LP-000001", "LP-000002"], expires_at=now + 900_000, user="op1",
                             reason="room end-to-end test", level=40.0)
    store.record_command(command, scope="CAB-0001", count=2, namespace=settings.namespace, role="operator")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    reading = {"device": "LP-000001", "timestamp": _iso(now - 60_000),
               "LampMonitor": {"activePower": 0.0, "activeEnergy": 1200.0, "supplyVoltage": 230.0,
                               "lampFailure": True, "dimmingFailure": False, "supplyLoss": False,
                               "controlGearCommFailure": False},
               "LampActuator": {"actualLightState": 0}}
    with closing(EventProducer.connect(embedded_broker.bootstrap, settings.namespace)) as producer, \
            connector(["talq", "--url", cms.url, "--port", str(port)], settings):
        wait_up(url)
        reply = _post(url + "/talq/readings", {"readings": [reading]})
        assert reply["events"] >= 2 and reply["rejected"] == []
        deadline = time.monotonic() + 30
        while not cms.received and time.monotonic() < deadline:  # the connector may not have joined yet
            producer.send(command)
            producer.flush()
            time.sleep(0.5)
        assert cms.received, "the dim command never reached the TALQ system"
        acks = read_events(embedded_broker.bootstrap, event_topic(settings.namespace, "command.ack"), 1)
    override = cms.received[0]
    assert override["commandId"] == "CMD-ROOM-1" and override["function"] == "LampActuator"
    assert [(o["address"], o["targetLightCommand"]) for o in override["overrides"]] == \
        [("LP-000001", 40.0), ("LP-000002", 40.0)]
    assert override["overrides"][0]["start"] < override["overrides"][0]["expiration"]
    assert isinstance(acks[0], CommandAck) and (acks[0].command_id, acks[0].status) == ("CMD-ROOM-1", "done")

    stats = process(settings, store)
    assert stats.dead_letters == 0
    row = store.command("CMD-ROOM-1")
    assert (row["status"], row["applied"]) == ("done", 2) and row["ack_ts"] is not None
    lamp = store.asset_state("LP-000001")
    assert (lamp["kind"], lamp["state"]) == ("light", "fault")
    failure = _open_alerts(store, "LP-000001")["lamp_failure"]
    assert (failure["domain"], failure["commune_code"]) == ("lighting", "21231")
    assert not any(a["rule"] == "command_timeout" for a in store.alerts())


def test_a_registered_asset_reported_via_fiware_is_in_the_room(embedded_broker, inventory_dir, connector, wait_up,
                                                               process, capsys):
    """An asset imported from a register is known to FIWARE (no location needed) and reaches the store."""
    settings, store = _room(embedded_broker, inventory_dir, "register")
    register = HERE / "register" / "fixtures" / "register-dijon.geojson"
    assert _connect_once(["register", str(register), "--json"], settings) == 0
    report = json.loads(capsys.readouterr().out)
    assert "LP-NEW-0001" in report["assets"] and "LP-000001" not in report["assets"]  # already in the inventory
    seen = int(time.time()) * 1000 - 60_000
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with connector(["fiware", "--port", str(port)], settings):
        wait_up(url)
        _post(url + "/v2/notify", {"subscriptionId": "room-3",
                                   "data": [_streetlight("LP-NEW-0001", "defectiveLamp", seen)]})
        with urllib.request.urlopen(url + "/health", timeout=5) as response:
            assert json.loads(response.read())["rejected"] == 0
    stats = process(settings, store)
    assert stats.events == 2 and stats.dead_letters == 0

    lamp = store.asset_state("LP-NEW-0001")
    assert (lamp["kind"], lamp["state"]) == ("light", "fault")
    assert lamp["attributes"]["cabinet_id"] == "CAB-0001"  # the register's topology, added by the connector
    alert = _open_alerts(store, "LP-NEW-0001")["lamp_failure"]
    assert alert["domain"] == "lighting"

    # The room's inventory (the store's `assets`) is loaded from data/inventory when the store is empty; nothing
    # reads registered_assets.json into it yet. So a registered asset is known by its events (state, alerts) but
    # is not placed: no position nor commune on its alerts. When that wiring lands, these two lines must flip.
    assert "LP-NEW-0001" not in {a["asset_id"] for a in store.inventory()}
    assert (alert["lat"], alert["lon"], alert["commune_code"]) == (None, None, None)
    # The wiring it takes: the registered rows are in the inventory's columns, so the store takes them as they are.
    registered = json.loads((inventory_dir / "registered_assets.json").read_text(encoding="utf-8"))
    assert store.upsert_assets(asset_rows(pd.DataFrame(registered))) == len(report["assets"])
    row = {a["asset_id"]: a for a in store.inventory()}["LP-NEW-0001"]
    assert (row["kind"], row["cabinet_id"], row["commune_code"]) == ("light", "CAB-0001", "21231")
