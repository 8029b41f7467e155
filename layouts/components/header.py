"""The header strip: contract KPIs against targets, active alerts by severity, the clock, the stale banner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dash import ClientsideFunction, Input, Output, State, dcc, html

from dashboard import ids
from dashboard.data import SEVERITIES, Kpi
from dashboard.i18n import LANGS, t

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = ["banner", "format_age", "header", "kpi_tiles", "register_callbacks", "severity_chips"]


def format_age(seconds: float | None, lang: str) -> str:
    """A duration for humans: '42 s', '7 min', '3 h'."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return t("unit.s", lang, n=int(seconds))
    if seconds < 7200:
        return t("unit.min", lang, n=int(seconds // 60))
    return t("unit.h", lang, n=int(seconds // 3600))


def header(lang: str, namespace: str = "live") -> html.Header:
    """The header strip; its live parts are filled by callbacks. A training session says so, loudly."""
    training = namespace != "live"
    brand = [html.Span(t("app.brand", lang), className="brand-name"),
             html.Span(t("app.subtitle", lang), className="brand-sub")]
    if training:
        brand.append(html.Span(t("header.training", lang, session=namespace), className="training-badge"))
    return html.Header(className="header header-training" if training else "header", children=[
        html.Div(className="brand", children=brand),
        html.Div(id=ids.HEADER_KPIS, className="kpis", children=kpi_tiles([], lang)),
        html.Div(id=ids.HEADER_SEVERITY, className="sev-counts", children=severity_chips({}, lang)),
        html.Div(className="header-tools", children=[
            html.Div(className="clock-box", children=[html.Div(id=ids.CLOCK, className="clock"),
                                                      html.Div(id=ids.CLOCK_DATE, className="clock-date")]),
            html.Button(id=ids.MUTE_BUTTON, className="btn btn-mute", n_clicks=0, children=t("header.unmute", lang)),
            dcc.RadioItems(id=ids.LANG_SWITCH, className="lang-switch", inline=True, value=lang,
                           options=[{"label": t(f"lang.{code}", lang), "value": code} for code in LANGS]),
        ]),
    ])


def banner(lang: str) -> list:
    """The stale-data and lost-connection banners (hidden until needed)."""
    return [
        html.Div(id=ids.BANNER, className="banner banner-hidden", role="alert"),
        html.Div(id=ids.CONNECTION, className="banner banner-hidden", role="alert",
                 children=t("connection.lost", lang)),
    ]


def kpi_tiles(kpis: list[Kpi], lang: str) -> list:
    """One tile per headline KPI: value against target, '—' when the store has no figure yet."""
    tiles = [html.Span(t("header.kpis", lang), className="kpis-title")]
    for k in kpis:
        if k.value is None:
            value, cls = t("kpi.none", lang), "kpi kpi-none"
        else:
            ok = k.value >= k.target if k.higher_is_better else k.value <= k.target
            value, cls = f"{k.value:.1f} {k.unit}", "kpi kpi-ok" if ok else "kpi kpi-bad"
        tiles.append(html.Div(className=cls, children=[
            html.Div(t(f"kpi.{k.key}", lang), className="kpi-label"),
            html.Div([html.Span(value, className="kpi-value"),
                      html.Span(f" / {t('header.target', lang)} {k.target:g} {k.unit}", className="kpi-target")]),
        ]))
    return tiles


def severity_chips(counts: dict[str, int], lang: str) -> list:
    """Active alerts per severity as coloured chips."""
    chips = [html.Span(t("header.alerts", lang), className="sev-title")]
    for sev in SEVERITIES:
        n = counts.get(sev, 0)
        chips.append(html.Div(className=f"sev-chip sev-{sev}" + ("" if n else " sev-zero"), children=[
            html.Span(str(n), className="sev-n"), html.Span(t(f"severity.{sev}", lang), className="sev-label")]))
    return chips


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Clock, language switch, mute, KPIs and the stale banner."""
    app.clientside_callback(ClientsideFunction("vigie", "clock"),
                            Output(ids.CLOCK, "children"), Output(ids.CLOCK_DATE, "children"),
                            Input(ids.INTERVAL_FAST, "n_intervals"), State(ids.LANG, "data"))
    app.clientside_callback(ClientsideFunction("vigie", "watchdog"), Output(ids.CONNECTION, "className"),
                            Input(ids.INTERVAL_FAST, "n_intervals"), State(ids.STATUS, "data"))
    app.clientside_callback(ClientsideFunction("vigie", "setLang"), Output(ids.LANG_SWITCH, "className"),
                            Input(ids.LANG_SWITCH, "value"), State(ids.LANG, "data"), prevent_initial_call=True)
    app.clientside_callback(ClientsideFunction("vigie", "toggleMute"), Output(ids.MUTE, "data"),
                            Input(ids.MUTE_BUTTON, "n_clicks"), State(ids.MUTE, "data"), prevent_initial_call=True)

    @app.callback(Output(ids.MUTE_BUTTON, "children"), Output(ids.MUTE_BUTTON, "className"),
                  Input(ids.MUTE, "data"), State(ids.LANG, "data"))
    def mute_label(muted, lang):
        """Show whether the alarm sound is on."""
        if muted:
            return t("header.mute", lang), "btn btn-mute btn-muted"
        return t("header.unmute", lang), "btn btn-mute"

    @app.callback(Output(ids.HEADER_KPIS, "children"), Input(ids.INTERVAL_SLOW, "n_intervals"),
                  State(ids.LANG, "data"))
    def kpis(_n, lang):
        """Headline KPIs from the store."""
        return kpi_tiles(room.data.kpi_headline(room.geo.inventory.assets), lang)

    @app.callback(Output(ids.BANNER, "children"), Output(ids.BANNER, "className"),
                  Input(ids.STATUS, "data"), State(ids.LANG, "data"))
    def stale_banner(status, lang):
        """Say loudly when no data has come for too long: an outage must not look like a calm night."""
        if not status or not status.get("stale"):
            return "", "banner banner-hidden"
        if not status.get("store"):
            body = t("stale.store", lang)
        elif status.get("age") is None:
            body = t("stale.never", lang)
        else:
            body = t("stale.body", lang, age=format_age(status["age"], lang))
        return [html.Strong(t("stale.title", lang)), html.Span(" · " + body)], "banner banner-stale"
