"""The operator page beside the map: the alert queue with its actions, the asset panel and stream health."""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

import dash_ag_grid as dag
from dash import Input, Output, State, callback_context, dcc, html, no_update

from dashboard import ids
from dashboard.data import ALERT_STATES, SEVERITIES, AlertFilters
from dashboard.i18n import alert_title, t
from layouts.components import commands as command_panel
from layouts.components.asset_panel import asset_panel
from layouts.components.header import format_age

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = [
    "DOMAINS", "GRID_THEME", "MAX_ROWS", "TEAMS", "column_defs", "dropdown_labels", "grid_rows", "health_table", "layout",
    "panel_digest", "refusal", "register_callbacks",
]

DOMAINS = ("lighting", "traffic", "cameras", "weather", "incidents", "access", "system")
TEAMS = ("lighting", "traffic", "video", "roads", "police")
MAX_ROWS = 1000  # worst first; beyond this the header counts tell the size of the backlog
_CLICK_LAYERS = (ids.LAYER_LIGHTS, ids.LAYER_FAULTS, ids.LAYER_CABINETS, ids.LAYER_SIGNALS, ids.LAYER_CAMERAS,
                 ids.LAYER_WEATHER, ids.LAYER_BOLLARDS, ids.LAYER_ALERTS, ids.LAYER_REPORTS)
GRID_THEME = ("themeQuartz.withParams({backgroundColor: '#0f151d', foregroundColor: '#dbe4ee', "
               "headerBackgroundColor: '#17202b', headerTextColor: '#9fb3c8', borderColor: '#26323f', "
               "accentColor: '#4ea1ff', oddRowBackgroundColor: '#121a24', rowHoverColor: '#1c2837', "
               "selectedRowBackgroundColor: '#1d3350', fontSize: 15, headerFontSize: 14, "
               "fontFamily: 'inherit', spacing: 6, wrapperBorderRadius: 4})")


def column_defs(lang: str) -> list[dict]:
    """Columns of the alert queue; the countdown is computed in the browser every second."""
    sev_rules = {f"sev-cell sev-{s}": f"params.data.severity === '{s}'" for s in SEVERITIES}
    return [
        {"field": "sev_rank", "headerName": t("col.severity", lang), "width": 126, "sort": "asc", "sortIndex": 0,
         "valueFormatter": {"function": "params.data.sev_label"}, "cellClassRules": sev_rules},
        {"field": "due_ts", "headerName": t("col.due", lang), "width": 174, "sort": "asc", "sortIndex": 1,
         "valueGetter": {"function": "vigieLeft(params.data)"},
         # the contractual priority leads the countdown it sets: "P1 · 1 h 12"
         "valueFormatter": {"function": "(params.data.priority ? params.data.priority + ' · ' : '')"
                                        " + vigieCountdown(params.value)"},
         "cellClassRules": {u: f"vigieUrgency(params.data) === '{u}'"
                            for u in ("due-ok", "due-amber", "due-red", "due-overdue")}},
        {"field": "title", "headerName": t("col.title", lang), "flex": 2, "minWidth": 190, "tooltipField": "title",
         "headerTooltip": t("col.children_tip", lang),
         # an alert that absorbs others says how many: "Cabinet supply loss · +38"
         "valueFormatter": {"function": "params.data.children ? params.value + ' · +' + params.data.children"
                                        " : params.value"}},
        {"field": "commune_name", "headerName": t("col.commune", lang), "width": 122, "tooltipField": "commune_name"},
        {"field": "state_label", "headerName": t("col.state", lang), "width": 118,
         "cellClassRules": {f"state-cell st-{s}": f"params.data.state === '{s}'" for s in ALERT_STATES}},
        {"field": "domain_label", "headerName": t("col.domain", lang), "width": 120, "hide": True},
        {"field": "opened_ts", "headerName": t("col.opened", lang), "width": 84, "hide": True,
         "valueFormatter": {"function": f"vigieTime(params.value, '{lang}')"}},
    ]


