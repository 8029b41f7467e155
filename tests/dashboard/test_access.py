"""Access control of the room's server: sign-in, sessions, CSRF, every role's rights and refusals, audit, headers.

The refusals are proven the way an attacker would try them: posting straight to Dash's
`/_dash-update-component` endpoint with a valid session of the wrong role, or without the CSRF
token, and then checking that the store did not change.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest

from dashboard import ids
from dashboard.app import create_app
from streams.access import ROLES, allowed

PASSWORD = "correct horse battery"


@pytest.fixture()
def app(store_kit, inventory):
    return create_app(store_kit.settings, inventory=inventory)


def accounts_of(app):
    return app.server.config["VIGIE_ROOM"].guard.accounts


def callback_body(app, output_part: str, values: dict, changed: str) -> dict:
    """The JSON Dash's renderer posts for the callback whose outputs include `output_part`."""
    key = next(k for k in app.callback_map if output_part in k)
    spec = app.callback_map[key]

    def deps(items):
        return [{"id": d["id"], "property": d["property"], "value": values.get(f"{d['id']}.{d['property']}")}
                for d in items]

    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
               for part in key.strip(".").split("...")]
    return {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": deps(spec["inputs"]), "state": deps(spec["state"]), "changedPropIds": [changed]}


def ack_body(app, alert_id: int) -> dict:
    return callback_body(app, f"{ids.ACTION_FEEDBACK}.children", {
        f"{ids.ACTION_ACK}.n_clicks": 1, f"{ids.ALERT_GRID}.selectedRows": [{"id": alert_id}],
        f"{ids.ACTION_COMMENT}.value": "seen", f"{ids.LANG}.data": "fr"}, f"{ids.ACTION_ACK}.n_clicks")


def login(client, name: str, password: str, **extra):
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.data.decode()).group(1)
    form = {"csrf": token, "user": name, "password": password, "next": "/", **extra}
    return client.post("/login", data=form)


# -- nothing anonymous but the health check ---------------------------------------------------------

def test_nothing_is_served_without_a_session_but_health_and_sign_in(app):
    client = app.server.test_client()
    assert client.get("/healthz").json == {"status": "ok", "store": True}
    assert client.get("/login").status_code == 200
    for path in ("/", "/contrat", "/formation", "/journal"):
        r = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), path
    for path in ("/favicon.ico", "/_dash-layout", "/_dash-dependencies", "/geo/lights.geojson", "/assets/vigie.css",
                 "/exports/x/report.pdf", "/audit/export.csv", "/formation/debrief/x/debrief.json",
                 "/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.12.1.min.js"):
        assert client.get(path).status_code == 401, path
    assert client.post("/_dash-update-component", json=ack_body(app, 1)).status_code == 401


