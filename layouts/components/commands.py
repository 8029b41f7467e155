"""The remote-control panel ("Télécommande"): target, action, level, duration, reason, preview, confirmation, list.

The checks are `streams.commands.prepare_command`'s, through `DataSource.check_command` (the
preview) and `DataSource.send_command`; the preview's assets are drawn by a layer of their own
(`preview_layer`), on top of the map's, and an area is drawn with the map's drawing control
(`draw_control`, driven from the form's buttons); the lamps or crossroads inside it are found on
the server (`streams.commands.select_area`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import dash_leaflet as dl
from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash_extensions.javascript import Namespace

from dashboard import ids
from dashboard.i18n import t
from streams.commands import RESUME, CommandPolicy, CommandRefused, Selection, select_area, select_targets

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = [
    "ACTIONS", "COMMANDABLE", "MAX_PREVIEW", "action_options", "area_selection", "command_rows", "draw_control",
    "layout", "preview_geojson", "preview_layer", "refusal_text", "register_callbacks", "scope_text", "target_of",
]

ACTIONS = ("dim", "switch_on", "switch_off", "flash", "normal")
COMMANDABLE = ("light", "cabinet", "signal")
MAX_PREVIEW = 5000  # points drawn by the preview layer; the count says the rest
POLICY = CommandPolicy()
_TZ = ZoneInfo("Europe/Paris")
_EMPTY = {"type": "FeatureCollection", "features": []}
_ns = Namespace("vigie", "commands")
# start of a CommandRefused reason -> the i18n key that says it
_WHY = (
    ("store", "cmd.why.store"), ("broker", "cmd.why.broker"), ("a training session", "cmd.why.training"),
    ("the role", "cmd.why.role"), ("a command needs a reason", "cmd.why.reason"),
    ("unknown target", "cmd.why.unknown"), ("the selection reaches no", "cmd.why.empty"),
    ("unknown action", "cmd.why.kind"), ("the dimming level", "cmd.why.level"), ("the duration", "cmd.why.duration"),
    ("rate limit", "cmd.why.rate"), ("this command reaches", "cmd.why.confirm"),
    ("the confirming operator must", "cmd.why.same"), ("the confirming operator's role", "cmd.why.confirm_role"),
    ("confirmation refused", "cmd.why.confirm_bad"), ("confirmation locked", "cmd.why.confirm_locked"),
    ("the drawn area is empty", "cmd.why.area_empty"),
    ("the drawn area lies outside", "cmd.why.area_outside"), ("the drawn area reaches", "cmd.why.area_cap"),
)
# The drawing control's async chunk (89 kB) would hold up the map's first render: it is mounted on the first
# visit to the remote control, so callbacks reach it through a pattern that may match nothing yet.
_DRAW = {"type": ids.CMD_DRAW, "n": 0}
_DRAW_ALL = {"type": ids.CMD_DRAW, "n": ALL}
_AREA_STYLE = {"color": "#00e5ff", "weight": 3, "dashArray": "8 6", "fillColor": "#00e5ff", "fillOpacity": 0.08}


def preview_layer() -> dl.Pane:
    """The layer that rings the assets a command would reach (filled by the preview)."""
    return dl.Pane(dl.GeoJSON(id=ids.CMD_PREVIEW_LAYER, data=_EMPTY, pointToLayer=_ns("previewPoint")),
                   name="vigie-command-preview", style={"zIndex": 620})


def draw_control() -> dl.FeatureGroup:
    """The map's layer for drawn areas; its drawing control is mounted when the remote control is first opened."""
    return dl.FeatureGroup(id=ids.CMD_DRAW_LAYER, children=[])


def _edit_control() -> dl.EditControl:
    """The drawing control for an area (rectangles and polygons); its toolbar is driven from the form's buttons."""
    return dl.EditControl(
        id=_DRAW, position="topleft",
        draw={"polyline": False, "circle": False, "circlemarker": False, "marker": False,
              "rectangle": {"shapeOptions": _AREA_STYLE},
              "polygon": {"allowIntersection": False, "shapeOptions": _AREA_STYLE}},
        edit={"edit": False})


def area_selection(assets, area: dict | None, kind: str | None) -> Selection:
    """The lamps or crossroads inside the drawn area, or raise CommandRefused (empty, outside, too many)."""
    return select_area(assets, area, kind=kind or "light", policy=POLICY)


def scope_text(scope: str, lang: str) -> str:
    """A command's scope as the list shows it (a drawn area says so, with its count)."""
    if scope.startswith("area:"):
        return t("cmd.scope.area", lang, n=scope.split(":", 1)[1])
    return scope


