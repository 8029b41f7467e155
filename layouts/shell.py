"""The app shell: stores, location, intervals, the header strip with the page switch, the map and the pages.

The operator pane is mounted at load; the manager and trainer pages are mounted the first time
the user goes to them (their plotly graphs would otherwise hold up the map's first render) and
stay mounted afterwards. The path only changes the shell's class, which shows the operator
pane beside the map, or the manager or trainer page in their place, so the map never reloads.
A training session's room (served under `/salle/<name>/`) has no page switch: a purple banner
says it is a session, with a way back to the live room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from dashboard import ids
from dashboard.data import SEVERITIES
from dashboard.i18n import t
from layouts import journal, manager, operator, trainer
from layouts.components import header, map as map_component
from streams.access import pages_of

if TYPE_CHECKING:
    from dash import Dash

    from dashboard.app import Room

__all__ = ["JOURNAL_PANE", "MANAGER_PANE", "PAGES", "TRAINER_PANE", "full_layout", "layout", "no_access",
           "page_switch", "register_callbacks", "training_banner", "user_badge"]

# the containers of the pages mounted on first visit (their class says when they are)
MANAGER_PANE = "manager-pane"
TRAINER_PANE = "trainer-pane"
JOURNAL_PANE = ids.JOURNAL_PANE
_MOUNTED = " pane-mounted"

# path -> page module exporting layout(room, lang) and register_callbacks(app, room)
PAGES = {ids.PATH_OPERATOR: operator, ids.PATH_MANAGER: manager, ids.PATH_TRAINER: trainer,
         ids.PATH_JOURNAL: journal}
# page name (streams.access.pages_of) -> (path, nav label key, nav class, the pane it shows in)
_NAV = {"operator": (ids.PATH_OPERATOR, "nav.operator", "nav-operator", None),
        "manager": (ids.PATH_MANAGER, "nav.manager", "nav-manager", MANAGER_PANE),
        "trainer": (ids.PATH_TRAINER, "nav.trainer", "nav-trainer", TRAINER_PANE),
        "journal": (ids.PATH_JOURNAL, "nav.journal", "nav-journal", JOURNAL_PANE)}
# the shell's class on each path (assets/vigie.css shows and hides the panes by it)
_SHOW_PAGE = f"""function (pathname, shellClass) {{
    const manager = pathname === "{ids.PATH_MANAGER}", trainer = pathname === "{ids.PATH_TRAINER}";
    const journal = pathname === "{ids.PATH_JOURNAL}";
    if (!manager && !trainer && !journal) {{  // the map was hidden: let Leaflet measure its pane again
        setTimeout(function () {{ window.dispatchEvent(new Event("resize")); }}, 30);
    }}
    const page = manager ? "page-manager" : trainer ? "page-trainer" : journal ? "page-journal" : "page-operator";
    const training = (shellClass || "").includes("shell-training") ? " shell-training" : "";
    return ["shell " + page + training, !manager, !trainer];
}}"""


def page_switch(lang: str, pages: list[str]) -> html.Nav:
    """The header's page switch: the pages the user may open (links, so the URL says where you are)."""
    links = [dcc.Link(t(_NAV[p][1], lang), href=_NAV[p][0], className=f"nav-link {_NAV[p][2]}") for p in pages]
    return html.Nav(id=ids.NAV, className="page-switch", children=links)


def user_badge(room: "Room", lang: str) -> html.Div:
    """Who is signed in, with which role, and the sign-out button (a form posting the CSRF token)."""
    from dashboard.auth import LOGOUT_PATH, current_session

    session = current_session()
    if session is None:
        return html.Div(id=ids.USER_BADGE, className="user-badge")
    return html.Div(id=ids.USER_BADGE, className="user-badge", children=[
        html.Span(session.user.name, className="user-name"),
        html.Span(t(f"role.{session.user.role}", lang), className=f"user-role role-{session.user.role}"),
        html.Form(action=LOGOUT_PATH, method="POST", className="logout-form", children=[
            dcc.Input(type="hidden", name="csrf", value=session.csrf),
            html.Button(type="submit", className="btn btn-logout", title=t("auth.logout", lang),
                        **{"aria-label": t("auth.logout", lang)})]),
    ])


