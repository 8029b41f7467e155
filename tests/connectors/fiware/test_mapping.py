"""Smart Data Models to events: the published examples map field by field, and are rejected as outside Dijon."""

from __future__ import annotations

import json

import pytest

from connectors.fiware.mapping import ENTITY_SPECS, mapped_attributes, preview
from connectors.fiware.ngsi import flatten
from connectors.fiware.run import EnergyMeter, FiwareConnector
from streams.schemas import (
    CabinetMetering,
    CameraHealth,
    IncidentReport,
    LampFault,
    LampTelemetry,
    WeatherObservation,
)

PUBLISHED = ["Streetlight-example-normalized.json", "Streetlight-example.json",
             "Streetlight-example-normalized.jsonld",
             "StreetlightControlCabinet-example-normalized.json", "StreetlightControlCabinet-example.json",
             "WeatherObserved-example-normalized.json", "WeatherObserved-example.json",
             "WeatherObserved-example.jsonld",
             "TrafficFlowObserved-example-normalized.json", "TrafficFlowObserved-example.json",
             "Alert-example-normalized.json", "Alert-example.json"]


def _by_kind(pairs):
    return {kind: fields for kind, fields in pairs}


@pytest.mark.parametrize("name", ["Streetlight-example-normalized.json", "Streetlight-example.json",
                                  "Streetlight-example-normalized.jsonld"])
def test_published_streetlight_maps_to_lamp_telemetry_and_fault(payload, name):
    fields = _by_kind(preview(flatten(payload(name)), now_ms=0))
    telemetry = fields["lamp.telemetry"]
    assert telemetry["asset_id"] == "streetlight:guadalajara:4567"
    assert telemetry["power_state"] == "off"
    assert telemetry["level"] == 0.0
    assert telemetry["power_w"] == 10
    assert telemetry["status"] == "ok"
    assert telemetry["voltage_v"] == 50
    assert telemetry["ts"] == 1610360462000  # 2021-01-11T15:51:02+05:30
    assert fields["lamp.fault"]["fault"] == "lampFailure" and fields["lamp.fault"]["active"] is False


@pytest.mark.parametrize("name", ["StreetlightControlCabinet-example-normalized.json",
                                  "StreetlightControlCabinet-example.json"])
def test_published_cabinet_maps_energy_and_mode_but_has_no_active_power(payload, name):
    fields = _by_kind(preview(flatten(payload(name)), now_ms=0))["cabinet.metering"]
    assert fields["energy_kwh"] == 162456
    assert fields["working_mode"] == "automatic"
    assert fields["active_power_kw"] is None  # the example gives reactive power and intensities only
    assert fields["supply_ok"] is True


def test_published_weather_maps_units(payload):
    fields = _by_kind(preview(flatten(payload("WeatherObserved-example-normalized.json")), now_ms=0))
    weather = fields["weather.observation"]
    assert weather["temperature_c"] == 3.3
    assert weather["road_temperature_c"] == 3.3
    assert weather["humidity_pct"] == 15.0
    assert weather["precipitation_mm_h"] == 0.1
    assert weather["wind_speed_ms"] == 2 and weather["gust_ms"] == 2
    assert weather["wind_direction_deg"] == 135
    assert weather["pressure_hpa"] == 938.9
    ld = _by_kind(preview(flatten(payload("WeatherObserved-example.jsonld")), now_ms=0))["weather.observation"]
    assert ld["wind_direction_deg"] == 315 and ld["humidity_pct"] == 100.0


def test_published_alert_maps_to_an_incident_report(payload):
    report = _by_kind(preview(flatten(payload("Alert-example.json")), now_ms=1_700_000_000_000))["incident.report"]
    assert report["lat"] == pytest.approx(40.423852777777775) and report["lon"] == pytest.approx(-3.712247222222222)
    assert report["status"] == "closed"  # validTo 2017 is past
    assert report["description"] == "The road is completely blocked for 3kms (traffic/trafficJam, severity high)"
    assert report["external_id"] == "Alert:1"
    assert report["category"] == "other"