def action_options(signals: bool, lang: str) -> list[dict]:
    """The action menu; its last entry ends an override: back to normal (crossroads) or to the programme (lamps)."""
    def label(action: str) -> str:
        if action == RESUME and not signals:
            return t("cmd.action.normal.light", lang)
        return t(f"cmd.action.{action}", lang)
    return [{"label": label(a), "value": a} for a in ACTIONS]


def refusal_text(reason: str, lang: str) -> str:
    """A CommandRefused reason in the operator's language."""
    if " applies to " in reason or " takes no level" in reason:
        return t("cmd.why.kind" if "applies" in reason else "cmd.why.level", lang)
    for start, key in _WHY:
        if reason.startswith(start):
            text = t(key, lang, lo=POLICY.min_minutes, hi=POLICY.max_minutes, cap=POLICY.max_area_assets)
            return f"{text} ({reason.split(':', 1)[1].strip()})" if key == "cmd.why.unknown" else text
    return reason


def target_of(room: "Room", target: str | None, commune: str | None, selection: dict | None) -> dict:
    """The select_targets keywords of the form's target: a commune, or the selected lamp, cabinet or signal."""
    if target == "asset":
        asset_id = (selection or {}).get("asset_id")
        record = room.geo.asset(asset_id) if asset_id else None
        kind = (record or {}).get("kind")
        if kind == "light":
            return {"lamps": [asset_id]}
        if kind == "cabinet":
            return {"cabinets": [asset_id]}
        if kind == "signal":
            return {"signals": [asset_id]}
        return {}
    return {"commune": commune} if commune else {}


def preview_geojson(assets, selection) -> dict:
    """Points of the assets a selection reaches (at most MAX_PREVIEW)."""
    wanted = set(selection.lamp_ids[:MAX_PREVIEW]) | set(selection.signal_ids)
    rows = assets.loc[assets["asset_id"].isin(wanted), ["asset_id", "lat", "lon"]]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r.lon), float(r.lat)]},
         "properties": {"id": r.asset_id}} for r in rows.itertuples()]}


def command_rows(commands: list[dict], lang: str, kinds: dict | None = None) -> html.Table | html.P:
    """The commands list: time, action, target, count, operator, status (`kinds`: asset id -> kind)."""
    if not commands:
        return html.P(t("cmd.none", lang), className="hint")
    head = html.Tr([html.Th(t(f"cmd.col.{c}", lang)) for c in ("when", "action", "scope", "count", "user", "status")])
    body = []
    for c in commands:
        when = datetime.fromtimestamp(c["sent_ts"] / 1000, _TZ).strftime("%H:%M:%S")
        targets = c.get("targets") or [""]
        on_lamps = c["action"] == RESUME and (kinds or {}).get(targets[0]) != "signal"
        action_key = "cmd.action.normal.light" if on_lamps else f"cmd.action.{c['action']}"
        action = t(action_key, lang) + (f" {c['level']:g} %" if c.get("level") is not None else "")
        status = c["status"]
        body.append(html.Tr(className=f"cmd-row cmd-st-{status}", **{"data-id": c["command_id"]}, children=[
            html.Td(when), html.Td(action), html.Td(scope_text(c["scope"], lang)), html.Td(str(c["count"])),
            html.Td(c["user"] + (f" + {c['confirmed_by']}" if c.get("confirmed_by") else "")),
            html.Td(html.Span(t(f"cmd.status.{status}", lang), className=f"cmd-status cmd-st-{status}",
                              title=c.get("detail") or "")),
        ]))
    return html.Table(className="cmd-table", children=[html.Thead(head), html.Tbody(body)])


