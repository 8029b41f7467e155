"""Pure builders of the trainer page: library cards, session rows, the session status, the debrief tables."""

from __future__ import annotations

from dash import html

from dashboard import ids
from dashboard.i18n import alert_title, t
from dashboard.training import DEBRIEF_PREFIX

__all__ = ["MAX_DEBRIEF_ROWS", "catalog_cards", "catalog_options", "clock", "debrief_view", "progress_bar",
           "recording_line", "session_rows", "session_status", "speed_label", "status_label"]

MAX_DEBRIEF_ROWS = 60  # the table is for reading; the export has every alert


def clock(seconds: float | None) -> str:
    """Seconds as h:mm:ss ('—' when unknown)."""
    if seconds is None:
        return "—"
    total = max(0, int(round(seconds)))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def speed_label(speed: float | None, lang: str) -> str:
    """A replay speed for humans: '10×', 'max'."""
    return t("tr.speed_max", lang) if speed is None else f"{speed:g}×"


def status_label(status: str | None, lang: str) -> html.Span:
    """A session status as a coloured badge."""
    status = status or "idle"
    return html.Span(t(f"tr.status.{status}", lang), className=f"tr-badge tr-{status}", **{"data-status": status})


def progress_bar(fraction: float, label: str = "") -> html.Div:
    """A wide progress bar (0-1) with its text inside."""
    pct = max(0.0, min(1.0, fraction or 0.0)) * 100
    return html.Div(className="tr-progress", role="progressbar", **{"aria-valuenow": f"{pct:.0f}"}, children=[
        html.Div(className="tr-progress-bar", style={"width": f"{pct:.1f}%"}),
        html.Span(label, className="tr-progress-text"),
    ])


def _source(entry: dict) -> str:
    return f"{entry['kind']}:{entry['name']}"


def catalog_options(catalog: list[dict], lang: str) -> list[dict]:
    """Options of the start form's source dropdown."""
    return [{"label": f"{t('tr.kind.' + e['kind'], lang)} · {e.get('title') or e['name']}", "value": _source(e)}
            for e in catalog]


def catalog_cards(catalog: list[dict], selected: str | None, lang: str) -> list:
    """One card per scenario or recording: title, its brief in the page's language, whether it is rendered."""
    if not catalog:
        return [html.P(t("tr.library_empty", lang), className="hint")]
    cards = []
    for e in catalog:
        brief = e.get(f"brief_{lang}") or e.get("brief_fr") or e.get("brief_en") or t("tr.no_brief", lang)
        ready = t("tr.rendered", lang) if e.get("folder") else t("tr.not_rendered", lang)
        source = _source(e)
        cards.append(html.Div(className="tr-card" + (" selected" if source == selected else ""),
                              **{"data-source": source}, children=[
            html.Div(className="tr-card-head", children=[
                html.Span(t(f"tr.kind.{e['kind']}", lang), className=f"tr-kind tr-kind-{e['kind']}"),
                html.Span(e.get("title") or e["name"], className="tr-card-title"),
                html.Span(ready, className="tr-ready" + (" on" if e.get("folder") else "")),
            ]),
            html.P(brief, className="tr-brief"),
            html.Button(t("tr.pick", lang), id={"type": ids.TR_PICK, "source": source}, n_clicks=0,
                        className="btn btn-small tr-pick"),
        ]))
    return cards


def session_rows(sessions: list[dict], selected: str | None, lang: str) -> list:
    """The session list: name, source, status, progress and a button to control it."""
    if not sessions:
        return [html.P(t("tr.no_sessions", lang), className="hint")]
    rows = []
    for s in sessions:
        label = t("tr.position", lang, position=clock(s.get("position_s")), duration=clock(s.get("duration_s")))
        rows.append(html.Div(className="tr-session" + (" selected" if s["name"] == selected else ""),
                             **{"data-session": s["name"], "data-status": s.get("status", "")}, children=[
            html.Div(className="tr-session-head", children=[
                html.Span(s["name"], className="tr-session-name"), status_label(s.get("status"), lang),
                html.Span(s.get("title") or "", className="tr-session-title"),
                html.Button(t("tr.control", lang), id={"type": ids.TR_SELECT, "session": s["name"]}, n_clicks=0,
                            className="btn btn-small"),
            ]),
            progress_bar(s.get("fraction", 0.0), label),
            html.Div(s["error"], className="feedback feedback-warn") if s.get("error") else None,
        ]))
    return rows


def session_status(session: dict | None, lang: str) -> list:
    """The controlled session's name, status, position over duration and speed."""
    if session is None:
        return [html.P(t("tr.selected_none", lang), className="hint")]
    facts = [t("tr.speed_now", lang, speed=speed_label(session.get("speed"), lang))]
    if session.get("loop"):
        facts.append(t("tr.loop_on", lang))
    position = t("tr.position", lang, position=clock(session.get("position_s")),
                 duration=clock(session.get("duration_s")))
    return [
        html.Div(className="tr-status-head", children=[
            html.Span(session["name"], className="tr-status-name"), status_label(session.get("status"), lang),
            html.Span(" · ".join(facts), className="tr-status-facts"),
        ]),
        html.Div(position, className="tr-position", **{"data-position": f"{session.get('position_s', 0.0):.1f}"}),
        progress_bar(session.get("fraction", 0.0)),
        html.Div(session["error"], className="feedback feedback-warn") if session.get("error") else None,
    ]


