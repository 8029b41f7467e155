"""`vigie connect register` from the command line, and registered assets then known to the other connectors."""

from __future__ import annotations

import json

from connectors import connect_cmd
from connectors.fiware.run import FiwareConnector
from connectors.register.registry import AssetRegistry
from dashboard.cli import build_parser
from streams.config import Settings
from streams.schemas import LampTelemetry


def _run(argv, data_dir, capsys):
    args = build_parser("connect").parse_args(["connect", "register", *argv])
    code = connect_cmd.run(args, Settings(data_dir=data_dir))
    return code, capsys.readouterr()


def test_import_with_flags_then_fiware_knows_the_assets(tmp_path, fixtures, capsys):
    code, out = _run([str(fixtures / "register-quetigny-l93.csv"), "--crs", "EPSG:2154", "--json",
                      "--column", "asset_id=identifiant", "--column", "kind=nature", "--column", "lon=x_l93",
                      "--column", "lat=y_l93", "--column", "cabinet_id=armoire"], tmp_path, capsys)
    report = json.loads(out.out)
    assert code == 0 and report["accepted"] == 3 and report["rejected"] == 5
    assert report["assets"] == ["QTG-PL-001", "QTG-PL-002", "QTG-AR-01"]
    sent = []
    connector = FiwareConnector(AssetRegistry.open(tmp_path), sent.append)
    result = connector.handle_entities([{"id": "urn:ngsi-ld:Streetlight:QTG-PL-001", "type": "Streetlight",
                                         "powerState": "on", "powerConsumption": 29}])
    assert result.rejected == [] and isinstance(sent[0], LampTelemetry)
    assert (sent[0].asset_id, sent[0].cabinet_id) == ("QTG-PL-001", "QTG-AR-01")


def test_dry_run_and_text_report(tmp_path, fixtures, capsys):
    code, out = _run([str(fixtures / "register-dijon.geojson"), "--dry-run"], tmp_path, capsys)
    assert code == 0 and "would import 4 assets, rejected 6 rows" in out.out  # no inventory: LP-000001 is new
    assert "row 7: BANC-0001: unknown kind 'banc public'" in out.out
    assert not (tmp_path / "registered_assets.json").exists()


def test_bad_inputs_are_usage_errors(tmp_path, fixtures, capsys):
    code, out = _run([str(tmp_path / "missing.csv")], tmp_path, capsys)
    assert code == 2 and "no such file" in out.err
    code, out = _run([str(fixtures / "register-dijon.geojson"), "--column", "asset_id"], tmp_path, capsys)
    assert code == 2 and "OURS=THEIRS" in out.err


def test_a_config_file_gives_the_options(tmp_path, fixtures, capsys):
    config = tmp_path / "register.yaml"
    config.write_text(f"mapping: {fixtures / 'mapping-quetigny.yaml'}\ndry_run: true\n")
    code, out = _run([str(fixtures / "register-quetigny-l93.csv"), "--config", str(config)], tmp_path, capsys)
    assert code == 0 and "would import 3 assets" in out.out