def test_sign_in_sets_strict_http_only_cookies_and_sign_out_ends_the_session(app, store_kit):
    accounts_of(app).add_user("anne", "operator", PASSWORD, by="test")
    client = app.server.test_client()
    r = login(client, "anne", PASSWORD, next="/contrat")
    assert r.status_code == 302 and r.headers["Location"] == "/contrat"
    cookies = r.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("vigie_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    csrf_cookie = next(c for c in cookies if c.startswith("_csrf_token="))
    assert "HttpOnly" not in csrf_cookie  # Dash's renderer reads it to send X-CSRFToken
    assert client.get("/_dash-layout").status_code == 200
    assert "anne" in client.get("/_dash-layout").data.decode()
    csrf = client.get_cookie("_csrf_token").value
    assert client.post("/logout", data={}).status_code == 403  # no CSRF token: no sign-out by a foreign page
    assert client.post("/logout", data={"csrf": csrf}).status_code == 302
    assert client.get("/_dash-layout").status_code == 401  # this process forgets the token at once
    actions = [r["action"] for r in store_kit.store.audit(actor="anne")]
    assert actions == ["logout", "denied", "login.ok"]  # the refused sign-out is in the journal too


def test_wrong_passwords_are_refused_audited_and_rate_limited(app, store_kit):
    accounts_of(app).add_user("anne", "operator", PASSWORD, by="test")
    client = app.server.test_client()
    assert login(client, "anne", "guess").status_code == 401
    assert login(client, "nobody", "guess").status_code == 401  # same answer for an unknown name
    assert "Identifiant ou mot de passe incorrect" in login(client, "anne", "guess2").data.decode()
    for attempt in range(3):
        login(client, "anne", f"guess-{attempt}")
    locked = login(client, "anne", PASSWORD)  # the right password, but after 5 failures in 15 minutes
    assert locked.status_code == 429 and "15 minutes" in locked.data.decode()
    assert client.get("/_dash-layout").status_code == 401
    rows = store_kit.store.audit(actor="anne")
    assert [r["action"] for r in rows].count("login.failed") == 5 and rows[0]["action"] == "login.locked"
    assert rows[-1]["target"].startswith("address:")
    # a form without its token (a cross-site post) is refused before the password is even checked
    bare = app.server.test_client().post("/login", data={"user": "anne", "password": PASSWORD})
    assert bare.status_code == 400


def test_a_session_expires_and_a_disabled_user_is_out(app, store_kit, signed):
    accounts = accounts_of(app)
    accounts.add_user("anne", "operator", PASSWORD, by="test")
    user = accounts.user("anne")
    token, _ = accounts.open_session(user, ttl_s=-1)
    client = app.server.test_client()
    client.set_cookie("vigie_session", token)
    assert client.get("/_dash-layout").status_code == 401
    live = signed(app, "operator", "bob")
    assert live.get("/_dash-layout").status_code == 200
    accounts.add_user("root", "admin", PASSWORD, by="test")
    accounts.set_enabled("bob", False, by="root")
    app.server.config["VIGIE_ROOM"].guard._cache.clear()  # other workers: within SESSION_CACHE_S
    assert live.get("/_dash-layout").status_code == 401


def test_the_next_page_after_sign_in_stays_on_this_server(app):
    accounts_of(app).add_user("anne", "operator", PASSWORD, by="test")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil"):
        r = login(app.server.test_client(), "anne", PASSWORD, next=target)
        assert r.headers["Location"] == "/", target


# -- CSRF and the headers -----------------------------------------------------------------------------

def test_a_callback_without_the_csrf_token_is_refused(app, store_kit, signed):
    [alert_id] = store_kit.alerts([{"asset_id": "LP-000001", "severity": "major"}])
    client = signed(app, "operator")
    client.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert client.post("/_dash-update-component", json=ack_body(app, alert_id)).status_code == 403
    client.environ_base["HTTP_X_CSRFTOKEN"] = "forged"
    assert client.post("/_dash-update-component", json=ack_body(app, alert_id)).status_code == 403
    foreign = signed(app, "operator")
    foreign.environ_base["HTTP_ORIGIN"] = "http://evil.example"
    assert foreign.post("/_dash-update-component", json=ack_body(app, alert_id)).status_code == 403
    assert store_kit.store.alert(alert_id)["state"] == "open"


def test_every_answer_carries_the_security_headers(app, signed):
    client = signed(app)
    for response in (client.get("/"), client.get("/_dash-layout"), app.server.test_client().get("/login")):
        h = response.headers
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY"
        assert h["Referrer-Policy"] == "same-origin" and "camera=()" in h["Permissions-Policy"]
        csp = h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert re.search(r"script-src 'self'( 'sha256-[^']+')+;", csp), csp  # Dash's own inline scripts, by hash
    assert client.get("/_dash-layout").headers["Cache-Control"] == "no-store"


# -- every role's rights and refusals, checked on the server -------------------------------------------

EXPECTED = {  # role -> rights in the live room
    "operator": {"room.view", "alert.act", "command.send", "command.confirm", "contacts.view"},
    "supervisor": {"room.view", "alert.act", "command.send", "command.confirm", "contacts.view", "contract.view",
                   "contract.export", "audit.view"},
    "manager": {"room.view", "contract.view", "contract.export"},
    "trainer": {"room.view", "training.manage"},
    "trainee": set(),
}


@pytest.mark.parametrize("role", ROLES)
def test_the_rights_table(role):
    from streams.access import RIGHTS

    expected = set(RIGHTS) if role == "admin" else EXPECTED[role]
    assert {r for r in RIGHTS if allowed(role, r)} == expected
    assert allowed(role, "alert.act", "train-drill") == (role in ("trainer", "trainee", "admin"))
    assert not allowed("operator", "room.view", "train-drill")  # a training room is for its trainees


def _mount_body(app, pane: str, path: str) -> dict:
    return callback_body(app, f"{pane}.children", {f"{ids.LOCATION}.pathname": path, f"{pane}.className": pane,
                                                    f"{ids.LANG}.data": "fr"}, f"{ids.LOCATION}.pathname")


def _journal_body(app) -> dict:
    return callback_body(app, f"{ids.AUDIT_GRID}.rowData", {f"{ids.AUDIT_PERIOD}.value": "24h",
                                                            f"{ids.AUDIT_PEOPLE}.value": ["people"],
                                                            f"{ids.LANG}.data": "fr"}, f"{ids.AUDIT_REFRESH}.n_clicks")


def _command_body(app) -> dict:
    return callback_body(app, f"{ids.CMD_FEEDBACK}.children", {
        f"{ids.CMD_SEND}.n_clicks": 1, f"{ids.CMD_TARGET}.value": "commune", f"{ids.CMD_COMMUNE}.value": "21270",
        f"{ids.CMD_ACTION}.value": "dim", f"{ids.CMD_LEVEL}.value": 50, f"{ids.CMD_MINUTES}.value": 60,
        f"{ids.CMD_REASON}.value": "", f"{ids.LANG}.data": "fr"}, f"{ids.CMD_SEND}.n_clicks")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_by_the_server_what_it_may_not_do(app, store_kit, signed, role):
    [alert_id] = store_kit.alerts([{"asset_id": "LP-000001", "severity": "major"}])
    client = signed(app, role)

    def status(body):
        return client.post("/_dash-update-component", json=body).status_code

    rights = {r for r in ("room.view", "alert.act", "contract.view", "audit.view", "training.manage",
                          "command.send") if allowed(role, r)}
    assert status(ack_body(app, alert_id)) == (200 if "alert.act" in rights else 403)
    assert store_kit.store.alert(alert_id)["state"] == ("acknowledged" if "alert.act" in rights else "open")
    assert status(_mount_body(app, "manager-pane", ids.PATH_MANAGER)) == (200 if "contract.view" in rights else 403)
    assert status(_mount_body(app, ids.JOURNAL_PANE, ids.PATH_JOURNAL)) == (200 if "audit.view" in rights else 403)
    assert status(_mount_body(app, "trainer-pane", ids.PATH_TRAINER)) == (200 if "training.manage" in rights else 403)
    assert status(_journal_body(app)) == (200 if "audit.view" in rights else 403)
    # a command without a reason is refused by the room's checks, but only a commanding role gets that far
    assert status(_command_body(app)) == (200 if "command.send" in rights else 403)
    assert client.get("/audit/export.csv").status_code == (200 if "audit.view" in rights else 403)
    assert client.get("/geo/communes.geojson").status_code == 200  # static geometry: any signed-in user
    checked = ["alert.act", "contract.view", "audit.view", "training.manage", "audit.view", "command.send",
               "audit.view"]
    refusals = [r["detail"]["right"] for r in store_kit.store.audit(actor=f"{role}-1") if r["action"] == "denied"]
    # each request needs room.view and its own right; the refusal names the first missing one
    expected = [min({"room.view", r} - rights) for r in checked if {"room.view", r} - rights]
    assert sorted(refusals) == sorted(expected)


def test_the_layout_shows_each_role_only_its_pages_and_buttons(app, signed):
    def layout(role):
        return json.dumps(signed(app, role).get("/_dash-layout").json, ensure_ascii=False)

    operator, manager, supervisor, trainee = (layout(r) for r in ("operator", "manager", "supervisor", "trainee"))
    assert ids.ACTION_ACK in operator and ids.CMD_SEND in operator and "/contrat" not in operator
    assert ids.ACTION_ACK not in manager and ids.CMD_SEND not in manager and "/contrat" in manager
    assert "/journal" in supervisor and "/journal" not in manager
    assert "Pas d'accès" in trainee
    assert ids.LAYER_LIGHTS not in trainee


def test_a_trainee_acts_in_a_training_room_and_an_operator_is_kept_out(tmp_path, inventory, signed, store_kit):
    from streams.config import Settings
    from streams.store import open_store

    settings = Settings(data_dir=tmp_path, namespace="train-drill")
    room_app = create_app(settings, inventory=inventory)
    store = open_store(settings)
    from streams.store import BatchWrite

    now = int(time.time() * 1000)
    [alert_id] = list(store.reserve_alert_ids(1))
    store.apply_batch(BatchWrite(group_id="t", new_alerts=[{
        "id": alert_id, "rule": "lamp_failure", "domain": "lighting", "severity": "minor", "priority": "P2",
        "state": "open", "title": "Lamp failure", "opened_ts": now, "last_ts": now, "due_ts": now + 3600_000,
        "parent_id": None, "count": 1, "flapping": False, "escalated": False, "commune_code": "21231",
        "asset_id": "LP-000001"}]))
    assert signed(room_app, "operator").get("/_dash-layout").data.decode().count(ids.LAYER_LIGHTS) == 0
    assert signed(room_app, "operator").post("/_dash-update-component", json=ack_body(room_app, alert_id)).status_code == 403
    trainee = signed(room_app, "trainee")
    assert trainee.post("/_dash-update-component", json=ack_body(room_app, alert_id)).status_code == 200
    row = store.alert(alert_id)
    assert row["state"] == "acknowledged" and store.audit(target=f"alert:{alert_id}")[0]["actor"] == "trainee-1"


# -- the audit journal ----------------------------------------------------------------------------------

def test_the_journal_filters_and_exports_who_did_what(app, store_kit, signed):
    [alert_id] = store_kit.alerts([{"asset_id": "LP-000001", "severity": "major"}])
    operator = signed(app, "operator", "anne")
    assert operator.post("/_dash-update-component", json=ack_body(app, alert_id)).status_code == 200
    signed(app, "manager", "max").post("/_dash-update-component", json=ack_body(app, alert_id))  # refused
    boss = signed(app, "supervisor", "sam")
    body = _journal_body(app)
    for dep in body["inputs"]:
        if dep["id"] == ids.AUDIT_ACTOR:
            dep["value"] = "anne"
    rows = boss.post("/_dash-update-component", json=body).json["response"][ids.AUDIT_GRID]["rowData"]
    assert {r["action"] for r in rows} == {"alert.acknowledge", "login.ok"}
    assert all(r["actor"] == "anne" for r in rows)
    export = boss.get("/audit/export.csv?category=denied")
    assert export.status_code == 200 and "attachment" in export.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(export.data.decode())))
    assert [r["actor"] for r in table] == ["max"] and "alert.act" in table[0]["detail"]
    assert store_kit.store.audit(actor="sam")[0]["action"] == "export"  # the export itself is audited


