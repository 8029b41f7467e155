"""Sign-in and the request guard of the room's web server: nothing is served to anyone not signed in.

Every request but the health check and the sign-in page itself needs a live session (a random
token in an HttpOnly, SameSite=Strict cookie, looked up in the store). Every POST carries the
session's CSRF token: Dash's renderer reads the `_csrf_token` cookie and sends it back as the
`X-CSRFToken` header on each callback, our forms send it as a field. Each Dash callback needs the
right of the outputs it writes (`OUTPUT_RIGHTS`), each route the right of its path
(`PATH_RIGHTS`); the callbacks that act check again inside (`Room.require`). Refusals answer 403
and write an audit row. Failed sign-ins are counted in the audit log, so the rate limit holds
across the workers of a WSGI server. Every answer carries the security headers, with a
Content-Security-Policy that allows no inline script but Dash's own (by hash).

Own code rather than Flask-Login, Flask-WTF, Flask-Limiter and Talisman: sessions live in the
store (shared by workers, revocable, audited), the rate limit reads the audit log, and each of
the four would cover one part while the other parts still had to be written here.
"""

from __future__ import annotations

import hmac
import html
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import flask
import orjson

from dashboard.i18n import LANGS, normalise_lang, t
from streams.access import allowed
from streams.store.accounts import Accounts, Session, User

if TYPE_CHECKING:
    import dash

__all__ = [
    "CSRF_COOKIE", "CSRF_HEADER", "Guard", "HEALTH_PATH", "LOGIN_PATH", "LOGOUT_PATH", "OUTPUT_RIGHTS",
    "PATH_RIGHTS", "SESSION_COOKIE", "SignInLocked", "current_session", "rights_for_outputs",
]

SESSION_COOKIE = "vigie_session"
CSRF_COOKIE = "_csrf_token"  # the name dash-renderer reads
CSRF_HEADER = "X-CSRFToken"  # the header dash-renderer sends
LOGIN_COOKIE = "vigie_login_csrf"
LANG_COOKIE = "vigie_lang"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
HEALTH_PATH = "/healthz"
LOGIN_CSS = "/login.css"
FAIL_WINDOW_S = 15 * 60
MAX_FAILS_PER_NAME = 5
MAX_FAILS_PER_ADDRESS = 20
SESSION_CACHE_S = 5.0  # a sign-out or a disabled user reaches every worker within this

# first matching prefix of a callback's output id -> the right it needs; any other output: room.view
OUTPUT_RIGHTS: tuple[tuple[str, str], ...] = (
    ("action-", "alert.act"),
    ("cmd-feedback", "command.send"), ("cmd-count", "command.send"), ("cmd-preview-layer", "command.send"),
    ("cmd-confirm-box", "command.send"),
    ("export-job", "contract.export"), ("interval-export", "contract.export"), ("mgr-export", "contract.export"),
    ("mgr-", "contract.view"), ("manager-pane", "contract.view"),
    ("tr-", "training.manage"), ("trainer-pane", "training.manage"),
    ("audit-", "audit.view"), ("journal-pane", "audit.view"),
)
# first matching path prefix of a route -> the right it needs; any other path: signed in
PATH_RIGHTS: tuple[tuple[str, str], ...] = (
    ("/exports/", "contract.export"), ("/formation/debrief/", "training.manage"), ("/audit/", "audit.view"),
    ("/_dash-update-component", "room.view"),
)  # the static geometry (/geo/) is for every signed-in user: training rooms draw the live room's layers
AUDITED_PATHS = ("/exports/", "/formation/debrief/", "/audit/")  # downloads: each one writes an audit row
_STATIC = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")


class SignInLocked(Exception):
    """Too many failed sign-ins for this name or address: no password is checked for a while."""


def current_session() -> Session | None:
    """The session of the request being served, or None outside a signed-in request."""
    if not flask.has_request_context():
        return None
    return flask.g.get("vigie_session")


