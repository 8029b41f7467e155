"""Fixtures of the dashboard tests: the inventory, a prepared store, a live Dash server and headless Chromium."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from connectors.dijon.inventory import build_inventory
from streams.config import Settings
from streams.store import BatchWrite, Store

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"


def _now() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="session")
def inventory():
    """The default Dijon inventory (seed 42), built once per session."""
    return build_inventory(42)


PASSWORD = "correct horse battery"  # every test user's password


def user_named(accounts, role: str = "operator", name: str | None = None) -> str:
    """The name of a user with this role (created on first use; password PASSWORD)."""
    name = name or f"{role}-1"
    if accounts.user(name) is None:
        accounts.add_user(name, role, PASSWORD, by="test")
    return name


def session_of(app, role: str = "operator", name: str | None = None) -> tuple[str, str]:
    """A signed-in session of such a user in the app's accounts: (cookie token, CSRF token)."""
    accounts = app.server.config["VIGIE_ROOM"].guard.accounts
    user = accounts.user(user_named(accounts, role, name))
    token, session = accounts.open_session(user, ttl_s=3600, address="127.0.0.1")
    return token, session.csrf


def signed_client(app, role: str = "operator", name: str | None = None):
    """A Flask test client signed in with this role; its POSTs carry the CSRF header."""
    token, csrf = session_of(app, role, name)
    client = app.server.test_client()
    client.set_cookie("vigie_session", token)
    client.set_cookie("_csrf_token", csrf)
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf
    return client


def wait_until(predicate, timeout: float = 10.0, step: float = 0.2):
    """Poll `predicate` until it returns something true or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def texts_of(node) -> list[str]:
    """Every string shown by a tree of Dash components."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, (list, tuple)):
        return [x for child in node for x in texts_of(child)]
    return texts_of(getattr(node, "children", None) or [])


@pytest.fixture(scope="session")
def wait():
    """`wait(predicate, timeout=10, step=0.2)`: poll until the predicate is true; its last value."""
    return wait_until


@pytest.fixture(scope="session")
def texts():
    """`texts(node)`: every string shown by a tree of Dash components."""
    return texts_of


@pytest.fixture()
def signed():
    """`signed(app, role="operator", name=None)`: a test client of the app signed in as such a user."""
    return signed_client


class StoreKit:
    """A migrated SQLite store in a temporary folder, and helpers to write what the processor would."""

    def __init__(self, folder: Path) -> None:
        self.settings = Settings(data_dir=folder)
        self.store = Store.from_url(self.settings.store_url)

    def states(self, rows: list[tuple[str, str, str, list | None]], attributes: dict | None = None) -> int:
        """Write asset states (asset_id, kind, state, faults) as one processor batch; return its seq."""
        now = _now()
        batch = BatchWrite(group_id="test", asset_rows=[
            {"asset_id": a, "kind": k, "state": s, "attributes": (attributes or {}).get(a, {}), "faults": f or [],
             "last_changed": now, "last_updated": now, "last_seen": now} for a, k, s, f in rows])
        return self.store.apply_batch(batch)

    def alerts(self, specs: list[dict]) -> list[int]:
        """Open alerts from partial specs (asset_id, severity, title, lat, lon, due_in_s...); return their ids."""
        now = _now()
        ids = list(self.store.reserve_alert_ids(len(specs)))
        rows = []
        for alert_id, spec in zip(ids, specs):
            due_in = spec.pop("due_in_s", 7200)
            rows.append({"id": alert_id, "rule": spec.pop("rule", "lamp_failure"), "domain": "lighting",
                         "severity": "minor", "priority": "P2", "state": "open", "title": "Lamp failure",
                         "opened_ts": now - 600_000, "last_ts": now, "due_ts": now + due_in * 1000,
                         "parent_id": None, "count": 1, "flapping": False, "escalated": False,
                         "commune_code": "21231", **spec})
        self.store.apply_batch(BatchWrite(group_id="test", new_alerts=rows))
        return ids

    def heartbeat(self, topic: str = "live.lighting.telemetry", rate: float = 38.0) -> None:
        """A processor batch that only refreshes stream health (the processor is alive, events flow)."""
        now = _now()
        self.store.apply_batch(BatchWrite(group_id="test", health=[
            {"topic": topic, "events": 1000, "rate": rate, "lag": 3, "last_event_ts": now, "dead_letters": 2}]))


@pytest.fixture()
def store_kit(tmp_path):
    """A fresh store for one test."""
    return StoreKit(tmp_path)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A Dash app served by werkzeug in a background thread."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self._server = make_server("127.0.0.1", self.port, app.server, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveServer":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def sign_in(self, page, role: str = "operator", name: str | None = None) -> str:
        """Give the page's browser a session of a user with this role (the sign-in form has tests of its own)."""
        token, csrf = session_of(self.app, role, name)
        page.context.add_cookies([{"name": "vigie_session", "value": token, "url": self.url},
                                  {"name": "_csrf_token", "value": csrf, "url": self.url}])
        return name or f"{role}-1"


@pytest.fixture()
def serve(inventory):
    """Start the room over a store kit: `with serve(kit, stale_after_s=...) as server:` (the full inventory unless given)."""
    from dashboard.app import create_app

    def start(kit: StoreKit, **options) -> LiveServer:
        options.setdefault("inventory", inventory)
        return LiveServer(create_app(kit.settings, **options))

    return start


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (`make test` installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make system-deps` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required"])
        try:
            yield browser
        finally:
            browser.close()


def _page(browser, *, bypass_csp: bool):
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=bypass_csp)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return context, page


@pytest.fixture()
def page(browser):
    """A fresh page at a large-screen size; console errors are collected in `page.errors`.

    Playwright's `wait_for_function` evaluates strings, which the room's Content-Security-Policy
    forbids: this page bypasses the policy; `strict_page` keeps it (tests/dashboard/test_access_browser.py).
    """
    context, page = _page(browser, bypass_csp=True)
    yield page
    context.close()


@pytest.fixture()
def strict_page(browser):
    """A page that obeys the room's Content-Security-Policy; CSP violations land in `page.errors`."""
    context, page = _page(browser, bypass_csp=False)
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder of the screenshots (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