def test_published_traffic_flow_gives_the_proposed_traffic_flow_fields(payload):
    fields = _by_kind(preview(flatten(payload("TrafficFlowObserved-example.json")), now_ms=0))["traffic.flow"]
    assert fields["intensity_veh"] == 197
    assert fields["occupancy_pct"] == 76.0
    assert fields["average_speed_kmh"] == 52.6
    assert fields["ts"] == 1481109300000  # the end of the 11:10/11:15 interval


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_examples_are_rejected_as_outside_the_metropolis(registry, payload, name):
    sent = []
    connector = FiwareConnector(registry, sent.append)
    report = connector.handle_body(json.dumps(payload(name)).encode())
    assert sent == []
    assert len(report.rejected) == 1
    assert "outside Dijon Métropole" in report.rejected[0]["reason"]
    assert connector.health()["rejected"] == 1 and connector.health()["state"] == "up"


@pytest.mark.parametrize("name", ["Device-example-normalized.json", "Device-example.json"])
def test_published_device_is_rejected_without_a_location(registry, payload, name):
    connector = FiwareConnector(registry, lambda e: None)
    report = connector.handle_entities([payload(name)])
    assert "unknown asset and no location" in report.rejected[0]["reason"]


def test_dijon_v2_notification(registry, payload, now):
    sent = []
    connector = FiwareConnector(registry, sent.append, clock=lambda: now)
    report = connector.handle_entities(payload("dijon-notification-v2.json")["data"])
    kinds = [(type(e).__name__, e.asset_id) for e in sent]
    assert ("LampTelemetry", "LP-000001") in kinds and ("LampFault", "LP-000001") in kinds
    lamp = next(e for e in sent if isinstance(e, LampTelemetry) and e.asset_id == "LP-000001")
    assert (lamp.power_state, lamp.level, lamp.power_w, lamp.status, lamp.cabinet_id) == \
        ("low", 70.0, 28.0, "defectiveLamp", "CAB-0001")
    fault = next(e for e in sent if isinstance(e, LampFault) and e.asset_id == "LP-000001")
    assert fault.active is True and fault.fault == "lampFailure"
    assert report.registered == ["streetlight:quetigny:0017"]
    assert registry.get(report.registered[0]).commune_code == "21515"
    assert registry.registered_log[0].kind == "light"
    assert [r["id"] for r in report.rejected] == ["streetlight:besancon:0001"]
    assert "outside Dijon Métropole" in report.rejected[0]["reason"]
    cabinet = next(e for e in sent if isinstance(e, CabinetMetering))
    assert (cabinet.asset_id, cabinet.energy_kwh, cabinet.active_power_kw, cabinet.lamps_total, cabinet.lamps_on,
            cabinet.supply_ok) == ("CAB-0001", 162456, 1.2, 2, 2, True)
    weather = next(e for e in sent if isinstance(e, WeatherObservation))
    assert (weather.asset_id, weather.temperature_c, weather.humidity_pct, weather.wind_direction_deg) == \
        ("WS-01", -2.5, 92.0, 315.0)
    incident = next(e for e in sent if isinstance(e, IncidentReport))
    assert (incident.category, incident.source, incident.status, incident.external_id) == \
        ("pothole", "agent", "open", "Alert:dijon:42")
    camera = next(e for e in sent if isinstance(e, CameraHealth))
    assert (camera.asset_id, camera.state) == ("CAM-001", "offline")
    assert report.skipped[0]["reason"] == "TrafficFlowObserved needs the event kind traffic.flow"
    assert report.skipped[0]["fields"]["congested"] is True


def test_registered_assets_are_saved_and_reloaded(registry, payload, now, communes):
    FiwareConnector(registry, lambda e: None, clock=lambda: now).handle_entities(
        payload("dijon-notification-v2.json")["data"])
    from connectors.register.registry import AssetRegistry

    again = AssetRegistry(communes=communes, path=registry.path)
    (asset,) = again.registered()
    assert asset.kind == "light" and asset.source == "fiware" and asset.commune_code == "21515"


def test_dijon_ld_notification_maps_known_assets(registry, payload, now):
    sent = []
    FiwareConnector(registry, sent.append, clock=lambda: now).handle_body(
        json.dumps(payload("dijon-notification-ld.json")).encode())
    lamp = next(e for e in sent if isinstance(e, LampTelemetry))
    assert (lamp.asset_id, lamp.power_state, lamp.level, lamp.power_w, lamp.cabinet_id) == \
        ("LP-000002", "off", 0.0, 0.0, "CAB-0001")
    weather = next(e for e in sent if isinstance(e, WeatherObservation))
    assert (weather.asset_id, weather.temperature_c, weather.gust_ms) == ("WS-02", 4.2, 6.0)