def layout(room: "Room", lang: str) -> html.Div:
    """The remote-control form and the commands list."""
    communes = room.geo.communes()
    return html.Div(className="command-panel", children=[
        html.Label(t("cmd.target", lang), className="cmd-label"),
        dcc.RadioItems(id=ids.CMD_TARGET, value="commune", inline=True, className="cmd-target", options=[
            {"label": t("cmd.target.commune", lang), "value": "commune"},
            {"label": t("cmd.target.asset", lang), "value": "asset"},
            {"label": t("cmd.target.area", lang), "value": "area"}]),
        html.Div(id=ids.CMD_COMMUNE_BOX, children=dcc.Dropdown(
            id=ids.CMD_COMMUNE, placeholder=t("cmd.commune", lang), clearable=True, className="cmd-commune",
            options=[{"label": name, "value": code} for code, name in sorted(communes.items(), key=lambda x: x[1])])),
        html.Div(id=ids.CMD_ASSET, className="cmd-asset hint cmd-hidden", children=t("cmd.no_asset", lang)),
        html.Div(id=ids.CMD_AREA_BOX, className="cmd-area cmd-hidden", children=[
            dcc.RadioItems(id=ids.CMD_AREA_KIND, value="light", inline=True, className="cmd-area-kind", options=[
                {"label": t(f"cmd.area.kind.{kind}", lang), "value": kind} for kind in ("light", "signal")]),
            html.Div(className="cmd-buttons", children=[
                html.Button(t("cmd.area.rectangle", lang), id=ids.CMD_DRAW_RECTANGLE, className="btn", n_clicks=0),
                html.Button(t("cmd.area.polygon", lang), id=ids.CMD_DRAW_POLYGON, className="btn", n_clicks=0),
                html.Button(t("cmd.area.clear", lang), id=ids.CMD_DRAW_CLEAR, className="btn", n_clicks=0),
            ]),
            html.Span(t("cmd.area.hint", lang), className="hint"),
        ]),
        # what the command reaches, right under the target, in the preview's colour
        html.Div(id=ids.CMD_COUNT, className="cmd-count", role="status"),
        html.Label(t("cmd.action", lang), className="cmd-label"),
        dcc.Dropdown(id=ids.CMD_ACTION, value="dim", clearable=False, className="cmd-action",
                     options=action_options(False, lang)),
        html.Div(id=ids.CMD_LEVEL_BOX, className="cmd-field", children=[
            html.Label(t("cmd.level", lang), className="cmd-label"),
            dcc.Slider(id=ids.CMD_LEVEL, min=0, max=100, step=5, value=50, className="cmd-level",
                       marks={v: f"{v}" for v in (0, 25, 50, 75, 100)}, tooltip={"placement": "bottom"})]),
        html.Div(id=ids.CMD_MINUTES_BOX, className="cmd-field", children=[
            html.Label(t("cmd.minutes", lang), className="cmd-label"),
            dcc.Input(id=ids.CMD_MINUTES, type="number", min=POLICY.min_minutes, max=POLICY.max_minutes, step=1,
                      value=60, className="cmd-minutes")]),
        dcc.Input(id=ids.CMD_REASON, type="text", value="", placeholder=t("cmd.reason", lang),
                  className="cmd-reason", maxLength=500),
        html.Div(id=ids.CMD_CONFIRM_BOX, className="cmd-confirm", children=[
            dcc.Input(id=ids.CMD_CONFIRM, type="text", value="", placeholder=t("cmd.confirm", lang),
                      className="cmd-confirm-input", maxLength=64, autoComplete="off"),
            dcc.Input(id=ids.CMD_CONFIRM_PASSWORD, type="password", value="",
                      placeholder=t("cmd.confirm_password", lang), className="cmd-confirm-input cmd-confirm-password",
                      autoComplete="new-password"),
            html.Span(t("cmd.confirm_hint", lang, n=POLICY.confirm_lamps_over), className="hint"),
        ]),
        html.Div(className="cmd-buttons", children=[
            html.Button(t("cmd.preview", lang), id=ids.CMD_PREVIEW, className="btn", n_clicks=0),
            html.Button(t("cmd.send", lang), id=ids.CMD_SEND, className="btn btn-send", n_clicks=0),
        ]),
        html.Div(id=ids.CMD_FEEDBACK, className="feedback", role="status"),
        html.H4(t("cmd.list", lang)),
        html.Div(id=ids.CMD_LIST, className="cmd-list",
                 children=command_rows(room.data.commands(), lang, room.geo.kinds())),
    ])


def _command(action, level, minutes, reason, confirm) -> dict:
    return {"action": action or "dim", "level": float(level) if action == "dim" and level is not None else None,
            "minutes": float(minutes) if minutes is not None else 0.0, "reason": reason or "",
            "confirmed_by": (confirm or "").strip() or None}


