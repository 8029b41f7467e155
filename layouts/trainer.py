"""The trainer page ("Formation"): scenario library, start form, running sessions and their controls, debrief.

It replaces the map and the operator pane while shown (the shell toggles a class). Everything
it reads or steers goes through the room's `TrainingDesk` (`dashboard.training`); the tables
and badges are drawn by the pure builders of `layouts.components.training_views`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard import ids
from dashboard.i18n import t
from dashboard.training import SPEEDS, parse_speed, room_url
from layouts.components.training_views import (
    catalog_cards, catalog_options, clock, debrief_view, recording_line, session_rows, session_status,
)

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = ["JUMP_S", "layout", "register_callbacks", "speed_options"]

JUMP_S = 600.0  # the ±10 min buttons
_NOW_MARK = {"color": "#c9b3ff", "fontWeight": "800", "whiteSpace": "nowrap"}
_ACTIONS = {ids.TR_PAUSE: ("pause", None), ids.TR_RESUME: ("resume", None), ids.TR_BACK: ("jump", -JUMP_S),
            ids.TR_FWD: ("jump", JUMP_S), ids.TR_STOP: ("stop", None)}


def speed_options(lang: str) -> list[dict]:
    """The speed choices: 1×, 5×, 10×, 30×, 60×, max."""
    return [{"label": t("tr.speed_max", lang) if s == "max" else f"{s}×", "value": s} for s in SPEEDS]


def _button(label: str, id_: str, cls: str = "btn", title: str | None = None) -> html.Button:
    return html.Button(label, id=id_, n_clicks=0, className=cls, title=title)


def layout(room: "Room", lang: str) -> html.Div:
    """The page skeleton: library and start form on the left, sessions, controls and debrief on the right."""
    start = html.Div(className="tr-panel tr-start", children=[
        html.H3(t("tr.start_title", lang), className="panel-title"),
        html.Label(t("tr.source", lang), htmlFor=ids.TR_SOURCE, className="tr-label"),
        dcc.Dropdown(id=ids.TR_SOURCE, className="tr-source", clearable=False, options=[],
                     placeholder=t("tr.source", lang)),
        html.Label(t("tr.name", lang), htmlFor=ids.TR_NAME, className="tr-label"),
        dcc.Input(id=ids.TR_NAME, type="text", value="", className="tr-name", placeholder=t("tr.name_hint", lang),
                  debounce=False),
        html.Label(t("tr.speed", lang), className="tr-label"),
        dcc.RadioItems(id=ids.TR_SPEED, className="tr-speeds", inline=True, value="10", options=speed_options(lang)),
        dcc.Checklist(id=ids.TR_LOOP, className="tr-loop", value=[],
                      options=[{"label": t("tr.loop", lang), "value": "loop"}]),
        _button(t("tr.start", lang), ids.TR_START, "btn btn-ack tr-start-btn"),
        html.Div(id=ids.TR_START_FEEDBACK, className="feedback", role="status"),
    ])
    recorder = html.Div(className="tr-panel tr-recorder", children=[
        html.H3(t("tr.recorder", lang), className="panel-title"),
        html.P(t("tr.recorder_hint", lang), className="hint"),
        html.Div(className="tr-buttons", children=[_button(t("tr.rec_start", lang), ids.TR_REC_START, "btn tr-rec"),
                                                   _button(t("tr.rec_stop", lang), ids.TR_REC_STOP, "btn")]),
        html.Div(id=ids.TR_REC_STATUS, className="tr-rec-status", role="status"),
    ])
    controls = html.Div(className="tr-panel tr-controls", children=[
        html.Div(id=ids.TR_STATUS, className="tr-status", children=session_status(None, lang)),
        html.Div(className="tr-buttons", children=[
            _button("‖ " + t("tr.pause", lang), ids.TR_PAUSE),
            _button("▶ " + t("tr.resume", lang), ids.TR_RESUME),
            _button("« " + t("tr.back", lang), ids.TR_BACK, title=t("tr.back_tip", lang)),
            _button(t("tr.fwd", lang) + " »", ids.TR_FWD, title=t("tr.fwd_tip", lang)),
            _button("■ " + t("tr.stop", lang), ids.TR_STOP, "btn tr-stop"),
            html.A(t("tr.view_room", lang), id=ids.TR_VIEW_ROOM, href="#", target="_blank", className="btn tr-room"),
        ]),
        html.Div(className="tr-row", children=[
            html.Span(t("tr.speed", lang), className="tr-label"),
            dcc.RadioItems(id=ids.TR_CTRL_SPEED, className="tr-speeds", inline=True, value=None,
                           options=speed_options(lang)),
        ]),
        html.Div(className="tr-row tr-seek-row", children=[
            html.Span(t("tr.seek", lang), className="tr-label", title=t("tr.seek_hint", lang)),
            html.Div(className="tr-seek", title=t("tr.seek_hint", lang), children=dcc.Slider(
                id=ids.TR_SEEK, min=0, max=60, step=1, value=None, updatemode="mouseup", marks=None,
                allow_direct_input=False, tooltip={"placement": "bottom", "template": "{value} min"})),
        ]),
        html.Div(id=ids.TR_CTRL_FEEDBACK, className="feedback", role="status"),
        _button(t("tr.debrief", lang), ids.TR_DEBRIEF, "btn btn-ack tr-debrief-btn"),
    ])
    return html.Div(id=ids.TRAINER, className="trainer", children=[
        dcc.Store(id=ids.TR_SELECTED, data=None),
        html.Div(className="tr-col tr-left", children=[
            html.H2(t("tr.title", lang), className="pane-title"),
            start, recorder,
            html.H3(t("tr.library", lang), className="panel-title tr-library-title"),
            html.Div(id=ids.TR_CATALOG, className="tr-catalog"),
        ]),
        html.Div(className="tr-col tr-right", children=[
            html.H3(t("tr.sessions", lang), className="panel-title"),
            html.Div(id=ids.TR_SESSIONS, className="tr-sessions"),
            controls,
            dcc.Loading(html.Div(id=ids.TR_DEBRIEF_VIEW, className="tr-debrief"), type="dot", color="#a277ff",
                        delay_show=300),
        ]),
    ])


def _speed_choice(session: dict | None) -> str | None:
    """The speed choice ('10', 'max') matching a session's speed, None before it plays."""
    if session is None or session.get("status") == "preparing":
        return None
    speed = session.get("speed")
    return "max" if speed is None else f"{speed:g}"


