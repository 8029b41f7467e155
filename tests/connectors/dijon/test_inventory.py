"""Tests of the Dijon inventory: counts, determinism, placement, topology, persistence and the command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from connectors.dijon import inventory_cmd
from connectors.dijon.geography import LAMBERT93, landmark, load_communes_geojson
from connectors.dijon.inventory import (
    ASSET_COLUMNS,
    COUNTS,
    KINDS,
    PERIOD_S,
    PRIORITY_DISTANCE_M,
    build_inventory,
    inventory_counts,
    load_inventory,
    save_inventory,
)
from streams.config import Settings

OFFICIAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dijon_metropole_communes.geojson"
PREFIX = {"light": "LP-", "cabinet": "CAB-", "signal": "SIG-", "camera": "CAM-", "weather": "WS-", "bollard": "BOL-"}


@pytest.fixture(scope="module")
def inv():
    return build_inventory(42)


@pytest.fixture(scope="module")
def inv_official():
    return build_inventory(42, load_communes_geojson(OFFICIAL))


def _projected(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(LAMBERT93)


def _outside_own_commune(assets: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> pd.Index:
    joined = gpd.sjoin(assets[["commune_code", "geometry"]], communes[["code", "geometry"]], predicate="within")
    matched = (joined["commune_code"] == joined["code"]).groupby(level=0).any()
    return assets.index.difference(matched[matched].index)


def _distance_to_point(frame: gpd.GeoDataFrame, lat: float, lon: float) -> pd.Series:
    point = gpd.GeoSeries([shapely.Point(lon, lat)], crs=4326).to_crs(LAMBERT93).iloc[0]
    return _projected(frame).distance(point)


def test_counts_are_exact(inv):
    by_kind = inv.assets["kind"].value_counts()
    for kind, n in COUNTS.items():
        assert by_kind[kind] == n
    assert by_kind["cabinet"] == inv.assets["cabinet_id"].nunique()
    counts = inventory_counts(inv)
    assert counts["by_kind"] == {kind: int(by_kind[kind]) for kind in KINDS}
    assert counts["total"] == len(inv.assets)
    assert sum(sum(row.values()) for row in counts["by_commune"].values()) == len(inv.assets)
    assert set(counts["by_commune"]) == set(inv.communes["code"])


def test_assets_frame_follows_the_contract(inv):
    assets = inv.assets
    assert tuple(assets.columns) == ASSET_COLUMNS
    assert assets.crs.to_epsg() == 4326
    assert assets["asset_id"].is_unique
    for kind, prefix in PREFIX.items():
        ids = inv.of_kind(kind)["asset_id"]
        assert ids.str.startswith(prefix).all()
        assert ids.iloc[0] == prefix + "1".zfill(len(ids.iloc[0]) - len(prefix))
    assert (assets["period_s"] == assets["kind"].map(PERIOD_S)).all()
    assert np.allclose(assets.geometry.x, assets["lon"]) and np.allclose(assets.geometry.y, assets["lat"])
    assert assets["name"].str.contains(" · ").all()
    assert inv.asset("SIG-001")["name"].endswith("Carrefour 1")
    others = assets[assets["kind"] != "light"]
    assert others["cabinet_id"].isna().all() and others["lamp_type"].isna().all()
    assert others["renovated_on"].isna().all()
    assert (assets.loc[assets["kind"] != "cabinet", "lamps_total"] == 0).all()
    assert not assets.loc[assets["kind"] != "signal", "bus_priority"].any()
    assert (assets.loc[assets["kind"] != "signal", "lines"] == "").all()
    with pytest.raises(ValueError, match="unknown asset kind"):
        inv.of_kind("lamp")


def test_lights_are_renovated_led(inv):
    lights = inv.of_kind("light")
    assert (lights["lamp_type"] == "LED").all()
    assert lights["wattage_w"].between(20, 70).all()
    assert lights["baseline_w"].between(70, 150).all()
    assert lights["renovated_on"].between(pd.Timestamp("2018-02-01"), pd.Timestamp("2021-12-31")).all()
    assert 0.5 < 1 - lights["wattage_w"].sum() / lights["baseline_w"].sum() < 0.75


def test_led_share_leaves_legacy_lamps():
    lights = build_inventory(42, led_share=0.75).of_kind("light")
    legacy = lights[lights["lamp_type"] != "LED"]
    assert len(legacy) == 8_500
    assert legacy["lamp_type"].isin(["sodium", "mercury"]).all()
    assert (legacy["wattage_w"] == legacy["baseline_w"]).all()
    assert legacy["renovated_on"].isna().all()
    with pytest.raises(ValueError, match="led_share"):
        build_inventory(42, led_share=1.5)


def test_same_seed_same_assets_other_seed_other_assets(inv):
    pd.testing.assert_frame_equal(build_inventory(42).assets, inv.assets)
    other = build_inventory(7).assets
    assert not np.allclose(other["lon"].to_numpy()[:1000], inv.assets["lon"].to_numpy()[:1000])


@pytest.mark.parametrize("which", ["inv", "inv_official"])
def test_every_asset_is_inside_its_commune(which, request):
    built = request.getfixturevalue(which)
    assert built.approximate == (which == "inv")
    assert len(_outside_own_commune(built.assets, built.communes)) == 0
    assert built.assets["commune_code"].isin(built.communes["code"]).all()


@pytest.mark.parametrize("which", ["inv", "inv_official"])
def test_cabinets_feed_20_to_60_nearby_lamps(which, request):
    built = request.getfixturevalue(which)
    lights, cabinets = built.of_kind("light"), built.of_kind("cabinet").set_index("asset_id")
    assert cabinets["lamps_total"].between(20, 60).all()
    assert (lights["cabinet_id"].value_counts().reindex(cabinets.index) == cabinets["lamps_total"]).all()
    assert np.allclose(lights.groupby("cabinet_id")["wattage_w"].sum().reindex(cabinets.index), cabinets["wattage_w"])
    assert np.allclose(lights.groupby("cabinet_id")["baseline_w"].sum().reindex(cabinets.index),
                       cabinets["baseline_w"])
    assert (lights["commune_code"].to_numpy() == cabinets.loc[lights["cabinet_id"], "commune_code"].to_numpy()).all()
    feeder = _projected(cabinets).geometry.loc[lights["cabinet_id"]].to_numpy()
    distance = shapely.distance(_projected(lights).geometry.to_numpy(), feeder)
    assert np.median(distance) < 200
    assert np.percentile(distance, 99) < 600
    assert distance.max() < 1200
    assert len(built.lamps_of(cabinets.index[0])) == cabinets["lamps_total"].iloc[0]


def test_lights_are_denser_where_people_live(inv):
    lights = inv.of_kind("light")["commune_code"].value_counts()
    area = inv.communes.set_index("code")["area_km2"]
    density = lights / area
    assert density["21231"] > 10 * density["21270"]
    assert lights["21231"] == lights.max()
    assert lights.min() >= 100


def test_signals_are_mostly_in_dijon_with_priority_near_lines(inv):
    signals = inv.of_kind("signal")
    assert (signals["commune_code"] == "21231").mean() > 0.6
    lines = _projected(inv.lines)
    distance = np.column_stack([_projected(signals).distance(line) for line in lines.geometry])
    near = distance <= PRIORITY_DISTANCE_M
    assert (signals["bus_priority"].to_numpy() == near.any(axis=1)).all()
    expected = [",".join(lines["line_id"][row]) for row in near]
    assert signals["lines"].tolist() == expected
    assert signals["bus_priority"].sum() >= 50
    positions = _projected(signals).geometry
    gaps = shapely.distance(positions.to_numpy()[:, None], positions.to_numpy()[None, :])
    assert np.sort(gaps, axis=1)[:, 1].min() >= 150


def test_cameras_weather_and_bollards_are_where_expected(inv):
    cameras = inv.of_kind("camera")
    centre = landmark("liberation")
    assert (cameras["commune_code"] == "21231").mean() > 0.6
    assert (_distance_to_point(cameras, centre.lat, centre.lon) < 1500).mean() > 0.4
    weather = inv.of_kind("weather").set_index("asset_id")
    assert weather.loc["WS-01", "commune_code"] == "21231"
    assert _distance_to_point(weather, centre.lat, centre.lon)["WS-01"] < 500
    assert weather["commune_code"].nunique() >= 10
    small = inv.communes.loc[inv.communes["population"] < 1000, "code"]
    assert weather["commune_code"].isin(small).sum() >= 2
    bollards = inv.of_kind("bollard")
    assert (bollards["commune_code"] == "21231").all()
    assert (_distance_to_point(bollards, centre.lat, centre.lon) < 1000).all()


def test_save_and_load_round_trip(inv, tmp_path):
    save_inventory(inv, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 42 and manifest["approximate"] is True
    assert manifest["counts"]["light"] == 34_000 and manifest["built_at"] == inv.built_at
    loaded = load_inventory(tmp_path)
    pd.testing.assert_frame_equal(loaded.assets, inv.assets)
    pd.testing.assert_frame_equal(loaded.communes, inv.communes)
    pd.testing.assert_frame_equal(loaded.lines, inv.lines)
    assert (loaded.seed, loaded.built_at, loaded.approximate) == (inv.seed, inv.built_at, True)
    assert loaded.assets.loc[0, "cabinet_id"] is not None and loaded.asset("CAM-001")["cabinet_id"] is None


def test_load_reports_a_missing_inventory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved inventory"):
        load_inventory(tmp_path)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    inventory_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_command_loads_the_saved_inventory_and_prints_json(inv, tmp_path, capsys):
    settings = Settings(data_dir=tmp_path)
    save_inventory(inv, settings.inventory_dir)
    assert inventory_cmd.run(_args("--json"), settings) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["by_kind"] == inventory_counts(inv)["by_kind"]
    assert counts["by_commune"]["21231"]["bollard"] == 26
    assert inventory_cmd.run(_args(), settings) == 0
    table = capsys.readouterr().out
    assert "Flavignerot" in table and "34,000" in table and "APPROXIMATE" in table


def test_command_builds_when_nothing_is_saved(tmp_path, capsys):
    settings = Settings(data_dir=tmp_path)
    assert inventory_cmd.run(_args("--seed", "3", "--json"), settings) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 3
    assert load_inventory(settings.inventory_dir).seed == 3


def test_command_rejects_a_bad_communes_file(tmp_path, capsys):
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature"}', encoding="utf-8")
    assert inventory_cmd.run(_args("--communes", str(bad), "--rebuild"), Settings(data_dir=tmp_path)) == 2
    err = capsys.readouterr().err
    assert "not a GeoJSON FeatureCollection" in err and err.count("\n") == 1
    assert not (tmp_path / "inventory").exists()
