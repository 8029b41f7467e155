"""The asset panel: identity, commune, state, last seen, history, active alerts, linked reports, nearby cameras."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dash import dcc, html

from dashboard import ids
from dashboard.i18n import alert_title, t
from layouts.components.figures import history_figure
from layouts.components.header import format_age

if TYPE_CHECKING:
    from dashboard.app import Room

__all__ = ["asset_panel"]

_DAY_MS = 24 * 3600 * 1000


def _row(label: str, value) -> html.Div:
    return html.Div(className="kv", children=[html.Span(label, className="k"), html.Span(value, className="v")])


def _alert_item(a: dict, lang: str) -> html.Li:
    return html.Li(className=f"mini-alert sev-{a.get('severity')}", children=[
        html.Span(t(f"severity.{a.get('severity')}", lang), className=f"badge sev-{a.get('severity')}"),
        html.Span(alert_title(a.get("rule"), a.get("value"), a.get("title") or str(a["id"]), lang),
                  className="mini-title"),
        html.Span(t(f"status.{a.get('state')}", lang), className="mini-state"),
    ])


def _report_item(r: dict, now: int, lang: str) -> html.Li:
    return html.Li(className="mini-alert", children=[
        html.Span(t(f"category.{r.get('category')}", lang), className="badge badge-report"),
        html.Span(r.get("description") or r.get("address") or r["report_id"], className="mini-title"),
        html.Span(format_age((now - r["requested_ts"]) / 1000, lang), className="mini-state"),
    ])


def _identity(record: dict, state: dict | None, communes: dict, now: int, lang: str) -> list:
    code = state["code"] if state else 3
    raw = (state or {}).get("state") or t("state.3", lang)
    faults = ", ".join((state or {}).get("faults") or [])
    rows = [
        _row(t("asset.kind", lang), t(f"kind.{record['kind']}", lang)),
        _row("ID", record["asset_id"]),
        _row(t("asset.commune", lang), communes.get(record.get("commune_code"), record.get("commune_code"))),
        _row(t("asset.state", lang), f"{raw} · {faults}" if faults else raw),
        _row(t("asset.last_seen", lang), format_age((now - state["last_seen"]) / 1000, lang)
             if state and state.get("last_seen") else t("asset.never", lang)),
    ]
    if state and state.get("last_changed"):
        rows.append(_row(t("asset.last_changed", lang), format_age((now - state["last_changed"]) / 1000, lang)))
    if record.get("cabinet_id"):
        rows.append(_row(t("asset.cabinet", lang), record["cabinet_id"]))
    if record.get("lamp_type"):
        rows.append(_row(t("asset.lamp", lang), f"{record['lamp_type']} · {record.get('wattage_w', 0):g} W"))
    return [
        html.Div(className="asset-head", children=[
            html.Div(record.get("name") or record["asset_id"], className="asset-name"),
            html.Span(t(f"state.{code}", lang), className=f"state-badge state-{code}"),
        ]),
        html.Div(className="kv-grid", children=rows),
    ]


def _report_head(report: dict, now: int, lang: str) -> list:
    return [
        html.Div(className="asset-head", children=[
            html.Div(t(f"category.{report['category']}", lang), className="asset-name"),
            html.Span(t(f"report.{report['status']}", lang), className="state-badge state-1"),
        ]),
        html.Div(className="kv-grid", children=[
            _row("ID", report["report_id"]),
            _row(t("report.source", lang), report.get("source") or ""),
            _row(t("report.address", lang), report.get("address") or "—"),
            _row(t("report.when", lang), format_age((now - report["requested_ts"]) / 1000, lang)),
            _row(t("report.description", lang), report.get("description") or "—"),
            *([_row(t("report.asset", lang), report["asset_ref"])] if report.get("asset_ref") else []),
        ]),
    ]


def _contact(room: "Room", report_id: str, lang: str) -> list:
    """The reporter's contact, for the roles that call back; each showing is audited."""
    from streams.privacy import contact_of

    store = room.data.store()
    contact = contact_of(store.engine, report_id) if store is not None else None
    if contact is None:
        return [html.Div(className="contact-box", children=[html.H4(t("contact.title", lang)),
                                                            html.P(t("contact.none", lang), className="hint")])]
    if room.guard is not None:
        room.guard.accounts.record(room.actor(), "privacy.view", f"report:{report_id}", {"namespace": room.namespace})
    rows = [_row(t(f"contact.{k}", lang), contact[k]) for k in ("name", "email", "phone") if contact.get(k)]
    return [html.Div(className="contact-box", children=[html.H4(t("contact.title", lang)),
                                                        html.Div(className="kv-grid", children=rows)])]


