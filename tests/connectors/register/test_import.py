"""Importing asset registers: accepted rows in inventory columns, every rejected row with its reason."""

from __future__ import annotations

import json

import pytest

from connectors.feed import Rejected
from connectors.register.client import read_register
from connectors.register.mapping import ColumnMapping, load_mapping
from connectors.register.registry import AssetRegistry
from connectors.register.run import import_register


def test_geojson_register_with_the_default_mapping(registry, fixtures):
    report = import_register(fixtures / "register-dijon.geojson", registry, ColumnMapping())
    assert [(r["asset_id"], r["kind"], r["commune_code"]) for r in report.accepted] == [
        ("LP-NEW-0001", "light", "21231"), ("CAB-NEW-01", "cabinet", "21231"), ("CAM-NEW-01", "camera", "21515")]
    lamp = report.accepted[0]
    assert (lamp["cabinet_id"], lamp["wattage_w"], lamp["name"]) == ("CAB-0001", 36.0, "Rue Chabot-Charny 1")
    reasons = {r["row"]: r["reason"] for r in report.rejected}
    assert reasons[3] == "missing id"
    assert reasons[4].startswith("bad coordinates: lon 'cinq'")
    assert "is not a Point" in reasons[5]
    assert reasons[6].startswith("outside the metropolis")
    assert reasons[7] == "unknown kind 'banc public'"
    assert reasons[8] == "duplicate id LP-NEW-0001 (first on row 1)"
    assert reasons[9] == "duplicate id LP-000001: already in the inventory"
    assert len(report.rejected) == 7


def test_accepted_rows_are_saved_in_inventory_columns(registry, fixtures, communes):
    import_register(fixtures / "register-dijon.geojson", registry, ColumnMapping())
    rows = json.loads(registry.path.read_text(encoding="utf-8"))
    assert {"asset_id", "kind", "lon", "lat", "commune_code", "name", "cabinet_id", "wattage_w"} <= set(rows[0])
    assert rows[0]["source"] == "register:register-dijon.geojson"
    again = AssetRegistry(communes=communes, path=registry.path)
    assert again.get("LP-NEW-0001").cabinet_id == "CAB-0001"


def test_a_dry_run_changes_nothing(registry, fixtures):
    report = import_register(fixtures / "register-dijon.geojson", registry, ColumnMapping(), dry_run=True)
    assert len(report.accepted) == 3 and not registry.path.exists() and "LP-NEW-0001" not in registry
    assert report.as_text().startswith(f"{fixtures / 'register-dijon.geojson'}: would import 3 assets, rejected 7")


def test_csv_in_lambert93_with_a_yaml_mapping(registry, fixtures):
    mapping = load_mapping(fixtures / "mapping-quetigny.yaml")
    report = import_register(fixtures / "register-quetigny-l93.csv", registry, mapping)
    assert [(r["asset_id"], r["kind"], r["commune_code"]) for r in report.accepted] == [
        ("QTG-PL-001", "light", "21515"), ("QTG-PL-002", "light", "21515"), ("QTG-AR-01", "cabinet", "21515")]
    assert report.accepted[0]["lon"] == pytest.approx(5.1151, abs=1e-4)
    assert report.accepted[0]["lat"] == pytest.approx(47.3194, abs=1e-4)
    reasons = {r["row"]: r["reason"] for r in report.rejected}
    assert reasons[5] == "bad coordinates: lon is empty"
    assert reasons[6] == "missing id"
    assert reasons[7].startswith("outside the metropolis")
    assert reasons[8] == "unknown kind 'Banc'"
    assert reasons[9] == "duplicate id QTG-PL-001 (first on row 2)"


def test_flags_override_the_mapping_file(fixtures):
    mapping = load_mapping(fixtures / "mapping-quetigny.yaml", columns={"name": "identifiant"}, kind="light")
    assert mapping.columns["name"] == "identifiant" and mapping.kind == "light" and mapping.crs == "EPSG:2154"


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": {"colour": "couleur"}}, "unknown fields in the column mapping: colour"),
    ({"kind": "bench"}, "unknown kind 'bench'"),
])
def test_bad_mappings(kwargs, message):
    with pytest.raises(Rejected, match=message):
        load_mapping(None, **kwargs)


def test_unreadable_registers(tmp_path):
    (tmp_path / "a.geojson").write_text("{nope")
    (tmp_path / "b.json").write_text('{"type": "Feature"}')
    (tmp_path / "c.xlsx").write_text("")
    for name, message in (("a.geojson", "malformed JSON"), ("b.json", "not a GeoJSON FeatureCollection"),
                          ("c.xlsx", "unknown format"), ("missing.csv", "no such file")):
        with pytest.raises(Rejected, match=message):
            read_register(tmp_path / name)


def test_an_unknown_crs(registry, fixtures):
    with pytest.raises(Rejected, match="unknown CRS"):
        import_register(fixtures / "register-quetigny-l93.csv", registry, ColumnMapping(crs="EPSG:999999"))


def test_two_processes_registering_do_not_overwrite_each_other(registry, fixtures, communes):
    other = AssetRegistry(communes=communes, path=registry.path)
    other.register("LP-OTHER-1", "light", 5.03, 47.33, source="fiware")
    import_register(fixtures / "register-dijon.geojson", registry, ColumnMapping())
    ids = {r["asset_id"] for r in json.loads(registry.path.read_text(encoding="utf-8"))}
    assert ids == {"LP-OTHER-1", "LP-NEW-0001", "CAB-NEW-01", "CAM-NEW-01"}