def _disabled(session: dict | None) -> list[bool]:
    """Which of pause, resume, back, forward, stop are off: all for a session that does not run."""
    if session is None or not session.get("running"):
        return [True] * len(_ACTIONS)
    status = session.get("status")
    return [status == "paused", status == "playing", False, False, False]


def _result(result: dict, label: str, lang: str) -> tuple[str, str]:
    if result.get("ok"):
        return t("tr.done", lang, action=label), "feedback feedback-ok"
    return t("tr.failed", lang, action=label, error=result.get("error") or "?"), "feedback feedback-warn"


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Library, start, the session list and controls, the debrief and the recorder."""
    desk = room.training
    if desk is None:  # a session's own room has no trainer page
        return

    @app.callback(Output(ids.TR_CATALOG, "children"), Output(ids.TR_SOURCE, "options"),
                  Input(ids.LOCATION, "pathname"), Input(ids.TR_SOURCE, "value"), Input(ids.TR_REC_STOP, "n_clicks"),
                  State(ids.LANG, "data"))
    def library(pathname, source, _stop, lang):
        """The scenario and recording cards with their briefs, and the start form's choices."""
        if pathname != ids.PATH_TRAINER:
            raise PreventUpdate
        catalog = desk.catalog()
        return catalog_cards(catalog, source, lang), catalog_options(catalog, lang)

    @app.callback(Output(ids.TR_SOURCE, "value"), Input({"type": ids.TR_PICK, "source": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def pick(clicks):
        """Choose the clicked card as the session's source."""
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict) or not callback_context.triggered[0].get("value"):
            raise PreventUpdate
        return trigger["source"]

    @app.callback(Output(ids.TR_START_FEEDBACK, "children"), Output(ids.TR_START_FEEDBACK, "className"),
                  Output(ids.TR_SELECTED, "data", allow_duplicate=True),
                  Input(ids.TR_START, "n_clicks"), State(ids.TR_SOURCE, "value"), State(ids.TR_NAME, "value"),
                  State(ids.TR_SPEED, "value"), State(ids.TR_LOOP, "value"), State(ids.LANG, "data"),
                  prevent_initial_call=True)
    def start(n, source, name, speed, loop, lang):
        """Start a session (prepared in the background) and control it."""
        if not n:
            raise PreventUpdate
        if not source:
            return t("tr.need_source", lang), "feedback feedback-warn", no_update
        try:
            name = desk.start(source, name=name, speed=parse_speed(speed), loop="loop" in (loop or []))
        except (RuntimeError, ValueError) as exc:
            return t("tr.start_failed", lang, error=str(exc)), "feedback feedback-warn", no_update
        return t("tr.started", lang, name=name), "feedback feedback-ok", name

    @app.callback(Output(ids.TR_SESSIONS, "children"), Output(ids.TR_STATUS, "children"),
                  Output(ids.TR_VIEW_ROOM, "href"), Output(ids.TR_SEEK, "max"), Output(ids.TR_SEEK, "marks"),
                  Output(ids.TR_SELECTED, "data", allow_duplicate=True),
                  Output(ids.TR_CTRL_SPEED, "value", allow_duplicate=True),
                  *[Output(b, "disabled") for b in _ACTIONS],
                  Input(ids.INTERVAL_TRAINER, "n_intervals"), Input(ids.TR_SELECTED, "data"),
                  Input(ids.LOCATION, "pathname"), State(ids.TR_CTRL_SPEED, "value"), State(ids.LANG, "data"),
                  prevent_initial_call="initial_duplicate")
    def sessions(_n, selected, pathname, shown_speed, lang):
        """Every session with its progress; the controlled one's status (the newest running one by default)."""
        if pathname != ids.PATH_TRAINER:
            raise PreventUpdate
        listed = desk.sessions()
        current = next((s for s in listed if s["name"] == selected), None)
        chosen = no_update
        if current is None:
            current = next((s for s in listed if s.get("running") or s.get("status") == "preparing"), None)
            chosen = current["name"] if current else no_update
        name = current["name"] if current else None
        minutes = max(1, round(float((current or {}).get("duration_s") or 3600.0) / 60))
        step = 15 if minutes <= 240 else 60
        marks = {m: f"{m // 60}:{m % 60:02d}" for m in [*range(0, minutes, step), minutes]}
        if current is not None:  # where the replay is now, on the slider's scale (the knob is the seek target)
            at = min(minutes, round(float(current.get("position_s") or 0.0) / 60))
            marks = {m: label for m, label in marks.items() if abs(m - at) > minutes * 0.06}
            marks[at] = {"label": "▲ " + clock(current.get("position_s")), "style": _NOW_MARK}
        speed = _speed_choice(current)
        return (session_rows(listed, name, lang), session_status(current, lang),
                room_url(name) if name else "#", minutes, marks, chosen,
                speed if speed != shown_speed else no_update, *_disabled(current))

    @app.callback(Output(ids.TR_SELECTED, "data", allow_duplicate=True),
                  Input({"type": ids.TR_SELECT, "session": ALL}, "n_clicks"), prevent_initial_call=True)
    def select(clicks):
        """Control the session whose button was clicked."""
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict) or not callback_context.triggered[0].get("value"):
            raise PreventUpdate
        return trigger["session"]

    @app.callback(Output(ids.TR_SEEK, "value"), Output(ids.TR_DEBRIEF_VIEW, "children", allow_duplicate=True),
                  Input(ids.TR_SELECTED, "data"), prevent_initial_call=True)
    def selected_changed(_name):
        """A newly controlled session: the seek slider and the debrief cleared."""
        return None, []

    @app.callback(Output(ids.TR_CTRL_FEEDBACK, "children"), Output(ids.TR_CTRL_FEEDBACK, "className"),
                  *[Input(b, "n_clicks") for b in _ACTIONS], Input(ids.TR_CTRL_SPEED, "value"),
                  Input(ids.TR_SEEK, "value"), State(ids.TR_SELECTED, "data"), State(ids.LANG, "data"),
                  prevent_initial_call=True)
    def control(*args):
        """Apply the clicked control to the controlled session and say how it went."""
        *_clicks, speed, seek, name, lang = args
        trigger = callback_context.triggered_id
        if trigger in _ACTIONS and not callback_context.triggered[0].get("value"):
            raise PreventUpdate  # a button (re)rendered, not clicked
        if not name:
            if trigger not in _ACTIONS:
                raise PreventUpdate
            return t("tr.selected_none", lang), "feedback feedback-warn"
        if trigger == ids.TR_CTRL_SPEED:
            session = desk.session(name)
            if speed is None or session is None or session.get("speed") == parse_speed(speed):
                raise PreventUpdate
            return _result(desk.control(name, "speed", speed), f"{t('tr.speed', lang)} {speed}", lang)
        if trigger == ids.TR_SEEK:
            if seek is None:
                raise PreventUpdate
            return _result(desk.control(name, "seek", float(seek) * 60), f"{t('tr.seek', lang)} {seek} min", lang)
        if trigger not in _ACTIONS:
            raise PreventUpdate
        action, value = _ACTIONS[trigger]
        label = {ids.TR_PAUSE: "tr.pause", ids.TR_RESUME: "tr.resume", ids.TR_BACK: "tr.back", ids.TR_FWD: "tr.fwd",
                 ids.TR_STOP: "tr.stop"}[trigger]
        return _result(desk.control(name, action, value), t(label, lang), lang)

    @app.callback(Output(ids.TR_DEBRIEF_VIEW, "children", allow_duplicate=True), Input(ids.TR_DEBRIEF, "n_clicks"),
                  State(ids.TR_SELECTED, "data"), State(ids.LANG, "data"), prevent_initial_call=True)
    def debrief(n, name, lang):
        """The controlled session's debrief: score, trainees, alerts against targets, export links."""
        if not n or not name:
            raise PreventUpdate
        try:
            return debrief_view(desk.debrief(name).to_dict(), lang)
        except Exception as exc:  # a session still preparing has no store yet: say so on the page
            return html.P(t("tr.debrief_failed", lang, error=str(exc)), className="feedback feedback-warn")

    @app.callback(Output(ids.TR_REC_STATUS, "children"), Output(ids.TR_REC_START, "disabled"),
                  Output(ids.TR_REC_STOP, "disabled"),
                  Input(ids.TR_REC_START, "n_clicks"), Input(ids.TR_REC_STOP, "n_clicks"),
                  Input(ids.INTERVAL_TRAINER, "n_intervals"), State(ids.LOCATION, "pathname"),
                  State(ids.LANG, "data"))
    def recorder(_start, _stop, _n, pathname, lang):
        """Start or stop recording the live room, and show its progress."""
        trigger = callback_context.triggered_id
        error = None
        try:
            if trigger == ids.TR_REC_START:
                desk.start_recording()
            elif trigger == ids.TR_REC_STOP:
                desk.stop_recording()
            elif pathname != ids.PATH_TRAINER:
                raise PreventUpdate
        except PreventUpdate:
            raise
        except Exception as exc:  # no broker, no topic: shown next to the buttons
            error = str(exc)
        rec = desk.recording()
        if error:
            rec = {**(rec or {"state": "error"}), "error": error}
        recording = bool(rec and rec.get("state") == "recording" and not error)
        return recording_line(rec, lang), recording, not recording