def _pages(room: "Room") -> list[str]:
    return [p for p in pages_of(room.role()) if p != "trainer" or room.training is not None]


def no_access(room: "Room", lang: str) -> html.Div:
    """What a signed-in user without the right to see this room gets: why, and where they may go."""
    from dashboard.training import room_url
    from streams.access import allowed

    rooms = []
    if room.training is not None and allowed(room.role(), "room.view", "train-room"):
        rooms = [html.Li(html.A(f"{s['title']} · {s['name']}", href=room_url(s["name"]), className="training-link"))
                 for s in room.training.sessions() if s.get("running")]
    return html.Div(id=ids.SHELL, className="shell no-access", children=[  # no component any callback reads
        html.Header(className="header", children=[
            html.Div(className="brand", children=[html.Span(t("app.brand", lang), className="brand-name"),
                                                  html.Span(t("app.subtitle", lang), className="brand-sub")]),
            html.Div(className="header-tools", children=[user_badge(room, lang)])]),
        html.Main(className="no-access-body", children=[
            html.H2(t("auth.no_access", lang)),
            html.P(t("auth.no_access_why", lang, role=t(f"role.{room.role()}", lang))),
            *([html.H3(t("auth.training_rooms", lang)), html.Ul(rooms)] if rooms else
              [html.P(t("auth.no_rooms", lang), className="hint")] if room.training is not None else []),
        ]),
    ])


def training_banner(namespace: str, lang: str) -> html.Div:
    """The banner of a training session's room: which session, and the way back to the live room."""
    session = namespace.removeprefix("train-")
    return html.Div(id=ids.TRAINING_BANNER, className="training-banner", role="status", children=[
        html.Strong(t("training.banner", lang, session=session)),
        html.A(t("training.back_live", lang), href=ids.PATH_OPERATOR, className="training-link"),
        html.A(t("training.trainer", lang), href=ids.PATH_TRAINER, className="training-link"),
    ])


def _header(room: "Room", lang: str, pages: list[str]):
    bar = header.header(lang, room.namespace)
    if room.namespace == "live":
        bar.children.insert(1, page_switch(lang, pages))
    bar.children[-1].children.append(user_badge(room, lang))
    return bar


def full_layout(room: "Room", lang: str) -> html.Div:
    """The room with every page mounted: what the callbacks may refer to (the app's validation layout)."""
    return layout(room, lang, lazy=False, pages=list(_NAV) if room.training is not None else
                  [p for p in _NAV if p != "trainer"])


def layout(room: "Room", lang: str, lazy: bool = True, pages: list[str] | None = None) -> html.Div:
    """The whole room for one browser: shell around the map and every page its user may open (one shown at a time).

    With `lazy`, the manager, trainer and journal pages start empty and are filled on their first visit.
    """
    if pages is None:
        if not room.may("room.view"):
            return no_access(room, lang)
        pages = _pages(room) if room.namespace == "live" else ["operator"]
    training = room.namespace != "live"
    panes = []
    for name in pages:
        pane = _NAV[name][3]
        if pane is not None:
            panes.append(html.Section(id=pane, className=pane + ("" if lazy else _MOUNTED),
                                      children=[] if lazy else PAGES[_NAV[name][0]].layout(room, lang)))
    return html.Div(id=ids.SHELL, className="shell page-operator" + (" shell-training" if training else ""),
                    children=[
        dcc.Location(id=ids.LOCATION, refresh=False),
        dcc.Store(id=ids.LANG, data=lang),
        dcc.Store(id=ids.SEQ, data=0),
        dcc.Store(id=ids.ALERT_VERSION, data=None),
        dcc.Store(id=ids.STATUS, data=None),
        dcc.Store(id=ids.SELECTED_ASSET, data=None),
        dcc.Store(id=ids.NEW_CRITICAL, data=None),
        dcc.Store(id=ids.MUTE, data=False, storage_type="local"),
        dcc.Store(id=ids.ALARM_SINK),
        dcc.Store(id=ids.TICK_SINK),
        dcc.Interval(id=ids.INTERVAL_FAST, interval=room.tick_ms),
        dcc.Interval(id=ids.INTERVAL_MAP, interval=room.map_tick_ms),
        dcc.Interval(id=ids.INTERVAL_SLOW, interval=5000),
        dcc.Interval(id=ids.INTERVAL_KPI, interval=60_000, disabled=True),
        dcc.Interval(id=ids.INTERVAL_EXPORT, interval=700, disabled=True),
        dcc.Interval(id=ids.INTERVAL_TRAINER, interval=1000, disabled=True),
        dcc.Store(id=ids.EXPORT_JOB),
        _header(room, lang, pages),
        *([training_banner(room.namespace, lang)] if training else []),
        *header.banner(lang),
        html.Main(className="body", children=[
            html.Section(className="map-pane", children=[map_component.map_view(room, lang),
                                                              map_component.legend(lang)]),
            html.Section(id=ids.PAGE, className="page-pane", children=operator.layout(room, lang)),
            *panes,
        ]),
    ])