def test_faults_pass_only_when_they_change(registry, payload, now):
    sent = []
    connector = FiwareConnector(registry, sent.append, clock=lambda: now)
    entity = payload("dijon-notification-v2.json")["data"][0]
    for _ in range(3):
        connector.handle_entities([entity])
    assert sum(isinstance(e, LampFault) for e in sent) == 1
    repaired = {**entity, "status": {"type": "Text", "value": "ok"}}
    connector.handle_entities([repaired])
    faults = [e for e in sent if isinstance(e, LampFault)]
    assert [f.active for f in faults] == [True, False]


def test_energy_is_integrated_when_the_model_has_no_meter():
    meter = EnergyMeter()
    assert meter.advance("LP-1", 0, 40.0) == 0.0
    assert meter.advance("LP-1", 1_800_000, 40.0) == pytest.approx(20.0)  # 40 W for half an hour
    assert meter.advance("LP-1", 1_800_000 + 5 * 3_600_000, 40.0) == pytest.approx(20.0)  # gap too long: not counted


def test_a_bad_value_rejects_only_its_entity(registry, now):
    sent = []
    connector = FiwareConnector(registry, sent.append, clock=lambda: now)
    bad = {"id": "LP-000001", "type": "Streetlight", "powerState": "on", "illuminanceLevel": 0.5,
           "powerConsumption": 99999, "dateModified": "2026-11-20T21:00:00Z"}
    good = {"id": "LP-000002", "type": "Streetlight", "powerState": "on", "powerConsumption": 30,
            "dateModified": "2026-11-20T21:00:00Z"}
    unknown = {"id": "x", "type": "ParkingSpot"}
    report = connector.handle_entities([bad, good, unknown, "garbage"])
    assert [e.asset_id for e in sent] == ["LP-000002"]
    reasons = [r["reason"] for r in report.rejected]
    assert "power_w" in reasons[0]
    assert "not mapped" in reasons[1]
    assert "must be a JSON object" in reasons[2]


def test_every_spec_lists_what_it_maps_and_leaves_out():
    for entity_type, spec in ENTITY_SPECS.items():
        assert spec.unmapped
        if spec.events:
            assert mapped_attributes(entity_type)


def test_device_health_for_cameras_and_lamps(registry, now):
    sent = []
    connector = FiwareConnector(registry, sent.append, clock=lambda: now)
    fresh, stale = "2026-11-20T21:04:00Z", "2026-11-20T19:00:00Z"
    report = connector.handle_entities([
        {"id": "urn:ngsi-ld:Device:cam1", "type": "Device", "controlledAsset": ["CAM-001"], "deviceState": "ok",
         "dateLastValueReported": fresh},
        {"id": "urn:ngsi-ld:Device:lamp1", "type": "Device", "controlledAsset": ["LP-000002"], "deviceState": "ok",
         "dateLastValueReported": stale},
        {"id": "urn:ngsi-ld:Device:cab1", "type": "Device", "controlledAsset": ["CAB-0001"], "deviceState": "ok"},
        {"id": "urn:ngsi-ld:Device:cam2", "type": "Device", "controlledAsset": ["CAM-001"], "deviceState": "dozing"},
    ])
    camera = next(e for e in sent if isinstance(e, CameraHealth))
    assert (camera.asset_id, camera.state) == ("CAM-001", "online")
    fault = next(e for e in sent if isinstance(e, LampFault))
    assert (fault.asset_id, fault.fault, fault.active, fault.cabinet_id) == \
        ("LP-000002", "controlGearCommFailure", True, "CAB-0001")
    assert [s["reason"] for s in report.skipped] == ["Device: no health event for this asset"] * 2


def test_a_fault_lost_with_the_broker_is_sent_again(registry, payload, now):
    from streams.kafka import BrokerUnavailable

    sent, down = [], [True]

    def send(event):
        if down[0]:
            raise BrokerUnavailable("no broker")
        sent.append(event)

    connector = FiwareConnector(registry, send, clock=lambda: now)
    entity = payload("dijon-notification-v2.json")["data"][0]
    with pytest.raises(BrokerUnavailable):
        connector.handle_entities([entity])
    down[0] = False
    connector.handle_entities([entity])
    assert [(type(e).__name__, getattr(e, "active", None)) for e in sent] == [("LampTelemetry", None),
                                                                               ("LampFault", True)]