def _second_operator(room: "Room", name: str | None, password: str | None) -> str | None:
    """The confirming operator's role once their own password is checked (on this desk); None without one.

    A wrong password counts as a failed sign-in of that name, so the sign-in rate limit holds here too.
    """
    from dashboard.auth import SignInLocked

    name = (name or "").strip()
    if not name:
        return None
    try:
        user = room.guard.check_password(name, password or "", target="confirm", detail={"by": room.actor()})
    except SignInLocked:
        raise CommandRefused("confirmation locked: too many wrong passwords for this name") from None
    if user is None:
        raise CommandRefused("confirmation refused: wrong name or password of the second operator")
    return user.role


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Selected asset, preview, send, and the commands list."""

    @app.callback(Output(ids.CMD_ASSET, "children"), Input(ids.SELECTED_ASSET, "data"), State(ids.LANG, "data"))
    def show_asset(selection, lang):
        """Name the selected asset when it can be commanded."""
        asset_id = (selection or {}).get("asset_id")
        record = room.geo.asset(asset_id) if asset_id else None
        if not record or record.get("kind") not in COMMANDABLE:
            return t("cmd.no_asset", lang)
        return f"{t('kind.' + record['kind'], lang)} · {asset_id}"

    @app.callback(Output(ids.DETAIL_TABS, "value", allow_duplicate=True), Output(ids.CMD_TARGET, "value"),
                  Output(ids.CMD_ACTION, "value"), Input({"type": ids.CMD_FROM_ASSET, "asset": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def from_asset(clicks):
        """The asset panel's button: open the remote control on the selected asset."""
        trigger = callback_context.triggered_id
        if not any(clicks or ()) or not isinstance(trigger, dict):
            return no_update, no_update, no_update
        record = room.geo.asset(trigger.get("asset") or "")
        return "command", "asset", "flash" if (record or {}).get("kind") == "signal" else "dim"

    def chosen_of(target, commune, selection, area, area_kind) -> tuple[dict, Selection | None]:
        """The send_command keywords of the form's target, and the drawn area's selection (raises CommandRefused)."""
        if target != "area":
            keywords = target_of(room, target, commune, selection)
            return keywords, select_targets(room.geo.inventory.assets, **keywords) if keywords else None
        if not (area or {}).get("features"):
            return {}, None
        chosen = area_selection(room.geo.inventory.assets, area, area_kind)
        keywords = {"signals": chosen.signal_ids} if chosen.signal_ids else {"lamps": chosen.lamp_ids}
        return ({**keywords, "scope": chosen.scope} if chosen.count else {}), chosen

    @app.callback(Output(ids.CMD_COUNT, "children"), Output(ids.CMD_PREVIEW_LAYER, "data"),
                  Output(ids.CMD_CONFIRM_BOX, "className"),
                  Input(ids.CMD_PREVIEW, "n_clicks"), Input(ids.CMD_TARGET, "value"), Input(ids.CMD_COMMUNE, "value"),
                  Input(ids.CMD_ACTION, "value"), Input(ids.SELECTED_ASSET, "data"), Input(_DRAW_ALL, "geojson"),
                  Input(ids.CMD_AREA_KIND, "value"), State(ids.LANG, "data"),
                  prevent_initial_call=True)
    def preview(_n, target, commune, action, selection, areas, area_kind, lang):
        """Count and ring the assets the command would reach; say when a second operator must confirm."""
        area = (areas or [None])[0]
        try:
            _, chosen = chosen_of(target, commune, selection, area, area_kind)
        except CommandRefused as refused:
            text = html.Span(t("cmd.refused", lang, reason=refusal_text(refused.reason, lang)), className="cmd-needs")
            return text, _EMPTY, "cmd-confirm"
        if chosen is None:
            return (t("cmd.area.none", lang) if target == "area" else ""), _EMPTY, "cmd-confirm"
        needs = len(chosen.lamp_ids) > POLICY.confirm_lamps_over or bool(chosen.signal_ids)
        if target == "area":
            what = t(f"cmd.area.what.{area_kind or 'light'}", lang)
            label = t("cmd.area.scope", lang, n=chosen.count, what=what)
        else:
            label = t("cmd.count", lang, n=chosen.count)
        text = [html.Span(label, className="cmd-n", **{"data-n": chosen.count})]
        if needs:
            text.append(html.Span(" — " + t("cmd.needs_confirm", lang), className="cmd-needs"))
        ids_list = [*chosen.signal_ids, *chosen.lamp_ids]
        text.append(html.Div(", ".join(ids_list[:12]) + (" …" if len(ids_list) > 12 else ""), className="cmd-ids"))
        return (text, preview_geojson(room.geo.inventory.assets, chosen),
                "cmd-confirm cmd-confirm-needed" if needs else "cmd-confirm")

    @app.callback(Output(ids.CMD_FEEDBACK, "children"), Output(ids.CMD_FEEDBACK, "className"),
                  Output(ids.CMD_LIST, "children", allow_duplicate=True), Output(ids.CMD_CONFIRM_PASSWORD, "value"),
                  Input(ids.CMD_SEND, "n_clicks"),
                  State(ids.CMD_TARGET, "value"), State(ids.CMD_COMMUNE, "value"), State(ids.SELECTED_ASSET, "data"),
                  State(_DRAW_ALL, "geojson"), State(ids.CMD_AREA_KIND, "value"),
                  State(ids.CMD_ACTION, "value"), State(ids.CMD_LEVEL, "value"), State(ids.CMD_MINUTES, "value"),
                  State(ids.CMD_REASON, "value"), State(ids.CMD_CONFIRM, "value"),
                  State(ids.CMD_CONFIRM_PASSWORD, "value"), State(ids.LANG, "data"),
                  prevent_initial_call=True)
    def send(n, target, commune, selection, areas, area_kind, action, level, minutes, reason, confirm,
             confirm_password, lang):
        """Send the command through the room's checks, and say what happened."""
        if not n:
            return no_update, no_update, no_update, no_update
        user = room.require("command.send", "command")
        try:
            keywords, _ = chosen_of(target, commune, selection, (areas or [None])[0], area_kind)
            if not keywords:
                raise CommandRefused("the selection reaches no equipment")
            confirmer_role = _second_operator(room, confirm, confirm_password)
            request, chosen = room.data.send_command(room.geo.inventory.assets, user=user, role=room.role(),
                                                     confirmer_role=confirmer_role,
                                                     **_command(action, level, minutes, reason, confirm), **keywords)
        except CommandRefused as refused:
            text = t("cmd.refused", lang, reason=refusal_text(refused.reason, lang))
            return text, "feedback feedback-warn", no_update, ""
        return (t("cmd.sent", lang, id=request.command_id, n=chosen.count), "feedback feedback-ok",
                command_rows(room.data.commands(), lang, room.geo.kinds()), "")

    @app.callback(Output(ids.CMD_COMMUNE_BOX, "className"), Output(ids.CMD_ASSET, "className"),
                  Output(ids.CMD_AREA_BOX, "className"), Output(ids.CMD_ACTION, "options"),
                  Output(ids.CMD_LEVEL_BOX, "className"), Output(ids.CMD_MINUTES_BOX, "className"),
                  Input(ids.CMD_TARGET, "value"), Input(ids.CMD_AREA_KIND, "value"), Input(ids.SELECTED_ASSET, "data"),
                  Input(ids.CMD_ACTION, "value"), State(ids.LANG, "data"))
    def target_form(target, area_kind, selection, action, lang):
        """Show the fields the target and the action use; name the resume action after what it resumes."""
        def shown(base: str, yes: bool) -> str:
            return base if yes else f"{base} cmd-hidden"
        record = room.geo.asset((selection or {}).get("asset_id") or "") if target == "asset" else None
        if target == "asset":
            signals = (record or {}).get("kind") == "signal"
        else:
            signals = target == "area" and area_kind == "signal"
        return (shown("cmd-field", target == "commune"), shown("cmd-asset hint", target == "asset"),
                shown("cmd-area", target == "area"), action_options(signals, lang),
                shown("cmd-field", action == "dim"), shown("cmd-field", action != RESUME))

    @app.callback(Output(ids.CMD_DRAW_LAYER, "children"), Input(ids.DETAIL_TABS, "value"),
                  State(ids.CMD_DRAW_LAYER, "children"))
    def mount_drawing(tab, children):
        """Put the drawing control on the map the first time the remote control is shown."""
        return [_edit_control()] if tab == "command" and not children else no_update

    @app.callback(Output(_DRAW_ALL, "drawToolbar"), Output(ids.CMD_TARGET, "value", allow_duplicate=True),
                  Input(ids.CMD_DRAW_RECTANGLE, "n_clicks"), Input(ids.CMD_DRAW_POLYGON, "n_clicks"),
                  prevent_initial_call=True)
    def start_drawing(rectangles, polygons):
        """The form's buttons start drawing a rectangle or a polygon on the map."""
        mode = "polygon" if callback_context.triggered_id == ids.CMD_DRAW_POLYGON else "rectangle"
        toolbar = {"mode": mode, "n_clicks": (rectangles or 0) + (polygons or 0)}
        return [toolbar] * len(callback_context.outputs_list[0]), "area"

    @app.callback(Output(_DRAW_ALL, "editToolbar"), Input(ids.CMD_DRAW_CLEAR, "n_clicks"),
                  prevent_initial_call=True)
    def clear_area(n):
        """Remove every drawn shape."""
        return [{"mode": "remove", "action": "clear all", "n_clicks": n}] * len(callback_context.outputs_list)

    @app.callback(Output(ids.CMD_LIST, "children"), Input(ids.INTERVAL_FAST, "n_intervals"),
                  State(ids.DETAIL_TABS, "value"), State(ids.LANG, "data"), prevent_initial_call=True)
    def refresh(_n, tab, lang):
        """Follow the commands' status while the panel is shown."""
        if tab != "command":
            return no_update
        return command_rows(room.data.commands(), lang, room.geo.kinds())
