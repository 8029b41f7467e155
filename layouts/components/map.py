"""The metropolis map: static layers by URL, live state pushed into each layer's `hideout` as a Patch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import dash_leaflet as dl
from dash import Input, Output, Patch, State, html, no_update
from dash_extensions.javascript import Namespace

from dashboard import ids
from dashboard.geo import layer_url
from dashboard.i18n import t
from layouts.components.commands import draw_control as command_draw_control
from layouts.components.commands import preview_layer as command_preview_layer

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = ["CENTER", "LAYER_KINDS", "alerts_geojson", "legend", "map_view", "register_callbacks", "reports_geojson"]

CENTER = (47.3229, 5.0375)  # Dijon
ns = Namespace("vigie", "map")
# live layer id -> URL layer name
LAYER_KINDS = {
    ids.LAYER_LIGHTS: "lights",
    ids.LAYER_CABINETS: "cabinets",
    ids.LAYER_SIGNALS: "signals",
    ids.LAYER_CAMERAS: "cameras",
    ids.LAYER_WEATHER: "weather",
    ids.LAYER_BOLLARDS: "bollards",
}
_POINT_FN = {
    ids.LAYER_CABINETS: "cabinetPoint",
    ids.LAYER_SIGNALS: "signalPoint",
    ids.LAYER_CAMERAS: "cameraPoint",
    ids.LAYER_WEATHER: "weatherPoint",
    ids.LAYER_BOLLARDS: "bollardPoint",
}
_EMPTY = {"type": "FeatureCollection", "features": []}
_NUDGE_MS = 12_000  # how long every live layer is nudged after load (see tick)


def _overlay(layer, name: str, checked: bool = True) -> dl.Overlay:
    return dl.Overlay(layer, name=name, checked=checked)


def map_view(room: "Room", lang: str) -> dl.Map:
    """The map component with every layer; geometry comes by URL, live state through `hideout`."""
    base = []
    if room.tiles:
        base.append(dl.BaseLayer(dl.TileLayer(url=room.tiles, maxZoom=19, attribution=room.tiles_attribution or ""),
                                 name=t("layer.tiles", lang), checked=True))
    communes_name = t("layer.communes_approx" if room.geo.approximate() else "layer.communes", lang)
    overlays = [
        _overlay(dl.GeoJSON(id=ids.LAYER_COMMUNES, url=layer_url("communes"), style=ns("communeStyle"),
                            interactive=False), communes_name),
        _overlay(dl.GeoJSON(id=ids.LAYER_LIGHTS, url=layer_url("lights"), cluster=True,
                            pointToLayer=ns("lightPoint"), clusterToLayer=ns("lightCluster"),
                            superClusterOptions={"radius": 70, "maxZoom": 16}, zoomToBoundsOnClick=True,
                            hideout={"s": {}}), t("layer.lights", lang)),
        _overlay(dl.Pane(dl.GeoJSON(id=ids.LAYER_FAULTS, url=layer_url("lights"), filter=ns("faultFilter"),
                                    pointToLayer=ns("faultPoint"), hideout={"s": {}}),
                         name="vigie-faults", style={"zIndex": 620}), t("layer.faults", lang)),
    ]
    for layer_id, kind in LAYER_KINDS.items():
        if layer_id == ids.LAYER_LIGHTS:
            continue
        layer = dl.GeoJSON(id=layer_id, url=layer_url(kind), pointToLayer=ns(_POINT_FN[layer_id]),
                           hideout={"s": {}, "road": t("wx.road", lang)})
        if layer_id == ids.LAYER_WEATHER:  # live values stay readable above fault markers
            layer = dl.Pane(layer, name="vigie-weather", style={"zIndex": 640})
        overlays.append(_overlay(layer, t(f"layer.{kind}", lang), checked=layer_id != ids.LAYER_CABINETS))
    overlays += [
        _overlay(dl.GeoJSON(id=ids.LAYER_REPORTS, data=_EMPTY, pointToLayer=ns("reportPoint")),
                 t("layer.reports", lang)),
        _overlay(dl.Pane(dl.GeoJSON(id=ids.LAYER_ALERTS, data=_EMPTY, pointToLayer=ns("alertPoint")),
                         name="vigie-alerts", style={"zIndex": 630}), t("layer.alerts", lang)),
    ]
    return dl.Map(
        id=ids.MAP,
        children=[dl.LayersControl(base + overlays, id=ids.LAYERS_CONTROL, collapsed=True, position="topright"),
                  dl.ScaleControl(position="bottomleft", imperial=False), command_preview_layer(),
                  command_draw_control()],
        center=list(CENTER), zoom=12,
        viewport={"bounds": room.geo.bounds(), "transition": "fitBounds", "options": {"padding": [12, 12]}},
        zoomSnap=0.25, zoomDelta=0.5, minZoom=10, maxZoom=19, preferCanvas=True, zoomControl=True,
        attributionControl=bool(room.tiles), className="vigie-map",
    )


def reports_geojson(reports: list[dict]) -> dict:
    """A FeatureCollection of open citizen reports."""
    features = [{
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(r["lon"], 6), round(r["lat"], 6)]},
        "properties": {"id": r["report_id"], "report": True, "alert_id": r.get("alert_id"),
                       "category": r.get("category")},
    } for r in reports if r.get("lat") is not None and r.get("lon") is not None]
    return {"type": "FeatureCollection", "features": features}


def legend(lang: str) -> html.Div:
    """The map legend: what the colours and shapes mean."""
    swatch = [html.Div(className="lg-item", children=[html.Span(className=f"lg-dot vigie-s{code}"),
                                                       html.Span(t(f"state.{code}", lang))]) for code in (0, 1, 2, 3)]
    shapes = [
        html.Div(className="lg-item", children=[html.Span(className="lg-shape vigie-signal vigie-s0"),
                                                html.Span(t("layer.signals", lang))]),
        html.Div(className="lg-item", children=[html.Span(className="lg-shape vigie-camera vigie-s0"),
                                                html.Span(t("layer.cameras", lang))]),
        html.Div(className="lg-item", children=[html.Span(className="lg-shape lg-ring"),
                                                html.Span(t("layer.cabinets", lang))]),
        html.Div(className="lg-item", children=[html.Span(className="lg-shape vigie-report", children="!"),
                                                html.Span(t("layer.reports", lang))]),
    ]
    return html.Div(className="legend", children=[html.Div(swatch, className="lg-col"),
                                                  html.Div(shapes, className="lg-col")])


def alerts_geojson(alerts: list[dict]) -> dict:
    """A FeatureCollection of located alerts, worst drawn on top."""
    features = []
    for a in alerts:
        if a.get("lat") is None or a.get("lon") is None:
            continue
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(a["lon"], 6), round(a["lat"], 6)]},
            "properties": {"id": a.get("asset_id") or a["id"], "alert_id": a["id"], "severity": a.get("severity"),
                           "state": a.get("state"), "rank": a.get("sev_rank", 3)},
        })
    return {"type": "FeatureCollection", "features": features}


def register_callbacks(app: "Dash", room: "Room") -> None:
    """The map's own tick (changes since the last sequence number into the layers' hideouts) and the room's status."""
    live_ids = list(LAYER_KINDS)
    nudge_ticks = max(1, _NUDGE_MS // max(room.map_tick_ms, 1))

    @app.callback(
        [Output(layer_id, "hideout") for layer_id in live_ids],
        Output(ids.SEQ, "data"),
        Input(ids.INTERVAL_MAP, "n_intervals"),
        State(ids.SEQ, "data"),
    )
    def tick(n, seq):
        """Push the asset states changed since `seq`, one patch a layer (the fault layer follows the lamps')."""
        seq = int(seq or 0)
        changes = room.data.changes_since(seq)
        kinds = room.geo.kinds()
        by_layer: dict[str, dict] = {layer_id: {} for layer_id in live_ids}
        for asset_id, code in changes.states.items():
            layer_id = ids.LIVE_LAYERS.get(kinds.get(asset_id, ""))
            if layer_id is not None:
                by_layer[layer_id][asset_id] = changes.values.get(asset_id, code)
        patches = []
        for layer_id in live_ids:
            if by_layer[layer_id]:
                p = Patch()
                p["s"].update(by_layer[layer_id])
                patches.append(p)
            elif (n or 0) <= nudge_ticks:
                # A hideout change that lands while a layer still fetches its URL is not drawn until the
                # next change: during the first seconds, nudge every layer so its first draw is current.
                p = Patch()
                p["n"] = n
                patches.append(p)
            else:
                patches.append(no_update)
        return (*patches, changes.seq if changes.seq != seq else no_update)

    # the fault layer draws the lamp layer's states: the browser hands it the same hideout, no second patch
    app.clientside_callback("function (hideout) { return hideout; }",
                            Output(ids.LAYER_FAULTS, "hideout"), Input(ids.LAYER_LIGHTS, "hideout"),
                            prevent_initial_call=True)

    @app.callback(
        Output(ids.ALERT_VERSION, "data"),
        Output(ids.STATUS, "data"),
        Input(ids.INTERVAL_FAST, "n_intervals"),
        State(ids.ALERT_VERSION, "data"),
    )
    def status(_n, alert_version):
        """Bump the alert version when alerts or reports changed; report the store's freshness."""
        version = room.data.alerts_version()
        health = room.data.health()
        age = health.age_s()
        status = {
            "store": health.store_ok,
            "age": None if age is None else round(age, 1),
            "stale": (not health.store_ok) or age is None or age > room.stale_after_s,
            # a training session runs on the time of its stream: clock and countdowns follow it
            "offset_ms": (health.last_event_ms - int(time.time() * 1000))
            if room.namespace != "live" and health.last_event_ms else 0,
        }
        return version if version != alert_version else no_update, status