def _output_ids(body: dict) -> list[str]:
    outputs = body.get("outputs")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    found = []
    for out in outputs:
        for item in (out if isinstance(out, list) else [out]):
            ident = item.get("id") if isinstance(item, dict) else None
            if isinstance(ident, dict):
                ident = ident.get("type")
            if isinstance(ident, str):
                found.append(ident)
    if not found and isinstance(body.get("output"), str):  # the callback's key: "..a.prop...b.prop.." or "a.prop"
        found = [part.rsplit(".", 1)[0] for part in body["output"].strip(".").split("...") if part]
    return found


def rights_for_outputs(output_ids: list[str]) -> set[str]:
    """The rights a callback writing these outputs needs."""
    needed = {"room.view"}
    for ident in output_ids:
        for prefix, right in OUTPUT_RIGHTS:
            if ident.startswith(prefix):
                needed.add(right)
                break
    return needed


def _safe_next(target: str | None) -> str:
    """Only a path of this server: never `//host` nor `scheme:`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


@dataclass
class Guard:
    """The sign-in routes and the before/after-request checks of one Flask server."""

    accounts: Accounts
    namespace: str = "live"
    ttl_s: float = 12 * 3600
    secure: bool = False
    tiles: str | None = None
    _cache: dict[str, tuple[Session | None, float]] = field(default_factory=dict)
    _policy: str | None = None  # the Content-Security-Policy, built on the first answer
    _app: "dash.Dash | None" = None

    @classmethod
    def from_settings(cls, settings, *, tiles: str | None = None, accounts: Accounts | None = None) -> "Guard":
        """A guard over the live store's accounts, with the settings' session lifetime and cookie policy."""
        return cls(accounts=accounts or Accounts.from_settings(settings), namespace=settings.namespace,
                   ttl_s=settings.session_hours * 3600, secure=settings.secure_cookies, tiles=tiles)

    # -- wiring ---------------------------------------------------------------------------------

    def install(self, app: "dash.Dash", *, routes: bool = True) -> None:
        """Guard every request of the app's server; with `routes`, also serve sign-in, sign-out and health."""
        self._app = app
        server = app.server
        server.before_request(self._before)
        server.after_request(self._after)
        if routes:
            server.add_url_rule(LOGIN_PATH, "vigie_login", self._login, methods=["GET", "POST"])
            server.add_url_rule(LOGOUT_PATH, "vigie_logout", self._logout, methods=["POST"])
            server.add_url_rule(HEALTH_PATH, "vigie_health", self._health)
            server.add_url_rule(LOGIN_CSS, "vigie_login_css", self._login_css)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, cached a few seconds per process."""
        if not token:
            return None
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and now - hit[1] < SESSION_CACHE_S:
            session = hit[0]
        else:
            session = self.accounts.session(token)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (session, now)
        if session is not None and session.expires_ts <= time.time() * 1000:
            return None
        return session

    def forget(self, token: str | None) -> None:
        """Drop a token from this process's cache (after sign-out)."""
        self._cache.pop(token or "", None)

    def check_password(self, name: str, password: str, *, target: str, address: str | None = None,
                       detail: dict | None = None) -> User | None:
        """The user if the password is theirs, None if not (audited as login.failed on `target`).

        SignInLocked, before any check, past 5 failures for the name (or 20 from the address) in
        15 minutes: the sign-in page and the second operator's confirmation share this limit.
        """
        since = int((time.time() - FAIL_WINDOW_S) * 1000)
        if (self.accounts.failures(name=name, since_ms=since) >= MAX_FAILS_PER_NAME
                or address is not None
                and self.accounts.failures(address=address, since_ms=since) >= MAX_FAILS_PER_ADDRESS):
            raise SignInLocked(name)
        user = self.accounts.verify(name, password)
        if user is None:
            self.accounts.record((name or "-")[:64], "login.failed", target, detail)
        return user

    def deny(self, session: Session | None, right: str, target: str) -> flask.Response:
        """Refuse with 403 and an audit row."""
        who = session.user.name if session else "-"
        self.accounts.record(who, "denied", target[:120], {"right": right, "namespace": self.namespace,
                                                          "role": session.user.role if session else None})
        return _json({"error": "forbidden", "right": right}, 403)

    # -- the checks -----------------------------------------------------------------------------

    def _before(self):
        request = flask.request
        path = request.path
        if path in (HEALTH_PATH, LOGIN_PATH, LOGIN_CSS) and request.script_root == "":
            return None
        session = self.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            navigation = "text/html" in request.headers.get("Accept", "")  # a page, not a favicon or a fetch
            if request.method == "GET" and navigation and not path.startswith(("/_dash-", "/geo/", "/exports/",
                                                                               "/assets/", "/formation/debrief/",
                                                                               "/audit/")):
                return flask.redirect(f"{LOGIN_PATH}?next={quote(request.script_root + request.full_path.rstrip('?'))}")
            return _json({"error": "sign in first", "login": LOGIN_PATH}, 401)
        flask.g.vigie_session = session
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf") or ""
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()) or not _same_origin(request):
                return self.deny(session, "csrf", path)
        if path.startswith(_STATIC):
            return None
        for prefix, right in PATH_RIGHTS:
            if path.startswith(prefix):
                if path == "/_dash-update-component":
                    body = request.get_json(silent=True) or {}
                    outputs = _output_ids(body)
                    for needed in sorted(rights_for_outputs(outputs)):
                        if not allowed(session.user.role, needed, self.namespace):
                            return self.deny(session, needed, "callback:" + ",".join(outputs)[:100])
                elif not allowed(session.user.role, right, self.namespace):
                    return self.deny(session, right, path)
                elif path.startswith(AUDITED_PATHS):
                    self.accounts.record(session.user.name, "export", path[:120],
                                         {"query": request.query_string.decode()[:300] or None})
                return None
        return None

    def _csp(self) -> str:
        """The policy, once every callback is registered (Dash's inline scripts are hashed then)."""
        if self._policy is None:
            self._policy = self._build_csp()
        return self._policy

    def _build_csp(self) -> str:
        scripts = " ".join(self._app.csp_hashes() if self._app is not None else [])  # quoted: 'sha256-…'
        images = "'self' data: blob:"
        if self.tiles:
            parts = urlsplit(self.tiles.replace("{s}", "a"))
            if parts.scheme and parts.netloc:
                host = parts.netloc.replace("a.", "*.", 1) if "{s}" in self.tiles else parts.netloc
                images += f" {parts.scheme}://{host}"
        return ("default-src 'self'; "
                f"script-src 'self' {scripts}; "
                "style-src 'self' 'unsafe-inline'; "  # plotly, leaflet and ag-grid set inline styles
                f"img-src {images}; font-src 'self' data:; connect-src 'self'; media-src 'self'; "
                "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

    def _after(self, response: flask.Response) -> flask.Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", self._csp())
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
        if self.secure:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        path = flask.request.path
        if not path.startswith(_STATIC + ("/geo/",)):
            headers["Cache-Control"] = "no-store"
        return response

    # -- routes ---------------------------------------------------------------------------------

    def _cookie(self, response: flask.Response, name: str, value: str, *, http_only: bool = True,
                max_age: float | None = None) -> None:
        response.set_cookie(name, value, max_age=None if max_age is None else int(max_age), path="/",
                            secure=self.secure, httponly=http_only, samesite="Strict")

    def _login(self):
        request = flask.request
        lang = normalise_lang(request.args.get("lang") or request.cookies.get(LANG_COOKIE))
        target = _safe_next(request.values.get("next"))
        if request.method == "GET":
            current = self.session(request.cookies.get(SESSION_COOKIE))
            if current is not None:
                return flask.redirect(target)
            return self._login_page(lang, target, None, 200)
        name = (request.form.get("user") or "").strip()[:64]
        password = request.form.get("password") or ""
        address = (request.remote_addr or "-")[:48]
        sent, expected = request.form.get("csrf") or "", request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()) or not _same_origin(request):
            return self._login_page(lang, target, "login.error.form", 400)
        try:
            user = self.check_password(name, password, target=f"address:{address}", address=address)
        except SignInLocked:
            self.accounts.record(name or "-", "login.locked", f"address:{address}")
            return self._login_page(lang, target, "login.error.locked", 429)
        if user is None:
            return self._login_page(lang, target, "login.error.bad", 401)
        token, session = self.accounts.open_session(user, ttl_s=self.ttl_s, address=address)
        response = flask.redirect(target)
        self._cookie(response, SESSION_COOKIE, token, max_age=self.ttl_s)
        self._cookie(response, CSRF_COOKIE, session.csrf, http_only=False, max_age=self.ttl_s)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    def _logout(self):
        request = flask.request
        token = request.cookies.get(SESSION_COOKIE)
        session = flask.g.get("vigie_session")  # _before checked the session and its CSRF token
        if session is not None:
            self.accounts.end_session(session.token_hash, actor=session.user.name)
        self.forget(token)
        response = flask.redirect(LOGIN_PATH)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    def _health(self):
        try:
            with self.accounts.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception:  # noqa: BLE001 - the health check says down, whatever the cause
            return _json({"status": "down", "store": False}, 503)
        return _json({"status": "ok", "store": True}, 200)

    def _login_css(self):
        from dashboard.app import ASSETS_DIR

        return flask.send_from_directory(ASSETS_DIR, "login.css", max_age=3600)

    def _login_page(self, lang: str, target: str, error: str | None, status: int) -> flask.Response:
        # one token per browser (several tabs, or a favicon fetch, must not invalidate the form shown)
        token = flask.request.cookies.get(LOGIN_COOKIE) or ""
        if not 20 <= len(token) <= 64 or not token.replace("-", "").replace("_", "").isalnum():
            token = secrets.token_urlsafe(24)
        other = LANGS[1 - LANGS.index(lang)]
        message = f'<p class="login-error" role="alert">{html.escape(t(error, lang))}</p>' if error else ""
        body = f"""<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark"><title>{html.escape(t("login.title", lang))}</title>
<link rel="stylesheet" href="{LOGIN_CSS}"></head>
<body class="login-page"><main class="login">
<h1>VIGIE <span>{html.escape(t("app.subtitle", lang))}</span></h1>
<p class="login-lead">{html.escape(t("login.lead", lang))}</p>
{message}
<form method="post" action="{LOGIN_PATH}" autocomplete="on">
<input type="hidden" name="csrf" value="{token}">
<input type="hidden" name="next" value="{html.escape(target)}">
<label for="user">{html.escape(t("login.user", lang))}</label>
<input id="user" name="user" autocomplete="username" required maxlength="64" autofocus>
<label for="password">{html.escape(t("login.password", lang))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{html.escape(t("login.submit", lang))}</button>
</form>
<p class="login-lang"><a href="{LOGIN_PATH}?lang={other}&amp;next={quote(target)}">{t("lang." + other, lang)}</a></p>
<p class="login-note">{html.escape(t("login.note", lang))}</p>
</main></body></html>"""
        response = flask.Response(body, status=status, mimetype="text/html")
        self._cookie(response, LOGIN_COOKIE, token, max_age=3600)
        if flask.request.args.get("lang"):
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Strict")
        return response


def _same_origin(request: flask.Request) -> bool:
    """A browser's Origin (or Referer), when sent, names this server."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # not a browser's cross-site request: the CSRF token still has to match
    return origin != "null" and urlsplit(origin).netloc == request.host


def _json(payload: dict, status: int) -> flask.Response:
    return flask.Response(orjson.dumps(payload), status=status, mimetype="application/json")
