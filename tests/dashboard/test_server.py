"""`vigie dashboard` flags."""

from __future__ import annotations

import argparse
import json

from dashboard import server
from dashboard.cli import COMMANDS


def test_flags_and_defaults():
    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.port, args.host, args.tiles, args.stale_after) == (8050, "127.0.0.1", None, 30.0)
    args = parser.parse_args(["--port", "9000", "--tiles", "http://tiles.local/{z}/{x}/{y}.png", "--stale-after", "5"])
    assert (args.port, args.tiles, args.stale_after) == (9000, "http://tiles.local/{z}/{x}/{y}.png", 5.0)
    assert COMMANDS["dashboard"][0] == "dashboard.server"


def test_tiles_add_a_base_layer(store_kit, inventory, signed):
    from dashboard.app import create_app

    app = create_app(store_kit.settings, inventory=inventory, tiles="http://tiles.local/{z}/{x}/{y}.png",
                     tiles_attribution="© local")
    client = signed(app)
    layout = client.get("/_dash-layout").json
    assert "img-src 'self' data: blob: http://tiles.local" in client.get("/").headers["Content-Security-Policy"]
    text = json.dumps(layout, ensure_ascii=False)
    assert "http://tiles.local/{z}/{x}/{y}.png" in text and "© local" in text and "Tuiles" in text


def test_a_training_room_says_so(tmp_path, inventory, signed):
    from dashboard.app import create_app
    from streams.config import Settings

    app = create_app(Settings(data_dir=tmp_path, namespace="train-ice"), inventory=inventory)
    text = json.dumps(signed(app, "trainee").get("/_dash-layout").json, ensure_ascii=False)
    assert "FORMATION · train-ice" in text
    assert app.server.config["VIGIE_ROOM"].data.url.endswith("vigie-train-ice.db")


def test_a_bad_namespace_is_refused(tmp_path, capsys):
    from streams.config import Settings

    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    args = parser.parse_args(["--namespace", "Bad Name"])
    assert server.run(args, Settings(data_dir=tmp_path)) == 2
    assert "invalid namespace" in capsys.readouterr().err
