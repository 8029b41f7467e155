"""Static geometry served once by URL: cached, gzipped, cacheable, and camera look-ups in metres."""

from __future__ import annotations

import gzip
import json

import flask
import pytest

from dashboard.geo import LAYERS, GeoCatalog, layer_url


@pytest.fixture(scope="module")
def catalog(inventory):
    return GeoCatalog(lambda: inventory)


@pytest.fixture(scope="module")
def client(catalog):
    server = flask.Flask("t")
    catalog.register(server)
    return server.test_client()


def test_every_layer_is_served_as_geojson_with_gzip_and_etag(client, inventory):
    for name in LAYERS:
        response = client.get(layer_url(name), headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
        data = json.loads(gzip.decompress(response.data))
        assert data["type"] == "FeatureCollection"
        again = client.get(layer_url(name), headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304
    lights = json.loads(client.get(layer_url("lights")).data)
    assert len(lights["features"]) == 34_000
    assert set(lights["features"][0]["properties"]) == {"id"}
    assert client.get("/geo/nothing.geojson").status_code == 404


def test_light_layer_is_small_enough_to_load_fast(catalog):
    blob = catalog.blob("lights")
    assert len(blob.gz) < 600_000, len(blob.gz)


def test_cameras_near_a_point_are_within_300_m_nearest_first(catalog, inventory):
    cam = inventory.of_kind("camera").iloc[0]
    near = catalog.cameras_near(float(cam.lat) + 0.001, float(cam.lon), 300.0)
    assert near and near[0].asset_id == cam.asset_id
    assert 100 < near[0].distance_m < 120  # 0.001 degree of latitude is about 111 m
    assert all(c.distance_m <= 300 for c in near)
    assert [c.distance_m for c in near] == sorted(c.distance_m for c in near)
    assert catalog.cameras_near(47.2, 4.5, 300.0) == []


def test_kinds_and_communes(catalog):
    kinds = catalog.kinds()
    assert kinds["LP-000001"] == "light" and kinds["CAB-0001"] == "cabinet"
    assert catalog.communes()["21231"] == "Dijon"
    assert catalog.approximate()
