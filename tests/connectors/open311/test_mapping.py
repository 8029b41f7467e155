"""GeoReport v2 service requests to incident reports: the specification's example and Dijon's own."""

from __future__ import annotations

import pytest

from connectors.feed import Rejected, loads_lenient
from connectors.open311.mapping import MAPPED, NOT_MAPPED, report_fields, to_report

NOW_MS = 1795208700000


def test_the_specification_example_parses_despite_its_leading_zeros(published_bytes):
    rows = loads_lenient(published_bytes)
    assert [r["service_code"] for r in rows] == ["006", "006"]
    assert [r["service_request_id"] for r in rows] == [638344, 638349]


def test_the_specification_example_maps_field_by_field(published_bytes):
    first, second = (report_fields(r, now_ms=NOW_MS) for r in loads_lenient(published_bytes))
    assert first["asset_id"] == "open311-638344" and first["external_id"] == "638344"
    assert first["status"] == "closed" and second["status"] == "open"
    assert first["ts"] == 1271255858000  # 2010-04-14T06:37:38-08:00 = 14:37:38Z
    assert (first["lat"], first["lon"]) == (37.762221815, -122.4651145)
    assert first["address"] == "8TH AVE and JUDAH ST"
    assert first["media_url"] == "http://city.gov.s3.amazonaws.com/requests/media/638344.jpg"
    assert first["description"] == "Duplicate request."
    assert second["description"] == "Sidewalk and Curb Issues"
    assert first["category"] == "pothole" and first["source"] == "open311"


def test_the_specification_example_is_outside_the_metropolis(published_bytes):
    for row in loads_lenient(published_bytes):
        with pytest.raises(Rejected, match="outside Dijon Métropole"):
            to_report(row, now_ms=NOW_MS)


def test_dijon_requests(dijon_rows):
    accepted, rejected = [], []
    for row in dijon_rows:
        try:
            accepted.append(to_report(row, now_ms=NOW_MS))
        except Rejected as exc:
            rejected.append(exc.reason)
    assert [(r.external_id, r.category, r.status) for r in accepted] == [
        ("DJ-2026-000101", "street_light_out", "open"),
        ("DJ-2026-000102", "pothole", "open"),
        ("DJ-2026-000103", "illegal_dumping", "closed"),
        ("DJ-2026-000104", "traffic_light_fault", "open"),
    ]
    assert accepted[2].description == "Encombrants sur le trottoir — Enlevé par les services de propreté"
    assert accepted[0].media_url.endswith("101.jpg") and accepted[0].address.startswith("12 rue")
    assert "outside Dijon Métropole" in rejected[0]
    assert "no lat/long" in rejected[1]
    assert "without a service_request_id" in rejected[2]
    assert "is not a number" in rejected[3]


def test_a_city_code_table_wins_over_keywords(dijon_rows):
    report = to_report(dijon_rows[1], categories={"VOI07": "flooding"}, now_ms=NOW_MS)
    assert report.category == "flooding"


def test_not_a_request():
    with pytest.raises(Rejected, match="JSON object"):
        to_report(["a list"], now_ms=NOW_MS)


def test_field_lists():
    assert {"service_request_id", "status", "service_code", "service_name", "description", "requested_datetime",
            "updated_datetime", "address", "lat", "long", "media_url"} <= set(MAPPED)
    assert "agency_responsible" in NOT_MAPPED[0]