def grid_rows(alerts: list[dict], communes: dict[str, str], lang: str) -> list[dict]:
    """Alert rows for the grid, labels in the operator's language; the title ends with the asset id."""
    keys = ("id", "severity", "sev_rank", "priority", "state", "title", "domain", "commune_code", "asset_id",
            "opened_ts", "due_ts", "lat", "lon", "children")
    rows = []
    for a in alerts:
        row = {k: a.get(k) for k in keys}
        row["id"] = str(a["id"])
        row["title"] = alert_title(a.get("rule"), a.get("value"), a.get("title") or "", lang)
        if a.get("asset_id") and a.get("rule") != "citizen_report":
            row["title"] += " — " + a["asset_id"]
        row["sev_label"] = t(f"severity.{a.get('severity')}", lang)
        row["state_label"] = t(f"status.{a.get('state')}", lang)
        row["domain_label"] = t(f"domain.{a.get('domain')}", lang) if a.get("domain") else ""
        row["commune_name"] = communes.get(a.get("commune_code") or "", a.get("commune_code") or "")
        rows.append(row)
    return rows


def dropdown_labels(lang: str) -> dict:
    """The built-in texts of Dash dropdowns, in the operator's language."""
    return {key: t(f"dropdown.{key}", lang) for key in
            ("select_all", "deselect_all", "selected_count", "search", "clear_search", "clear_selection",
             "no_options_found")}


def _dropdown(id_: str, placeholder: str, options: list[dict], lang: str, value=None) -> dcc.Dropdown:
    return dcc.Dropdown(id=id_, options=options, value=value, multi=True, placeholder=placeholder,
                        className="filter", clearable=True, labels=dropdown_labels(lang))


def layout(room: "Room", lang: str) -> html.Div:
    """The operator page: queue on top, asset and health details below."""
    communes = room.geo.communes()
    filters = html.Div(className="filters", children=[
        _dropdown(ids.FILTER_SEVERITY, t("filter.severity", lang),
                  [{"label": t(f"severity.{s}", lang), "value": s} for s in SEVERITIES], lang),
        _dropdown(ids.FILTER_DOMAIN, t("filter.domain", lang),
                  [{"label": t(f"domain.{d}", lang), "value": d} for d in DOMAINS], lang),
        _dropdown(ids.FILTER_COMMUNE, t("filter.commune", lang),
                  [{"label": name, "value": code} for code, name in sorted(communes.items(), key=lambda x: x[1])],
                  lang),
        _dropdown(ids.FILTER_STATUS, t("filter.status_active", lang),
                  [{"label": t(f"status.{s}", lang), "value": s} for s in ALERT_STATES], lang),
    ])
    actions = html.Div(className="actions", children=[
        html.Button(t("action.ack", lang), id=ids.ACTION_ACK, className="btn btn-ack", n_clicks=0),
        dcc.Dropdown(id=ids.ACTION_TEAM, className="team", placeholder=t("action.team", lang), clearable=True,
                     labels=dropdown_labels(lang),
                     options=[{"label": t(f"team.{x}", lang), "value": x} for x in TEAMS]),
        html.Button(t("action.assign", lang), id=ids.ACTION_ASSIGN, className="btn", n_clicks=0),
        dcc.Input(id=ids.ACTION_COMMENT, className="comment", type="text", debounce=False, value="",
                  placeholder=t("action.comment", lang)),
        html.Button(t("action.resolve", lang), id=ids.ACTION_RESOLVE, className="btn", n_clicks=0),
        html.Button(t("action.close", lang), id=ids.ACTION_CLOSE, className="btn", n_clicks=0),
    ])
    grid = dag.AgGrid(
        id=ids.ALERT_GRID, columnDefs=column_defs(lang), rowData=[], getRowId="params.data.id",
        className="alert-grid", style={"height": "100%", "width": "100%"},
        defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True},
        rowClassRules={"row-critical-unack": "params.data.severity === 'critical' && params.data.state === 'open'",
                       "row-overdue": "vigieUrgency(params.data) === 'due-overdue'"},
        dashGridOptions={
            "theme": {"function": GRID_THEME},
            "rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True,
                             "enableClickSelection": False},
            "rowHeight": 40, "headerHeight": 38, "animateRows": False, "suppressCellFocus": True,
            "localeText": {"noRowsToShow": t("grid.empty", lang)},
            "tooltipShowDelay": 400,
        },
    )
    return html.Div(className="operator", children=[
        dcc.Store(id=ids.PANEL_DIGEST),
        html.Div(className="queue", children=[
            html.H2(t("tab.alerts", lang), className="pane-title"),
            filters, *([actions] if room.may("alert.act") else []),
            html.Div(id=ids.ACTION_FEEDBACK, className="feedback", role="status"),
            html.Div(className="grid-box", children=grid),
        ]),
        dcc.Tabs(id=ids.DETAIL_TABS, value="asset", className="detail-tabs", parent_className="detail",
                 content_className="detail-content", children=[
            dcc.Tab(label=t("tab.asset", lang), value="asset", className="tab", selected_className="tab-on",
                    children=html.Div(id=ids.ASSET_PANEL, className="asset-panel",
                                      children=asset_panel(room, None, lang))),
            dcc.Tab(label=t("tab.health", lang), value="health", className="tab", selected_className="tab-on",
                    children=html.Div(id=ids.HEALTH_PANEL, className="health-panel")),
            *([dcc.Tab(label=t("tab.command", lang), value="command", className="tab", selected_className="tab-on",
                       children=command_panel.layout(room, lang))] if room.may("command.send") else []),
        ]),
    ])