def _cameras(room: "Room", lat: float, lon: float, lang: str) -> list:
    cams = room.geo.cameras_near(float(lat), float(lon), 300.0)[:8]
    out: list = [html.H4(t("asset.cameras", lang))]
    if not cams:
        return out + [html.P(t("asset.no_cameras", lang), className="hint")]
    items = []
    for c in cams:
        code = (room.data.asset_state(c.asset_id) or {}).get("code", 3)
        items.append(html.Li(children=[
            html.Span(t("unit.m", lang, n=int(round(c.distance_m))), className="cam-dist"),
            html.Span(c.name, className="cam-name"),
            html.Span(t(f"state.{code}", lang), className=f"state-badge state-{code}"),
        ]))
    return out + [html.Ol(className="cameras", children=items)]


def _history(room: "Room", asset_id: str, now: int, lang: str) -> list:
    history = room.data.asset_history(asset_id, now - _DAY_MS)
    out: list = [html.H4(t("asset.history", lang))]
    if not history:
        return out + [html.P(t("asset.no_history", lang), className="hint")]
    return out + [dcc.Graph(figure=history_figure(history, now - _DAY_MS, now, lang), className="history",
                            config={"displayModeBar": False})]


def asset_panel(room: "Room", selection: dict | None, lang: str) -> list:
    """Children of the asset panel for a selection {asset_id, alert_id, report_id, lat, lon} (None: a hint).

    Order for the night shift: what it is, what is wrong with it, the cameras to look through,
    then its last 24 hours and the citizen reports about it.
    """
    if not selection:
        return [html.P(t("asset.empty", lang), className="hint")]
    now = int(time.time() * 1000)
    asset_id = selection.get("asset_id")
    alert = room.data.alert(selection["alert_id"]) if selection.get("alert_id") else None
    report = room.data.report(selection["report_id"]) if selection.get("report_id") else None
    record = room.geo.asset(asset_id) if asset_id else None
    if record is None and alert is None and report is None:
        return [html.P(t("asset.unknown", lang, id=asset_id or "?"), className="hint")]
    state = room.data.asset_state(asset_id) if record is not None else None
    lat = (record or {}).get("lat", selection.get("lat"))
    lon = (record or {}).get("lon", selection.get("lon"))
    alerts = room.data.alerts_of_asset(asset_id) if record is not None else []

    out: list = []
    if record is not None:
        out += _identity(record, state, room.geo.communes(), now, lang)
        if record.get("kind") in ("light", "cabinet", "signal") and room.may("command.send"):  # layouts/components/commands.py
            out.append(html.Button(t("cmd.from_asset", lang), id={"type": ids.CMD_FROM_ASSET, "asset": asset_id},
                                   className="btn btn-command", n_clicks=0))
    if report is not None:
        out += _report_head(report, now, lang)
        if room.may("contacts.view"):
            out += _contact(room, report["report_id"], lang)
    if alert is not None and alert["id"] not in {a["id"] for a in alerts}:
        out += [html.H4(t("asset.incident", lang)),
                html.Ul(className="mini-alerts", children=[_alert_item(alert, lang)])]
    if record is not None:
        out.append(html.H4(t("asset.alerts", lang)))
        out.append(html.Ul(className="mini-alerts", children=[_alert_item(a, lang) for a in alerts[:8]])
                   if alerts else html.P(t("asset.no_alerts", lang), className="hint"))
    if (alert is not None or report is not None or alerts) and lat is not None and lon is not None:
        out += _cameras(room, lat, lon, lang)
    if record is not None:
        out += _history(room, asset_id, now, lang)
        reports = room.data.linked_reports(asset_id)
        out.append(html.H4(t("asset.reports", lang)))
        out.append(html.Ul(className="mini-alerts", children=[_report_item(r, now, lang) for r in reports[:8]])
                   if reports else html.P(t("asset.no_reports", lang), className="hint"))
    return out
