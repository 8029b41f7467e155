"""NGSI forms flatten to one shape: v2 normalized and keyValues, LD normalized and keyValues, notifications."""

from __future__ import annotations

import pytest

from connectors.feed import Rejected
from connectors.fiware.ngsi import entities_of, flatten, point_of, short_name


def test_published_streetlight_forms_flatten_to_the_same_values(payload):
    forms = [flatten(payload(n)) for n in ("Streetlight-example-normalized.json", "Streetlight-example.json",
                                           "Streetlight-example-normalized.jsonld")]
    for entity in forms:
        assert entity.type == "Streetlight"
        assert entity.get("status") == "ok"
        assert entity.get("powerState") == "off"
        assert entity.get("powerConsumption") == 10
        assert entity.get("observationDateTime") == "2021-01-11T15:51:02+05:30"
        assert point_of(entity.get("location")) == (-3.164485591715449, 40.62785133667262)
    assert forms[2].get("refStreetlightGroup") == "urn:ngsi-ld:StreetlightGroup:streetlightgroup:G345"
    assert "@context" not in forms[2].attrs


def test_observed_at_and_time_instant_metadata_are_kept(payload):
    v2 = [flatten(e) for e in entities_of(payload("dijon-notification-v2.json"))]
    assert v2[1].observed_at["powerState"] == "2026-11-20T21:00:00Z"
    ld = [flatten(e) for e in entities_of(payload("dijon-notification-ld.json"))]
    assert ld[0].observed_at["status"] == "2026-11-20T21:00:00Z"
    assert ld[0].get("refStreetlightControlCabinet") == "urn:ngsi-ld:StreetlightControlCabinet:CAB-0001"


def test_expanded_ld_names_are_shortened(payload):
    weather = flatten(entities_of(payload("dijon-notification-ld.json"))[1])
    assert weather.type == "WeatherObserved"
    assert weather.get("temperature") == 4.2
    assert weather.get("dateObserved") == "2026-11-20T21:00:00Z"
    assert short_name("https://smartdatamodels.org/dataModel.Weather/windSpeed") == "windSpeed"


def test_notification_forms(payload):
    assert len(entities_of(payload("dijon-notification-v2.json"))) == 8
    assert len(entities_of(payload("dijon-notification-ld.json"))) == 2
    assert len(entities_of([payload("Alert-example.json")])) == 1
    assert len(entities_of(payload("Alert-example.json"))) == 1


@pytest.mark.parametrize("bad, reason", [
    ("just text", "expected a JSON object"),
    ({"subscriptionId": "x", "data": {"id": "a"}}, "not a list"),
    ({"type": "Subscription", "data": []}, "unexpected notification type"),
    ({"hello": "world"}, "not an NGSI notification"),
])
def test_malformed_notifications_are_rejected_with_a_reason(bad, reason):
    with pytest.raises(Rejected, match=reason):
        entities_of(bad)


@pytest.mark.parametrize("bad, reason", [
    (42, "must be a JSON object"),
    ({"type": "Streetlight"}, "without an `id`"),
    ({"id": "x"}, "no `type`"),
])
def test_malformed_entities_are_rejected_with_a_reason(bad, reason):
    with pytest.raises(Rejected, match=reason):
        flatten(bad)


def test_line_and_polygon_locations_give_their_mean_point():
    assert point_of({"type": "LineString", "coordinates": [[5.0, 47.0], [5.2, 47.2]]}) == pytest.approx((5.1, 47.1))
    ring = [[5.0, 47.0], [5.2, 47.0], [5.2, 47.2], [5.0, 47.2]]
    assert point_of({"type": "Polygon", "coordinates": [ring]}) == pytest.approx((5.1, 47.1))
    assert point_of({"type": "Point", "coordinates": [500, 47]}) is None
    assert point_of("nowhere") is None