def _num(row: dict, *keys) -> float | None:
    for k in keys:
        v = row.get(k)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def refusal(reason: str, lang: str) -> str:
    """A refusal reason code of the data layer in words."""
    if reason.startswith("state:"):
        return t("refused.state", lang, state=t(f"status.{reason.split(':', 1)[1]}", lang).lower())
    return t(f"refused.{reason}", lang)


def panel_digest(room: "Room", selection: dict | None) -> str:
    """A short token of what the asset panel shows (state seq, alert states), to skip identical refreshes."""
    if not selection:
        return ""
    asset_id = selection.get("asset_id")
    state = room.data.asset_state(asset_id) if asset_id else None
    alerts = room.data.alerts_of_asset(asset_id) if asset_id else []
    alert = room.data.alert(selection["alert_id"]) if selection.get("alert_id") else None
    parts = [repr(sorted(selection.items())), str((state or {}).get("seq")), str((alert or {}).get("seq"))]
    parts += [f"{a['id']}:{a['state']}:{a['seq']}" for a in alerts]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def health_table(health, lang: str) -> list:
    """The stream health panel: one row per feed with rate, lag, age of the last event and dead letters."""
    now = int(time.time() * 1000)
    head = html.P(t("health.last_activity", lang, age=format_age(health.age_s(now), lang)), className="health-head")
    if not health.feeds:
        return [head, html.P(t("health.none", lang), className="hint")]
    cols = ("health.feed", "health.rate", "health.lag", "health.age", "health.dead")
    body = []
    for f in health.feeds:
        last = _num(f, "last_event_ts", "last_ts", "updated_ts", "ts")
        age = None if last is None else (now - last) / 1000
        rate = _num(f, "events_per_s", "rate", "rate_per_s", "eps")
        lag = _num(f, "lag", "consumer_lag", "lag_events")
        dead = _num(f, "dead_letters", "deadletters", "dead")
        feed = f.get("feed") or f.get("topic") or f.get("name") or f.get("source") or "?"
        cls = "feed-stale" if age is None or age > 60 else "feed-ok"
        body.append(html.Tr(className=cls, children=[
            html.Td(str(feed)), html.Td("—" if rate is None else f"{rate:.1f}"),
            html.Td("—" if lag is None else f"{lag:.0f}"), html.Td(format_age(age, lang)),
            html.Td("—" if dead is None else f"{dead:.0f}", className="dead" if dead else ""),
        ]))
    return [head, html.Table(className="health-table", children=[
        html.Thead(html.Tr([html.Th(t(c, lang)) for c in cols])), html.Tbody(body)])]


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Queue rows, operator actions, selection (map or queue), the asset panel and the health panel."""
    command_panel.register_callbacks(app, room)

    @app.callback(
        Output(ids.ALERT_GRID, "rowData"),
        Input(ids.ALERT_VERSION, "data"),
        Input(ids.FILTER_DOMAIN, "value"), Input(ids.FILTER_COMMUNE, "value"),
        Input(ids.FILTER_SEVERITY, "value"), Input(ids.FILTER_STATUS, "value"),
        Input(ids.LOCATION, "pathname"), State(ids.LANG, "data"),
    )
    def queue_rows(_version, domains, communes, severities, states, pathname, lang):
        """The queue's rows for the current filters, refreshed whenever an alert changes (and on coming back)."""
        if pathname == ids.PATH_MANAGER:
            return no_update
        alerts = room.data.open_alerts(AlertFilters.of(domains, communes, severities, states))
        return grid_rows(alerts[:MAX_ROWS], room.geo.communes(), lang)

    app.clientside_callback(
        "function(n, gridId, pathname) { return pathname === '" + ids.PATH_MANAGER + "' ? "
        "window.dash_clientside.no_update : window.dash_clientside.vigie.refreshCountdown(n, gridId); }",
        Output(ids.TICK_SINK, "data"), Input(ids.INTERVAL_FAST, "n_intervals"), State(ids.ALERT_GRID, "id"),
        State(ids.LOCATION, "pathname"))

    @app.callback(
        Output(ids.ACTION_FEEDBACK, "children"), Output(ids.ACTION_FEEDBACK, "className"),
        Output(ids.ACTION_COMMENT, "value"),
        Input(ids.ACTION_ACK, "n_clicks"), Input(ids.ACTION_ASSIGN, "n_clicks"),
        Input(ids.ACTION_RESOLVE, "n_clicks"), Input(ids.ACTION_CLOSE, "n_clicks"),
        State(ids.ALERT_GRID, "selectedRows"), State(ids.ACTION_COMMENT, "value"), State(ids.ACTION_TEAM, "value"),
        State(ids.LANG, "data"),
        prevent_initial_call=True,
    )
    def act(_ack, _assign, _resolve, _close, selected, comment, team, lang):
        """Apply an operator action to the ticked alerts, and say what happened."""
        trigger = callback_context.triggered_id
        alert_ids = [r["id"] for r in (selected or []) if r.get("id")]
        comment = (comment or "").strip()
        if not alert_ids:
            return t("action.none_selected", lang), "feedback feedback-warn", no_update
        actor = room.require("alert.act", "alerts:" + ",".join(str(i) for i in alert_ids[:10]))
        if trigger == ids.ACTION_ACK:
            result, label = room.data.acknowledge(alert_ids, actor, comment), t("action.ack", lang)
        elif trigger == ids.ACTION_ASSIGN:
            if not team:
                return t("action.need_team", lang), "feedback feedback-warn", no_update
            result, label = room.data.assign(alert_ids, team, actor, comment), t("action.assign", lang)
        else:
            if not comment:
                return t("action.need_comment", lang), "feedback feedback-warn", no_update
            if trigger == ids.ACTION_RESOLVE:
                result, label = room.data.resolve(alert_ids, actor, comment), t("action.resolve", lang)
            else:
                result, label = room.data.close(alert_ids, actor, comment), t("action.close", lang)
        text = t("action.done", lang, action=label, n=len(result.done))
        if result.refused:
            detail = ", ".join(f"#{i} {refusal(why, lang)}" for i, why in result.refused[:5])
            text += " " + t("action.refused", lang, n=len(result.refused), detail=detail)
        return text, "feedback feedback-warn" if result.refused else "feedback feedback-ok", ""

    @app.callback(
        Output(ids.SELECTED_ASSET, "data"), Output(ids.MAP, "viewport"), Output(ids.DETAIL_TABS, "value"),
        *[Input(layer, "clickData") for layer in _CLICK_LAYERS],
        Input(ids.ALERT_GRID, "cellClicked"),
        prevent_initial_call=True,
    )
    def select(*clicks):
        """Select what was clicked: an asset on the map, or an alert in the queue (the map flies to it)."""
        trigger = callback_context.triggered_id
        if trigger == ids.ALERT_GRID:
            cell = clicks[-1] or {}
            if str(cell.get("colId", "")).startswith("ag-Grid-"):
                return no_update, no_update, no_update
            alert = room.data.alert(cell.get("rowId")) if cell.get("rowId") else None
            if alert is None:
                return no_update, no_update, no_update
            selection = {"asset_id": alert.get("asset_id"), "alert_id": alert["id"],
                         "lat": alert.get("lat"), "lon": alert.get("lon")}
            if alert.get("lat") is None:
                record = room.geo.asset(alert.get("asset_id") or "")
                if record:
                    selection["lat"], selection["lon"] = record["lat"], record["lon"]
            viewport = no_update
            if selection["lat"] is not None:
                viewport = {"center": [selection["lat"], selection["lon"]], "zoom": 17, "transition": "flyTo"}
            return selection, viewport, "asset"
        feature = clicks[_CLICK_LAYERS.index(trigger)] if trigger in _CLICK_LAYERS else None
        props = (feature or {}).get("properties") or {}
        if not props or props.get("cluster"):
            return no_update, no_update, no_update
        lon, lat = ((feature.get("geometry") or {}).get("coordinates") or [None, None])[:2]
        if props.get("report"):
            selection = {"asset_id": None, "report_id": props.get("id"), "alert_id": props.get("alert_id"),
                         "lat": lat, "lon": lon}
        else:
            selection = {"asset_id": props.get("id"), "alert_id": props.get("alert_id"), "lat": lat, "lon": lon}
        return selection, no_update, "asset"

    @app.callback(Output(ids.ASSET_PANEL, "children"), Output(ids.PANEL_DIGEST, "data"),
                  Input(ids.SELECTED_ASSET, "data"), Input(ids.ALERT_VERSION, "data"),
                  Input(ids.INTERVAL_SLOW, "n_intervals"), State(ids.PANEL_DIGEST, "data"), State(ids.LANG, "data"),
                  State(ids.LOCATION, "pathname"))
    def show_asset(selection, _version, _n, digest, lang, pathname):
        """Fill the asset panel for the selection; refresh it only when what it shows has changed (and is shown)."""
        if pathname == ids.PATH_MANAGER and callback_context.triggered_id != ids.SELECTED_ASSET:
            return no_update, no_update
        fresh = panel_digest(room, selection)
        if callback_context.triggered_id != ids.SELECTED_ASSET and fresh == digest:
            return no_update, no_update
        return asset_panel(room, selection, lang), fresh

    @app.callback(Output(ids.HEALTH_PANEL, "children"), Input(ids.INTERVAL_SLOW, "n_intervals"),
                  Input(ids.DETAIL_TABS, "value"), State(ids.LANG, "data"), State(ids.LOCATION, "pathname"))
    def show_health(_n, tab, lang, pathname):
        """Refresh the stream health panel while it is shown."""
        if tab != "health" or pathname == ids.PATH_MANAGER:
            return no_update
        return health_table(room.data.health(), lang)