def recording_line(rec: dict | None, lang: str) -> str:
    """The live-room recorder's progress in one line ('' before any recording)."""
    if rec is None:
        return ""
    if rec.get("error"):
        return t("tr.rec_failed", lang, error=rec["error"])
    return t("tr.rec_progress", lang, state=t(f"tr.rec.{rec['state']}", lang), folder=rec.get("folder") or "",
             elapsed=clock(rec.get("elapsed_s")), events=f"{rec.get('events', 0):,}".replace(",", "\u202f"),
             size=f"{rec.get('bytes', 0) / 1e6:.1f}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _against(value: float | None, limit: float | None, ok: bool | None) -> html.Td:
    text = f"{_duration(value)} / {_duration(limit)}"
    cls = "" if ok is None else ("tr-ok" if ok else "tr-late")
    return html.Td(text, className=cls)


def debrief_view(debrief: dict, lang: str) -> list:
    """The debrief (`Debrief.to_dict()`): score and counts, trainees, alerts against targets, export links."""
    name = debrief["session"]
    counts = debrief.get("counts", {})
    score = debrief.get("score")
    links = [html.A(t(f"tr.file.{kind}", lang), href=f"{DEBRIEF_PREFIX}/{name}/{filename}", download=filename,
                    className=f"dl-link tr-dl-{kind}")
             for kind, filename in (("json", "debrief.json"), ("alerts", "alerts.csv"),
                                    ("trainees", "trainees.csv"))]
    head = html.Div(className="tr-debrief-head", children=[
        html.H3(t("tr.debrief_title", lang, name=name), className="panel-title"),
        html.Div(className="tr-score", children=[html.Span(t("tr.score", lang), className="tr-score-label"),
                                                 html.Span(t("tr.no_score", lang), className="tr-score-none")
                                                 if score is None else
                                                 html.Span(f"{score}/100", className="tr-score-value")]),
        html.Span(t("tr.counts", lang, alerts=counts.get("alerts", 0), handled=counts.get("handled", 0),
                    missed=counts.get("missed", 0), pending=counts.get("pending", 0)), className="tr-counts"),
        html.Div(className="tr-export", children=[html.Span(t("tr.export", lang) + ":"), *links]),
    ])
    trainees = debrief.get("trainees") or []
    if trainees:
        cols = ("tr.col.actor", "tr.col.handled", "tr.col.ack_median", "tr.col.ack_on_time", "tr.col.contract",
                "tr.col.score")
        body = [html.Tr([html.Td(p["actor"]), html.Td(str(p["handled"])), html.Td(_duration(p.get("ack_median_s"))),
                         html.Td(f"{p['ack_on_time']}/{p['handled']}"),
                         html.Td(f"{p['contract_on_time']} / {p['contract_late']}"),
                         html.Td("—" if p.get("score") is None else str(p["score"]))]) for p in trainees]
        people = html.Table(className="tr-table", children=[html.Thead(html.Tr([html.Th(t(c, lang)) for c in cols])),
                                                            html.Tbody(body)])
    else:
        people = html.P(t("tr.no_trainees", lang), className="hint")
    alerts = [a for a in debrief.get("alerts") or [] if a.get("outcome") != "not-scored"]
    alerts.sort(key=lambda a: (a.get("outcome") != "missed", a.get("opened_ts", 0)))
    if alerts:
        cols = ("tr.col.alert", "tr.col.severity", "tr.col.outcome", "tr.col.by", "tr.col.ack", "tr.col.safe",
                "tr.col.points")
        body = [html.Tr(className=f"tr-row-{a['outcome']}", children=[
            html.Td(f"#{a['alert_id']} {alert_title(a.get('rule'), None, a.get('title') or a.get('rule'), lang)}"
                    f" — {a.get('asset_id') or ''}"),
            html.Td(t(f"severity.{a.get('severity')}", lang)),
            html.Td(t(f"tr.outcome.{a['outcome']}", lang), className=f"tr-outcome tr-outcome-{a['outcome']}"),
            html.Td(a.get("handled_by") or "—"),
            _against(a.get("ack_s"), a.get("ack_target_s"), a.get("ack_on_time")),
            _against(a.get("safe_s"), a.get("contract_delay_s"), a.get("contract_on_time")),
            html.Td("—" if a.get("points") is None else f"{a['points']:.2f}"),
        ]) for a in alerts[:MAX_DEBRIEF_ROWS]]
        table = [html.Table(className="tr-table", children=[
            html.Thead(html.Tr([html.Th(t(c, lang)) for c in cols])), html.Tbody(body)])]
        if len(alerts) > MAX_DEBRIEF_ROWS:
            table.append(html.P(t("tr.more_alerts", lang, n=len(alerts) - MAX_DEBRIEF_ROWS), className="hint"))
    else:
        table = [html.P(t("tr.no_alerts", lang), className="hint")]
    return [head, html.H4(t("tr.trainees", lang), className="tr-subtitle"), people,
            html.H4(t("tr.alerts", lang), className="tr-subtitle"), *table]