def register_callbacks(app: "Dash", room: "Room") -> None:
    """Callbacks of the shell, the header, the map and every page."""
    header.register_callbacks(app, room)
    map_component.register_callbacks(app, room)
    for page in PAGES.values():
        page.register_callbacks(app, room)

    def mount(page, path: str, pane: str, right: str) -> None:
        """Fill a page's container the first time its path is visited; leave it mounted afterwards."""
        @app.callback(Output(pane, "children"), Output(pane, "className"), Input(ids.LOCATION, "pathname"),
                      State(pane, "className"), State(ids.LANG, "data"))
        def _mount(pathname, cls, lang):
            if pathname != path or _MOUNTED in (cls or ""):
                raise PreventUpdate
            room.require(right, path)
            return page.layout(room, lang), pane + _MOUNTED

    mount(manager, ids.PATH_MANAGER, MANAGER_PANE, "contract.view")
    mount(journal, ids.PATH_JOURNAL, JOURNAL_PANE, "audit.view")
    if room.training is not None:
        mount(trainer, ids.PATH_TRAINER, TRAINER_PANE, "training.manage")

    app.clientside_callback(_SHOW_PAGE, Output(ids.SHELL, "className"), Output(ids.INTERVAL_KPI, "disabled"),
                            Output(ids.INTERVAL_TRAINER, "disabled"), Input(ids.LOCATION, "pathname"),
                            State(ids.SHELL, "className"))

    @app.callback(
        Output(ids.LAYER_ALERTS, "data"),
        Output(ids.LAYER_REPORTS, "data"),
        Output(ids.HEADER_SEVERITY, "children"),
        Output(ids.NEW_CRITICAL, "data"),
        Input(ids.ALERT_VERSION, "data"),
        State(ids.NEW_CRITICAL, "data"),
        State(ids.LANG, "data"),
    )
    def alerts_overview(_version, known, lang):
        """Alert and report markers, counts by severity, and which critical alerts are new since last time."""
        active = room.data.open_alerts()
        counts = {s: 0 for s in SEVERITIES}
        for a in active:
            if a.get("severity") in counts:
                counts[a["severity"]] += 1
        critical = sorted(str(a["id"]) for a in active if a.get("severity") == "critical" and a.get("state") == "open")
        seen = set((known or {}).get("known", []))
        fresh = [] if known is None else [i for i in critical if i not in seen]
        news = {"known": sorted(seen | set(critical))[-2000:], "fresh": fresh}
        return (map_component.alerts_geojson(active), map_component.reports_geojson(room.data.open_reports()),
                header.severity_chips(counts, lang), news)

    app.clientside_callback(ClientsideFunction("vigie", "alarm"), Output(ids.ALARM_SINK, "data"),
                            Input(ids.NEW_CRITICAL, "data"), State(ids.MUTE, "data"), prevent_initial_call=True)
