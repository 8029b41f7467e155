"""The app factory: a small layout, every callback wired to ids of the layout, language from the cookie."""

from __future__ import annotations

import json

import plotly

from dashboard import ids
from dashboard.app import create_app
from layouts.components.figures import history_figure


def _ids_in(node, found):
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            found.append(props["id"])
        for value in node.values():
            _ids_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _ids_in(value, found)
    return found


def test_layout_is_small_and_every_callback_id_is_in_it(store_kit, inventory, signed):
    app = create_app(store_kit.settings, inventory=inventory)
    client = signed(app, "admin")
    response = client.get("/_dash-layout")
    assert response.status_code == 200
    assert len(response.data) < 40_000  # geometry comes by URL, never inline
    layout = json.loads(response.data)
    found = _ids_in(layout, [])
    assert len(found) == len(set(found)), "duplicate component ids"
    # the manager and trainer pages mount on first visit: the validation layout holds every page
    full = _ids_in(json.loads(json.dumps(app.validation_layout, cls=plotly.utils.PlotlyJSONEncoder)), [])
    assert len(full) == len(set(full)), "duplicate component ids"
    assert set(found) <= set(full)
    assert ids.MANAGER not in found  # mounted when the user first goes to the contract page
    for callback in app.callback_map.values():
        for dep in callback["inputs"] + callback["state"]:
            if dep["id"].startswith("{"):  # pattern-matching ids belong to components rendered by callbacks
                continue
            assert dep["id"] in full, dep
    for layer in ids.LIVE_LAYERS.values():
        assert layer in found
    assert "Points lumineux" in response.data.decode()


def test_language_comes_from_the_cookie(store_kit, inventory, signed):
    app = create_app(store_kit.settings, inventory=inventory)
    client = signed(app)
    client.set_cookie("vigie_lang", "en")
    assert "Light points" in client.get("/_dash-layout").data.decode()


def test_tick_returns_patches_of_changes_only(store_kit, inventory, signed):
    store_kit.states([("LP-000002", "light", "on", ["lamp_failure"]), ("CAM-001", "camera", "offline", [])])
    app = create_app(store_kit.settings, inventory=inventory)
    client = signed(app)
    outputs = [f"{layer}.hideout" for layer in (ids.LAYER_LIGHTS, ids.LAYER_CABINETS, ids.LAYER_SIGNALS,
                                                 ids.LAYER_CAMERAS, ids.LAYER_WEATHER, ids.LAYER_BOLLARDS)]
    outputs += [f"{ids.LAYER_FAULTS}.hideout", f"{ids.SEQ}.data", f"{ids.ALERT_VERSION}.data", f"{ids.STATUS}.data"]
    body = {
        "output": next(key for key in app.callback_map if f"{ids.LAYER_LIGHTS}.hideout" in key),
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in outputs],
        "inputs": [{"id": ids.INTERVAL_FAST, "property": "n_intervals", "value": 50}],
        "state": [{"id": ids.SEQ, "property": "data", "value": 0},
                  {"id": ids.ALERT_VERSION, "property": "data", "value": None}],
        "changedPropIds": [f"{ids.INTERVAL_FAST}.n_intervals"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    data = response.json["response"]
    lights = data[ids.LAYER_LIGHTS]["hideout"]
    assert lights["operations"][0]["params"]["value"] == {"LP-000002": 2}
    assert data[ids.LAYER_CAMERAS]["hideout"]["operations"][0]["params"]["value"] == {"CAM-001": 2}
    assert ids.LAYER_SIGNALS not in data  # nothing changed there: no update at all
    assert data[ids.STATUS]["data"]["stale"] is False and data[ids.STATUS]["data"]["offset_ms"] == 0
    assert len(response.data) < 3000


def test_history_figure_is_pure_and_coloured_by_state():
    now = 1_800_000_000_000
    fig = history_figure([{"start": now - 7200_000, "end": now - 3600_000, "code": 0},
                          {"start": now - 3600_000, "end": None, "code": 2}], now - 86400_000, now, "fr")
    assert {tr.name for tr in fig.data} == {"Nominal", "En défaut"}
    assert fig.layout.paper_bgcolor == "#111821"
