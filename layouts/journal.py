"""The audit journal page (`/journal`): who did what and when, filtered, exported as CSV.

For the roles holding `audit.view` (supervisor, admin). The rows come from `streams.audit`; the
CSV export is a route of its own (`EXPORT_PATH`), guarded by the same right and itself audited.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import dash_ag_grid as dag
import flask
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.i18n import t
from layouts.operator import GRID_THEME
from streams.audit import CATEGORIES, AuditFilter, audit_csv, local_time, query_audit

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = ["EXPORT_PATH", "PERIODS", "layout", "register_callbacks", "register_export", "rows_of"]

EXPORT_PATH = "/audit/export.csv"
PERIODS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
SHOWN = 1000  # rows in the grid; the export has up to streams.audit.MAX_ROWS


def _detail(detail) -> str:
    if not detail:
        return ""
    if isinstance(detail, dict):
        return ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, "", []))[:300]
    return str(detail)[:300]


def rows_of(rows: list[dict]) -> list[dict]:
    """Grid rows of audit rows."""
    return [{"id": r["id"], "time": local_time(r["ts"]), "actor": r["actor"], "action": r["action"],
             "target": r["target"], "detail": _detail(r.get("detail"))} for r in rows]


def _filter(actor, category, period, text, people) -> AuditFilter:
    seconds = PERIODS.get(period or "24h")
    since = int((time.time() - seconds) * 1000) if seconds else None
    return AuditFilter(actor=(actor or "").strip() or None, category=category or None, since_ms=since,
                       text=(text or "").strip() or None, people_only=bool(people))


def layout(room: "Room", lang: str) -> html.Div:
    """Filters, the count, the export link and the grid."""
    columns = [{"field": f, "headerName": t(f"audit.col.{f}", lang), "flex": flex, "tooltipField": f}
               for f, flex in (("time", 1.2), ("actor", 1), ("action", 1), ("target", 1.4), ("detail", 3))]
    return html.Div(className="journal", children=[
        html.H2(t("audit.title", lang), className="pane-title"),
        html.P(t("audit.lead", lang), className="hint"),
        html.Div(className="journal-filters", children=[
            dcc.Input(id=ids.AUDIT_ACTOR, type="text", placeholder=t("audit.actor", lang), debounce=True,
                      className="audit-actor"),
            dcc.Dropdown(id=ids.AUDIT_CATEGORY, placeholder=t("audit.category", lang), clearable=True,
                         className="audit-category",
                         options=[{"label": t(f"audit.cat.{c}", lang), "value": c} for c in CATEGORIES]),
            dcc.Dropdown(id=ids.AUDIT_PERIOD, value="24h", clearable=False, className="audit-period",
                         options=[{"label": t(f"audit.period.{p}", lang), "value": p} for p in PERIODS]),
            dcc.Input(id=ids.AUDIT_TEXT, type="text", placeholder=t("audit.text", lang), debounce=True,
                      className="audit-text"),
            dcc.Checklist(id=ids.AUDIT_PEOPLE, value=["people"], className="audit-people", inline=True,
                          options=[{"label": t("audit.people", lang), "value": "people"}]),
            html.Button(t("audit.refresh", lang), id=ids.AUDIT_REFRESH, className="btn", n_clicks=0),
            html.A(t("audit.export", lang), id=ids.AUDIT_EXPORT, className="btn btn-export", href=EXPORT_PATH,
                   download="vigie-audit.csv"),
        ]),
        html.Div(id=ids.AUDIT_COUNT, className="audit-count", role="status"),
        html.Div(className="grid-box journal-grid", children=dag.AgGrid(
            id=ids.AUDIT_GRID, columnDefs=columns, rowData=[], getRowId="params.data.id",
            className="alert-grid", style={"height": "100%", "width": "100%"},
            defaultColDef={"sortable": True, "resizable": True, "suppressMovable": True},
            dashGridOptions={"theme": {"function": GRID_THEME}, "rowHeight": 34, "headerHeight": 36, "animateRows": False, "suppressCellFocus": True,
                             "localeText": {"noRowsToShow": t("audit.none", lang)}, "tooltipShowDelay": 300})),
    ])


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Fill the grid, the count and the export link from the filters."""

    @app.callback(Output(ids.AUDIT_GRID, "rowData"), Output(ids.AUDIT_COUNT, "children"),
                  Output(ids.AUDIT_EXPORT, "href"),
                  Input(ids.AUDIT_ACTOR, "value"), Input(ids.AUDIT_CATEGORY, "value"), Input(ids.AUDIT_PERIOD, "value"),
                  Input(ids.AUDIT_TEXT, "value"), Input(ids.AUDIT_PEOPLE, "value"), Input(ids.AUDIT_REFRESH, "n_clicks"),
                  State(ids.LANG, "data"))
    def show(actor, category, period, text, people, _n, lang):
        room.require("audit.view", "audit")
        wanted = _filter(actor, category, period, text, people)
        rows = query_audit(room.guard.accounts.engine, wanted)
        count = t("audit.count", lang, n=len(rows)) + (" " + t("audit.more", lang, n=SHOWN) if len(rows) > SHOWN else "")
        args = wanted.as_args()
        return rows_of(rows[:SHOWN]), count, EXPORT_PATH + ("?" + urlencode(args) if args else "")


def register_export(server: flask.Flask, room: "Room") -> None:
    """The CSV export route (the guard checks `audit.view` on `/audit/` and audits the download)."""

    def export():
        room.require("audit.view", EXPORT_PATH)
        rows = query_audit(room.guard.accounts.engine, AuditFilter.from_args(flask.request.args))
        return flask.Response(audit_csv(rows), mimetype="text/csv",
                              headers={"Content-Disposition": 'attachment; filename="vigie-audit.csv"'})

    server.add_url_rule(EXPORT_PATH, "vigie_audit_export", export)