def test_the_audit_log_cannot_be_changed(store_kit):
    import sqlalchemy as sa

    store_kit.store.record_audit("anne", "login.ok", "address:-")
    with pytest.raises(sa.exc.DBAPIError):
        with store_kit.store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_log")
    with pytest.raises(sa.exc.DBAPIError):
        with store_kit.store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_log SET actor = 'someone'")
    assert store_kit.store.audit()[0]["actor"] == "anne"


def test_a_reporters_contact_shows_only_to_the_roles_that_call_back(app, store_kit, signed):
    from streams.store import BatchWrite

    now = int(time.time() * 1000)
    store_kit.store.apply_batch(BatchWrite(group_id="t", reports=[{
        "report_id": "RPT-7", "category": "street_light_out", "source": "app", "status": "open", "lat": 47.32,
        "lon": 5.04, "description": "Rue sombre", "address": None, "external_id": None, "asset_ref": None,
        "requested_ts": now, "updated_ts": now, "alert_id": None, "fused": False}],
        contacts=[{"report_id": "RPT-7", "name": "Jeanne Martin", "email": "jeanne@example.org", "phone": None,
                   "received_ts": now}]))

    def panel(role):
        body = callback_body(app, f"{ids.ASSET_PANEL}.children", {
            f"{ids.SELECTED_ASSET}.data": {"report_id": "RPT-7", "asset_id": None}, f"{ids.LANG}.data": "fr",
            f"{ids.LOCATION}.pathname": "/"}, f"{ids.SELECTED_ASSET}.data")
        response = signed(app, role).post("/_dash-update-component", json=body)
        assert response.status_code == 200
        return response.data.decode()

    assert "jeanne@example.org" in panel("operator") and "Contact du déclarant" in panel("supervisor")
    assert "jeanne" not in panel("manager").lower() and "Rue sombre" in panel("manager")
    assert "jeanne" not in panel("trainer").lower()
    views = [r for r in store_kit.store.audit() if r["action"] == "privacy.view"]
    assert {r["actor"] for r in views} == {"operator-1", "supervisor-1"} and views[0]["target"] == "report:RPT-7"
