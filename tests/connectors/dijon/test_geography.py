"""Tests of the Dijon geography: commune facts, approximate boundaries, official loader, landmarks, lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from connectors.dijon.geography import (
    COMMUNE_COLUMNS,
    COMMUNES,
    LAMBERT93,
    LANDMARKS,
    approximate_communes,
    commune,
    load_communes_geojson,
    transport_lines,
)
from streams.schemas import METROPOLIS_BBOX

OFFICIAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dijon_metropole_communes.geojson"
FACT_CODES = [c.code for c in COMMUNES]


@pytest.fixture(scope="module")
def approx():
    return approximate_communes()


@pytest.fixture(scope="module")
def official():
    return load_communes_geojson(OFFICIAL)


@pytest.fixture(scope="module")
def official_doc():
    return json.loads(OFFICIAL.read_text(encoding="utf-8"))


def test_facts_cover_the_23_communes():
    assert len(COMMUNES) == 23
    assert len(set(FACT_CODES)) == 23
    assert 250_000 < sum(c.population for c in COMMUNES) < 265_000
    assert max(COMMUNES, key=lambda c: c.population).name == "Dijon"
    assert commune("21270").name == "Flavignerot"
    with pytest.raises(KeyError, match="not the INSEE code"):
        commune("75056")


def _in_bbox(frame) -> bool:
    lon_min, lat_min, lon_max, lat_max = METROPOLIS_BBOX
    x0, y0, x1, y1 = frame.total_bounds
    return lon_min <= x0 and x1 <= lon_max and lat_min <= y0 and y1 <= lat_max


def test_approximate_geography_is_labelled_and_plausible(approx):
    assert tuple(approx.columns) == COMMUNE_COLUMNS
    assert approx["approximate"].all()
    assert "APPROXIMATE" in approximate_communes.__doc__
    assert approx.crs.to_epsg() == 4326
    assert approx["code"].tolist() == FACT_CODES
    assert approx["area_km2"].sum() == pytest.approx(240, abs=3)
    assert approx.loc[approx["area_km2"].idxmax(), "name"] == "Dijon"
    assert approx.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert _in_bbox(approx)


def test_approximate_communes_tile_without_overlap(approx):
    projected = approx.to_crs(LAMBERT93).geometry
    assert shapely.union_all(projected.values).area == pytest.approx(projected.area.sum(), rel=1e-6)


@pytest.mark.parametrize("which", ["approx", "official"])
def test_centroids_and_landmarks_fall_in_the_right_commune(which, request):
    frame = request.getfixturevalue(which)
    assert shapely.contains_xy(frame.geometry.values, frame["lon"].to_numpy(), frame["lat"].to_numpy()).all()
    dijon = frame.loc[frame["code"] == "21231"].geometry.iloc[0]
    lon = np.array([lm.lon for lm in LANDMARKS])
    lat = np.array([lm.lat for lm in LANDMARKS])
    assert shapely.contains_xy(dijon, lon, lat).all()
    assert {lm.key for lm in LANDMARKS} >= {"liberation", "gare", "toison_dor", "chu", "stade"}


def test_official_loader_reads_the_shared_file(official, approx):
    assert tuple(official.columns) == tuple(approx.columns)
    assert not official["approximate"].any()
    assert official["code"].tolist() == FACT_CODES
    assert official["population"].tolist() == [c.population for c in COMMUNES]
    assert official.crs.to_epsg() == 4326
    assert official["area_km2"].sum() == pytest.approx(240, abs=5)
    assert official.geometry.is_valid.all()
    assert _in_bbox(official)


def _write(tmp_path: Path, content) -> Path:
    path = tmp_path / "communes.geojson"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _edited(doc: dict, edit) -> dict:
    doc = json.loads(json.dumps(doc))
    edit(doc)
    return doc


BAD_FILES = {
    "not json": ("this is not json {", "not a JSON file"),
    "not a collection": ({"type": "Feature", "properties": {}, "geometry": None}, "not a GeoJSON FeatureCollection"),
    "a list": ([1, 2, 3], "not a GeoJSON FeatureCollection"),
    "no features": ({"type": "FeatureCollection", "features": []}, "has no features"),
}


@pytest.mark.parametrize("content, message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_loader_rejects_files_that_are_not_feature_collections(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        load_communes_geojson(_write(tmp_path, content))


def _drop_nom(doc):
    del doc["features"][3]["properties"]["nom"]


def _unknown_code(doc):
    doc["features"][0]["properties"]["code"] = "75056"


def _point_geometry(doc):
    doc["features"][2]["geometry"] = {"type": "Point", "coordinates": [5.0, 47.3]}


def _missing_commune(doc):
    doc["features"] = [f for f in doc["features"] if f["properties"]["code"] != "21270"]


def _duplicate(doc):
    doc["features"].append(doc["features"][0])


def _swap(coords):
    return [_swap(c) for c in coords] if isinstance(coords[0], list) else [coords[1], coords[0]]


def _swapped_coordinates(doc):
    geom = doc["features"][0]["geometry"]
    geom["coordinates"] = _swap(geom["coordinates"])


EDITS = {
    "missing property": (_drop_nom, r"feature 3 lacks the property 'nom'"),
    "unknown code": (_unknown_code, "unknown commune code.*75056"),
    "wrong geometry": (_point_geometry, "Point geometry, expected Polygon or MultiPolygon"),
    "missing commune": (_missing_commune, "missing commune.*21270 Flavignerot"),
    "duplicate": (_duplicate, "appears twice"),
    "swapped coordinates": (_swapped_coordinates, "outside Dijon Métropole"),
}


@pytest.mark.parametrize("edit, message", EDITS.values(), ids=EDITS.keys())
def test_loader_explains_what_is_wrong_with_a_commune_file(tmp_path, official_doc, edit, message):
    with pytest.raises(ValueError, match=message):
        load_communes_geojson(_write(tmp_path, _edited(official_doc, edit)))


def test_loader_reports_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read the file"):
        load_communes_geojson(tmp_path / "nowhere.geojson")


def test_transport_lines(official):
    lines = transport_lines()
    assert lines.columns.tolist() == ["line_id", "name", "mode", "geometry"]
    assert lines.crs.to_epsg() == 4326
    assert (lines.geometry.geom_type == "LineString").all()
    assert lines["line_id"].is_unique
    assert sorted(lines.loc[lines["mode"] == "tram", "line_id"]) == ["T1", "T2"]
    assert (lines["mode"] == "bus").sum() >= 10
    assert _in_bbox(lines)
    polygons = dict(zip(official["code"], official.geometry))
    ends = {row.line_id: (shapely.get_point(row.geometry, 0), shapely.get_point(row.geometry, -1))
            for row in lines.itertuples()}
    gare = next(lm for lm in LANDMARKS if lm.key == "gare")
    assert shapely.Point(gare.lon, gare.lat).distance(ends["T1"][0]) < 0.002
    assert polygons["21515"].contains(ends["T1"][1])
    assert polygons["21166"].contains(ends["T2"][0])
    assert ends["T2"][1].distance(shapely.Point(5.035, 47.362)) < 0.003
    bus = lines[lines["mode"] == "bus"]
    assert all(polygons["21231"].contains(ends[i][0]) for i in bus["line_id"])
    termini = {code for i in bus["line_id"] for code, poly in polygons.items() if poly.contains(ends[i][1])}
    assert len(termini) == len(bus) and "21231" not in termini
