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


def _post_callback(client, app, outputs: list[str], inputs: list[tuple], state: list[tuple]):
    body = {
        "output": next(key for key in app.callback_map if outputs[0] in key),
        "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in outputs],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    return response


def test_tick_returns_patches_of_changes_only(store_kit, inventory, signed):
    store_kit.states([("LP-000002", "light", "on", ["lamp_failure"]), ("CAM-001", "camera", "offline", [])])
    app = create_app(store_kit.settings, inventory=inventory)
    client = signed(app)
    outputs = [f"{layer}.hideout" for layer in (ids.LAYER_LIGHTS, ids.LAYER_CABINETS, ids.LAYER_SIGNALS,
                                                 ids.LAYER_CAMERAS, ids.LAYER_WEATHER, ids.LAYER_BOLLARDS)]
    response = _post_callback(client, app, [*outputs, f"{ids.SEQ}.data"], [(ids.INTERVAL_MAP, "n_intervals", 50)],
                              [(ids.SEQ, "data", 0)])
    data = response.json["response"]
    lights = data[ids.LAYER_LIGHTS]["hideout"]
    assert lights["operations"][0]["params"]["value"] == {"LP-000002": 2}
    assert ids.LAYER_FAULTS not in data  # the browser hands the lamp layer's hideout to the fault layer
    assert data[ids.LAYER_CAMERAS]["hideout"]["operations"][0]["params"]["value"] == {"CAM-001": 2}
    assert ids.LAYER_SIGNALS not in data  # nothing changed there: no update at all
    assert len(response.data) < 3000
    seq = data[ids.SEQ]["data"]
    # a new reading that leaves the lamp faulty changes nothing on the map: the next tick carries nothing
    store_kit.states([("LP-000002", "light", "on", ["lamp_failure"])])
    again = _post_callback(client, app, [*outputs, f"{ids.SEQ}.data"], [(ids.INTERVAL_MAP, "n_intervals", 51)],
                           [(ids.SEQ, "data", seq)])
    assert b'"hideout"' not in again.data
    status = _post_callback(client, app, [f"{ids.ALERT_VERSION}.data", f"{ids.STATUS}.data"],
                            [(ids.INTERVAL_FAST, "n_intervals", 50)], [(ids.ALERT_VERSION, "data", None)])
    data = status.json["response"]
    assert data[ids.STATUS]["data"]["stale"] is False and data[ids.STATUS]["data"]["offset_ms"] == 0


def test_history_figure_is_pure_and_coloured_by_state():
    now = 1_800_000_000_000
    fig = history_figure([{"start": now - 7200_000, "end": now - 3600_000, "code": 0},
                          {"start": now - 3600_000, "end": None, "code": 2}], now - 86400_000, now, "fr")
    assert {tr.name for tr in fig.data} == {"Nominal", "En défaut"}
    assert fig.layout.paper_bgcolor == "#111821"
