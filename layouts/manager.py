"""The manager page ("Contrat"): contract KPIs of a period against their targets, trends, breakdowns, export.

It replaces the operator pane and the map while shown (the shell toggles a class); everything
is computed by the KPI engine through `DataSource.kpi_page`, and drawn by the pure builders
of `layouts.components.kpi_figures` and `kpi_cards`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dash import ALL, Input, Output, State, callback_context, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids
from dashboard.i18n import month_label, t
from layouts.components.kpi_cards import kpi_cards
from layouts.components.kpi_figures import (
    commune_figure, commune_values, communes_geojson, empty_figure, family_figure, family_rows, kpi_label, margin_of,
    penalties_figure, trend_figure, trend_series,
)

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = ["DEFAULT_KPI", "PERIODS", "export_status", "layout", "register_callbacks"]

PERIODS = ("month", "quarter", "year", "contract")
DEFAULT_KPI = "energy_saving"
# plotly's geo maps fetch a world outline from its CDN unless pointed elsewhere: an empty one is served locally
_GRAPH = {"displayModeBar": False, "topojsonURL": "/assets/topojson/"}


def _panel(title, graph_id: str, *extra) -> html.Div:
    return html.Div(className="mgr-panel", children=[html.H3(title, className="panel-title"),
                                                     dcc.Graph(id=graph_id, config=_GRAPH, className="mgr-graph"),
                                                     *extra])


def layout(room: "Room", lang: str) -> html.Div:
    """The page skeleton; its numbers arrive by callback once the page is shown."""
    note = [html.Div(t("mgr.approx", lang), className="mgr-note")] if room.geo.approximate() else []
    return html.Div(id=ids.MANAGER, className="manager", children=[
        dcc.Store(id=ids.MGR_SELECTED, data=DEFAULT_KPI),
        html.Div(className="mgr-toolbar", children=[
            html.H2(t("mgr.title", lang), className="pane-title mgr-title"),
            dcc.RadioItems(id=ids.MGR_PERIOD, className="period-switch", inline=True, value="month",
                           options=[{"label": t(f"period.{k}", lang), "value": k} for k in PERIODS]),
            html.Label(t("mgr.month_pick", lang), className="month-label", htmlFor=ids.MGR_MONTH),
            dcc.Dropdown(id=ids.MGR_MONTH, className="month-pick", clearable=False, searchable=False, options=[]),
            html.Div(id=ids.MGR_ASOF, className="mgr-asof"),
            html.Div(className="mgr-export", children=[
                html.Button(t("mgr.export", lang), id=ids.MGR_EXPORT, className="btn btn-ack", n_clicks=0),
                html.Div(id=ids.MGR_EXPORT_STATUS, className="export-status", role="status"),
            ]),
        ]),
        dcc.Loading(html.Div(id=ids.MGR_CARDS, className="kpi-cards"), type="dot", color="#4ea1ff",
                    delay_show=400, overlay_style={"visibility": "visible", "opacity": 0.5}),
        html.Div(className="mgr-grid", children=[
            _panel(html.Span(id=ids.MGR_DRILL), ids.MGR_TREND),
            _panel(t("mgr.by_commune", lang), ids.MGR_MAP, *note),
            _panel(t("mgr.by_family", lang), ids.MGR_FAMILY),
            _panel(t("mgr.penalties_month", lang), ids.MGR_PENALTIES),
        ]),
    ])


def export_status(status: dict, job: str, lang: str):
    """The export area for a job's status: a progress bar while it builds, then the download links."""
    month = month_label(status["month"], lang) if status.get("month") else ""
    state = status.get("state")
    if state == "running":
        pct = int(round(100 * status.get("progress", 0.0)))
        return [html.Div(t("mgr.export_running", lang, month=month, step=t(f"step.{status.get('step')}", lang)),
                         className="export-text"),
                html.Div(className="progress", role="progressbar", **{"aria-valuenow": pct},
                         children=html.Div(className="progress-bar", style={"width": f"{max(pct, 4)}%"}))]
    if state == "failed":
        return html.Div(t("mgr.export_failed", lang, month=month, error=status.get("error", "")),
                        className="export-text feedback-warn")
    if state == "done":
        from dashboard.exports import EXPORT_PREFIX

        links = [html.A(t(f"mgr.file_{kind}", lang), href=f"{EXPORT_PREFIX}/{job}/{name}", download=name,
                        className=f"dl-link dl-{kind}") for kind, name in (status.get("files") or {}).items()]
        return [html.Span(t("mgr.export_done", lang, month=month), className="export-text"), *links]
    return ""


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Month list, the page's numbers and figures, the KPI selection and the export job."""
    geojson: dict = {}

    def assets():
        """The inventory's assets (the KPI engine's frames need them)."""
        return room.geo.inventory.assets

    @app.callback(Output(ids.MGR_MONTH, "options"), Output(ids.MGR_MONTH, "value"),
                  Input(ids.LOCATION, "pathname"), State(ids.MGR_MONTH, "value"), State(ids.LANG, "data"))
    def months(pathname, current, lang):
        """The months that have data, newest first, once the page is shown."""
        if pathname != ids.PATH_MANAGER:
            raise PreventUpdate
        labels = room.data.kpi_months(assets())
        return [{"label": month_label(m, lang), "value": m} for m in labels], current or (labels[0] if labels else None)

    @app.callback(
        Output(ids.MGR_CARDS, "children"), Output(ids.MGR_ASOF, "children"), Output(ids.MGR_DRILL, "children"),
        Output(ids.MGR_TREND, "figure"), Output(ids.MGR_MAP, "figure"), Output(ids.MGR_FAMILY, "figure"),
        Output(ids.MGR_PENALTIES, "figure"),
        Input(ids.LOCATION, "pathname"), Input(ids.MGR_PERIOD, "value"), Input(ids.MGR_MONTH, "value"),
        Input(ids.MGR_SELECTED, "data"), Input(ids.INTERVAL_KPI, "n_intervals"), State(ids.LANG, "data"),
    )
    def show(pathname, kind, month, selected, _n, lang):
        """Every KPI of the period as cards; the selected one's trend, communes and families; penalties by month."""
        if pathname != ids.PATH_MANAGER:
            raise PreventUpdate
        page = room.data.kpi_page(kind or "month", month, assets())
        if page is None:
            blank = empty_figure(t("mgr.unavailable", lang))
            return html.P(t("mgr.unavailable", lang), className="hint"), "", "", blank, blank, blank, blank
        key = selected if page.result(selected or "") is not None else DEFAULT_KPI
        result = page.result(key)
        label = kpi_label(result, lang)
        at = page.as_of.tz_convert(page.contract.timezone)
        asof = t("mgr.as_of", lang, period=_period_label(page.period, lang), at=f"{at:%Y-%m-%d %H:%M %Z}")
        series = trend_series(page, key)
        trend = trend_figure(series, lang) if series else empty_figure(t("mgr.no_history", lang), 340)
        if not geojson:
            geojson.update(communes_geojson(room.geo.inventory.communes))
        values = commune_values(page, key)
        commune = (commune_figure(geojson, values, room.geo.communes(), target=result.target, unit=result.unit,
                                  label=label, lang=lang, margin=margin_of(page.contract, key))
                   if values else empty_figure(t("mgr.no_commune", lang), 340))
        rows = family_rows(page, key, lang)
        family = (family_figure(rows, "EUR" if key == "penalties" else result.unit, lang) if rows
                  else empty_figure(t("mgr.no_family", lang), 250))
        labels = {r.key: kpi_label(r, lang) for r in page.results}
        penalties = (penalties_figure(page.history, labels, page.contract.monthly_cap_eur, lang)
                     if len(page.history) else empty_figure(t("mgr.no_history", lang), 250))
        drill = f"{t('mgr.trend', lang)} · {label}"
        return kpi_cards(page, key, lang), asof, drill, trend, commune, family, penalties

    @app.callback(Output(ids.MGR_SELECTED, "data"), Input({"type": ids.MGR_CARD, "key": ALL}, "n_clicks"),
                  prevent_initial_call=True)
    def select(clicks):
        """Select the clicked card's KPI."""
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict) or not any(clicks or []) or not callback_context.triggered[0].get("value"):
            raise PreventUpdate
        return trigger["key"]

    @app.callback(Output(ids.EXPORT_JOB, "data"), Input(ids.MGR_EXPORT, "n_clicks"), State(ids.MGR_MONTH, "value"),
                  prevent_initial_call=True)
    def export(n, month):
        """Start building the selected month's report in the background."""
        if not n or room.exports is None:
            raise PreventUpdate
        return room.exports.start(month or room.data.kpi_months(assets())[0])

    @app.callback(Output(ids.MGR_EXPORT_STATUS, "children"), Output(ids.INTERVAL_EXPORT, "disabled"),
                  Output(ids.MGR_EXPORT, "disabled"),
                  Input(ids.EXPORT_JOB, "data"), Input(ids.INTERVAL_EXPORT, "n_intervals"), State(ids.LANG, "data"),
                  prevent_initial_call=True)
    def export_progress(job, _n, lang):
        """Poll the job while it runs: progress, then the files to download."""
        status = room.exports.status(job) if room.exports is not None else {"state": "unknown"}
        running = status.get("state") == "running"
        return export_status(status, job, lang), not running, running


def _period_label(p, lang: str) -> str:
    """A period's name for humans: 'nov. 2026', '2026-Q4', '2026', 'févr. 2018 → nov. 2026'."""
    if p.kind == "month":
        return month_label(p.label, lang)
    if p.kind == "contract":
        first, last = p.label.split(" → ")
        return f"{month_label(first, lang)} → {month_label(last, lang)}"
    return p.label
