"""Users, passwords and sessions in the store; `vigie user`; the first admin; the demo's seats."""

from __future__ import annotations

import argparse
import io

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from streams import user_cmd
from streams.config import Settings
from streams.store.accounts import AccountError, Accounts, first_admin

PASSWORD = "correct horse battery"


@pytest.fixture()
def settings(tmp_path):
    return Settings(data_dir=tmp_path)


@pytest.fixture()
def accounts(settings):
    return Accounts.from_settings(settings, hasher=PasswordHasher.from_parameters(CHEAPEST))


def test_passwords_are_hashed_checked_and_refused_when_weak(accounts):
    accounts.add_user("anne", "operator", PASSWORD, by="setup")
    with accounts.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM users WHERE name = 'anne'").scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.verify("anne", PASSWORD).role == "operator"
    assert accounts.verify("anne", "correct horse batterY") is None
    assert accounts.verify("nobody", PASSWORD) is None
    for name, role, password, why in (("anne", "operator", PASSWORD, "already exists"),
                                      ("bob", "operator", "short", "at least 12"),
                                      ("bob", "pilot", PASSWORD, "unknown role"),
                                      ("b o b", "operator", PASSWORD, "letters, digits"),
                                      ("bobby.smith", "operator", "BOBBY.SMITH", "at least 12"),
                                      ("bobbysmith12", "operator", "bobbysmith12", "not be the user name")):
        with pytest.raises(AccountError, match=why):
            accounts.add_user(name, role, password, by="setup")


def test_sessions_end_on_sign_out_password_change_role_change_and_disable(accounts):
    accounts.add_user("root", "admin", PASSWORD, by="setup")
    accounts.add_user("anne", "operator", PASSWORD, by="root")
    user = accounts.verify("anne", PASSWORD)
    token, session = accounts.open_session(user, ttl_s=3600, address="10.0.0.7")
    assert accounts.session(token).user.name == "anne" and accounts.session("forged") is None
    assert accounts.session(token).token_hash != token  # the store keeps a hash of the token only
    accounts.end_session(session.token_hash, actor="anne")
    assert accounts.session(token) is None
    for change in (lambda: accounts.set_password("anne", "another long password", by="root"),
                   lambda: accounts.set_role("anne", "manager", by="root"),
                   lambda: accounts.set_enabled("anne", False, by="root")):
        accounts.set_enabled("anne", True, by="root")
        token, _ = accounts.open_session(accounts.user("anne"), ttl_s=3600)
        change()
        assert accounts.session(token) is None
    assert accounts.verify("anne", "another long password") is None  # disabled
    with pytest.raises(AccountError, match="last admin"):
        accounts.set_role("root", "operator", by="root")
    actions = [r["action"] for r in accounts_audit(accounts)]
    assert {"user.add", "login.ok", "logout", "user.password", "user.role", "user.disable"} <= set(actions)


def accounts_audit(accounts):
    from streams.store import Store

    return Store(accounts.engine).audit()


def test_the_first_admin_comes_from_the_environment_or_nowhere(accounts):
    with pytest.raises(AccountError, match="VIGIE_ADMIN_PASSWORD"):
        first_admin(accounts, environ={}, interactive=False)
    assert accounts.users() == []
    with pytest.raises(AccountError, match="at least 12"):
        first_admin(accounts, environ={"VIGIE_ADMIN_PASSWORD": "admin"}, interactive=False)
    assert first_admin(accounts, environ={"VIGIE_ADMIN_USER": "chief", "VIGIE_ADMIN_PASSWORD": PASSWORD}) == "chief"
    assert accounts.verify("chief", PASSWORD).role == "admin"
    assert first_admin(accounts, environ={"VIGIE_ADMIN_PASSWORD": "something else entirely"}) is None


def test_two_workers_starting_together_make_one_first_admin(settings):
    """gunicorn starts its workers at once: each sees no admin, one creates it, the other must not fail."""
    import threading

    env = {"VIGIE_ADMIN_PASSWORD": PASSWORD}
    results, errors = [], []
    barrier = threading.Barrier(4)

    def start():
        accounts = Accounts.from_settings(settings, hasher=PasswordHasher.from_parameters(CHEAPEST))
        barrier.wait()
        try:
            results.append(first_admin(accounts, environ=env))
        except AccountError as exc:  # pragma: no cover - what this test guards against
            errors.append(exc.reason)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and "admin" in results
    assert Accounts.from_settings(settings).count_admins() == 1


def _user(argv, settings, monkeypatch, stdin="", password=None):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    if password is None:
        monkeypatch.delenv("VIGIE_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("VIGIE_PASSWORD", password)
    parser = argparse.ArgumentParser()
    user_cmd.add_arguments(parser)
    return user_cmd.run(parser.parse_args(argv), settings)


def test_vigie_user_is_for_admins_who_sign_each_change(settings, monkeypatch, capsys):
    assert _user(["add", "anne", "--role", "operator"], settings, monkeypatch, PASSWORD + "\n") == 2
    assert "say who acts" in capsys.readouterr().err  # no admin yet: only the first admin may be added
    assert _user(["add", "chief", "--role", "admin"], settings, monkeypatch, PASSWORD + "\n") == 0
    assert _user(["add", "anne", "--role", "operator", "--by", "chief"], settings, monkeypatch,
                 "anne's long password\n", password="wrong") == 2
    assert "wrong user name or password for 'chief'" in capsys.readouterr().err
    assert _user(["add", "anne", "--role", "operator", "--by", "chief"], settings, monkeypatch,
                 "anne's long password\n", password=PASSWORD) == 0
    assert _user(["add", "bob", "--role", "operator", "--by", "anne"], settings, monkeypatch,
                 "bob's long password\n", password="anne's long password") == 2
    assert "does not hold the right 'users.manage'" in capsys.readouterr().err
    assert _user(["role", "anne", "supervisor", "--by", "chief"], settings, monkeypatch, password=PASSWORD) == 0
    assert _user(["list"], settings, monkeypatch) == 0
    listing = capsys.readouterr().out
    assert "anne" in listing and "supervisor" in listing and "chief" in listing
    accounts = Accounts.from_settings(settings)
    assert accounts.verify("anne", "anne's long password").role == "supervisor"
    rows = accounts_audit(accounts)
    assert [(r["actor"], r["action"], r["target"]) for r in rows if r["action"].startswith("user.")] == [
        ("chief", "user.role", "anne"), ("chief", "user.add", "anne"), ("setup", "user.add", "chief")]
    assert [r["action"] for r in rows if r["actor"] in ("chief", "anne")].count("login.failed") == 1


def test_the_demo_draws_new_passwords_for_its_own_seats_only(settings):
    from dashboard.demo import SEATS, demo_seats

    first = demo_seats(settings)
    assert [(n, r) for n, r, _ in first] == list(SEATS)
    accounts = Accounts.from_settings(settings)
    assert all(accounts.verify(n, p).role == r for n, r, p in first)
    accounts.set_role("stagiaire", "operator", by="admin")  # changed by hand: the demo leaves it alone
    second = {n: p for n, _, p in demo_seats(settings)}
    assert second["admin"] != dict((n, p) for n, _, p in first)["admin"]
    assert second["stagiaire"] == "(unchanged)"
