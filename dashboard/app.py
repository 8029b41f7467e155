"""The Dash app factory of the operator room: `create_app(settings)` wires data, geometry, layouts and assets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dash
import flask
from werkzeug.exceptions import Forbidden

from dashboard.auth import LANG_COOKIE, Guard, current_session
from dashboard.data import DataSource
from dashboard.exports import ExportJobs
from dashboard.geo import GeoCatalog, layer_url, load_or_build_inventory
from dashboard.i18n import DEFAULT_LANG, normalise_lang, t
from dashboard.training import SessionRooms, TrainingDesk, room_url
from streams.access import allowed
from streams.config import Settings
from streams.store.accounts import Accounts

__all__ = ["ASSETS_DIR", "LANG_COOKIE", "Room", "create_app", "wsgi_app"]


ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


@dataclass
class Room:
    """What the layouts and callbacks of one app share: the store, the static geometry and display options."""

    data: DataSource
    geo: GeoCatalog
    tiles: str | None = None
    tiles_attribution: str | None = None
    stale_after_s: float = 30.0
    tick_ms: int = 1000
    map_tick_ms: int = 500  # the map's live tick: a state change shows within about this plus a request
    namespace: str = "live"
    exports: ExportJobs | None = None
    training: TrainingDesk | None = None  # the trainer page's sessions (the live room's server only)
    guard: Guard | None = None

    def actor(self) -> str:
        """Who is acting: the signed-in user of the request being served."""
        session = current_session()
        if session is None:
            raise Forbidden("no signed-in user")
        return session.user.name

    def role(self) -> str | None:
        """The signed-in user's role, None outside a signed-in request."""
        session = current_session()
        return session.user.role if session else None

    def may(self, right: str) -> bool:
        """Whether the signed-in user holds a right in this room (live or a training session's).

        Outside a request (the validation layout built at start, which must hold every component)
        everything is shown; callbacks always run inside a request, so nothing is allowed by this.
        """
        if not flask.has_request_context():
            return True
        return allowed(self.role(), right, self.namespace)

    def require(self, right: str, target: str = "") -> str:
        """The signed-in user's name if they hold the right; else an audit row and 403 (werkzeug Forbidden)."""
        if not self.may(right):
            if self.guard is not None:
                self.guard.deny(current_session(), right, target or right)
            raise Forbidden(f"the role {self.role()!r} does not hold {right!r}")
        return self.actor()


# Dash's page, plus preloads so the browser fetches the big static layers while the scripts load.
_INDEX = """<!DOCTYPE html>
<html>
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%preload%}
        {%css%}
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""


def _request_lang() -> str:
    if flask.has_request_context():
        return normalise_lang(flask.request.cookies.get(LANG_COOKIE))
    return DEFAULT_LANG


def create_app(settings: Settings, *, tiles: str | None = None, tiles_attribution: str | None = None,
               stale_after_s: float = 30.0, tick_ms: int = 1000, inventory=None, clock=None,
               url_prefix: str | None = None, accounts: Accounts | None = None) -> dash.Dash:
    """Build the Dash app over the settings' store and inventory (an Inventory may be passed in directly).

    `clock` returns the contract KPIs' "now" (a UTC timestamp); the wall clock when None. The live
    room's app also serves the trainer page and, under `/salle/<name>/`, each training session's
    room (an app of its own built with that `url_prefix`).
    """
    from layouts import journal, shell  # imported here: layouts import this module for the Room type

    geo = GeoCatalog((lambda: inventory) if inventory is not None
                     else (lambda: load_or_build_inventory(settings.inventory_dir)))
    data = DataSource.from_settings(settings, clock=clock)
    room = Room(data=data, geo=geo, tiles=tiles, tiles_attribution=tiles_attribution,
                stale_after_s=stale_after_s, tick_ms=tick_ms, namespace=settings.namespace)
    room.exports = ExportJobs(settings.data_dir / "reports" / settings.namespace,
                              build=lambda month: data.kpi_page("month", month, geo.inventory.assets),
                              communes=lambda: geo.inventory.communes)
    app = dash.Dash(
        __name__,
        assets_folder=str(ASSETS_DIR),
        assets_ignore=r"login\.css",  # the sign-in page's own style (dashboard.auth serves it)
        **({"requests_pathname_prefix": url_prefix, "routes_pathname_prefix": "/"} if url_prefix else {}),
        title=t("app.title", DEFAULT_LANG),
        update_title=None,
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"},
                   {"name": "color-scheme", "content": "dark"}],
    )
    app.index_string = _INDEX.replace("{%preload%}", "".join(
        f'<link rel="preload" href="{layer_url(name)}" as="fetch" crossorigin="anonymous">'
        for name in ("lights", "communes")))
    room.guard = Guard.from_settings(settings, tiles=tiles, accounts=accounts)
    room.guard.install(app, routes=url_prefix is None)
    geo.register(app.server)
    room.exports.register(app.server)
    if settings.namespace == "live" and url_prefix is None:
        room.training = TrainingDesk(settings)
        room.training.register(app.server)

        def session_room(name: str):
            """The Flask app of a training session's room, sharing this room's geometry."""
            from streams.topics import training_namespace

            return create_app(settings.with_(namespace=training_namespace(name)), tiles=tiles,
                              tiles_attribution=tiles_attribution, stale_after_s=stale_after_s, tick_ms=tick_ms,
                              inventory=geo.inventory, clock=clock, url_prefix=room_url(name),
                              accounts=room.guard.accounts).server

        app.server.wsgi_app = SessionRooms(app.server.wsgi_app, session_room,
                                           exists=lambda name: room.training.session(name) is not None)
    app.layout = lambda: shell.layout(room, _request_lang())
    # the manager and trainer pages mount on first visit: their callbacks' ids are checked against this
    app.validation_layout = shell.full_layout(room, DEFAULT_LANG)
    shell.register_callbacks(app, room)
    if settings.namespace == "live" and url_prefix is None:
        journal.register_export(app.server, room)
    app.server.config["VIGIE_ROOM"] = room
    return app


def wsgi_app():
    """The Flask server of an app built from the environment, for WSGI servers with several workers.

    For example `gunicorn -w 4 -b 127.0.0.1:8050 "dashboard.app:wsgi_app()"`: every worker reads
    the same store, so any of them can answer any browser.
    """
    from streams.store.accounts import first_admin

    settings = Settings.from_env()
    first_admin(Accounts.from_settings(settings), interactive=False)
    return create_app(settings).server
