"""Users and sessions of the room, kept in the live store beside the audit log they write to.

Passwords are hashed with Argon2id (argon2-cffi, the OWASP recommendation), never stored nor
logged; a session is a random token whose SHA-256 alone is stored, with its own CSRF token and
an expiry. Every change and every sign-in, failed or not, appends an audit row. Users belong to
the live store: a training session's room signs in with the same accounts.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import sys
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from streams.access import check_role

from .engine import WRITE_OPTION
from .schema import audit_log, sessions, users

__all__ = ["ADMIN_ENV", "MIN_PASSWORD", "AccountError", "Accounts", "Session", "User", "first_admin", "hash_token"]

MIN_PASSWORD = 12
ADMIN_ENV = ("VIGIE_ADMIN_USER", "VIGIE_ADMIN_PASSWORD")  # the first admin's name and password
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


class AccountError(ValueError):
    """A refused account change: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class User:
    """Who signs in: a name and a role."""

    name: str
    role: str
    enabled: bool = True


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its user, its CSRF token and when it ends."""

    token_hash: str
    user: User
    csrf: str
    expires_ts: int


def _now_ms() -> int:
    return int(time.time() * 1000)


def hash_token(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """A user name: 2-64 letters, digits, dot, dash or underscore."""
    if not _NAME.match(name or ""):
        raise AccountError("a user name has 2 to 64 letters, digits, '.', '-' or '_'")
    return name


def check_password(name: str, password: str) -> str:
    """A password long enough and not the user's name."""
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    if password.strip().lower() == name.lower():
        raise AccountError("a password must not be the user name")
    return password


class Accounts:
    """Users, passwords and sessions over the live store's engine."""

    def __init__(self, engine: Engine, *, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))  # unknown users cost as much as known ones

    @classmethod
    def from_settings(cls, settings, **kwargs) -> "Accounts":
        """The accounts of the live store named by the settings (migrated)."""
        from .store import open_store

        return cls(open_store(settings, "live").engine, **kwargs)

    def _write(self):
        return self.engine.connect().execution_options(**{WRITE_OPTION: True})

    @staticmethod
    def _audit(conn, actor: str, action: str, target: str, detail: dict | None = None) -> None:
        conn.execute(audit_log.insert().values(ts=_now_ms(), actor=actor[:64], action=action, target=target[:120],
                                               detail=detail))

    # -- users ---------------------------------------------------------------------------------

    def user(self, name: str) -> User | None:
        """A user by name, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users.c.name, users.c.role, users.c.enabled).where(users.c.name == name)).first()
        return User(row.name, row.role, bool(row.enabled)) if row else None

    def users(self) -> list[dict]:
        """Every user without their hash: name, role, enabled, created, last sign-in."""
        cols = [users.c.name, users.c.role, users.c.enabled, users.c.created_ts, users.c.created_by,
                users.c.password_ts, users.c.last_login_ts]
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(*cols).order_by(users.c.name))]

    def count_admins(self) -> int:
        """Enabled admins."""
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(users).where(and_(
                users.c.role == "admin", users.c.enabled.is_(True)))) or 0

    def add_user(self, name: str, role: str, password: str, *, by: str) -> User:
        """Create a user; AccountError if the name is taken or the name, role or password is refused."""
        check_name(name)
        try:
            check_role(role)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        check_password(name, password)
        now = _now_ms()
        digest = self.hasher.hash(password)
        try:
            with self._write() as conn, conn.begin():
                if conn.scalar(select(func.count()).select_from(users).where(users.c.name == name)):
                    raise AccountError(f"user {name!r} already exists")
                conn.execute(users.insert().values(name=name, role=role, password_hash=digest, enabled=True,
                                                   created_ts=now, created_by=by, password_ts=now))
                self._audit(conn, by, "user.add", name, {"role": role})
        except IntegrityError:  # created by another process between the check and the insert
            raise AccountError(f"user {name!r} already exists") from None
        return User(name, role)

    def _change(self, name: str, values: dict, *, by: str, action: str, detail: dict | None = None,
                end_sessions: bool = False) -> None:
        with self._write() as conn, conn.begin():
            changed = conn.execute(update(users).where(users.c.name == name).values(**values)).rowcount
            if not changed:
                raise AccountError(f"no user {name!r}")
            if end_sessions:
                conn.execute(update(sessions).where(and_(sessions.c.user_name == name, sessions.c.ended_ts.is_(None)))
                             .values(ended_ts=_now_ms()))
            self._audit(conn, by, action, name, detail)

    def set_password(self, name: str, password: str, *, by: str) -> None:
        """Change a password; the user's open sessions end."""
        check_password(name, password)
        self._change(name, {"password_hash": self.hasher.hash(password), "password_ts": _now_ms()}, by=by,
                     action="user.password", end_sessions=True)

    def set_role(self, name: str, role: str, *, by: str) -> None:
        """Change a role; the user's open sessions end (the rights changed)."""
        try:
            check_role(role)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        self._guard_last_admin(name, keeps_admin=role == "admin")
        self._change(name, {"role": role}, by=by, action="user.role", detail={"role": role}, end_sessions=True)

    def set_enabled(self, name: str, enabled: bool, *, by: str) -> None:
        """Enable or disable a user; disabling ends their sessions."""
        if not enabled:
            self._guard_last_admin(name, keeps_admin=False)
        self._change(name, {"enabled": enabled}, by=by, action="user.enable" if enabled else "user.disable",
                     end_sessions=not enabled)

    def _guard_last_admin(self, name: str, *, keeps_admin: bool) -> None:
        user = self.user(name)
        if user and user.role == "admin" and user.enabled and not keeps_admin and self.count_admins() <= 1:
            raise AccountError("the last admin cannot lose the role: add another admin first")

    # -- passwords -----------------------------------------------------------------------------

    def verify(self, name: str, password: str) -> User | None:
        """The user if the password is theirs and they are enabled, else None (no audit row)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first() if _NAME.match(name or "") else None
        digest = row.password_hash if row else self._dummy
        try:
            self.hasher.verify(digest, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if row is None or not row.enabled:
            return None
        if self.hasher.check_needs_rehash(digest):
            with self._write() as conn, conn.begin():
                conn.execute(update(users).where(users.c.name == name).values(password_hash=self.hasher.hash(password)))
        return User(row.name, row.role, True)

    def failures(self, *, name: str | None = None, address: str | None = None, since_ms: int) -> int:
        """Failed sign-ins since a time, for a name or from an address (the rate limit's count)."""
        stmt = select(func.count()).select_from(audit_log).where(and_(
            audit_log.c.ts >= since_ms, audit_log.c.action == "login.failed"))
        if name is not None:
            stmt = stmt.where(audit_log.c.actor == name[:64])
        if address is not None:
            stmt = stmt.where(audit_log.c.target == f"address:{address}"[:120])
        with self.engine.connect() as conn:
            return conn.scalar(stmt) or 0

    def record(self, actor: str, action: str, target: str, detail: dict | None = None) -> None:
        """Append one audit row (sign-ins, refusals, exports)."""
        with self._write() as conn, conn.begin():
            self._audit(conn, actor, action, target, detail)

    # -- sessions ------------------------------------------------------------------------------

    def open_session(self, user: User, *, ttl_s: float, address: str | None = None) -> tuple[str, Session]:
        """A new session for a verified user: (cookie token, session); audited as login.ok."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), _now_ms()
        session = Session(hash_token(token), user, csrf, now + int(ttl_s * 1000))
        with self._write() as conn, conn.begin():
            conn.execute(sessions.insert().values(token_hash=session.token_hash, user_name=user.name, csrf=csrf,
                                                  created_ts=now, expires_ts=session.expires_ts,
                                                  address=(address or "")[:64]))
            conn.execute(update(users).where(users.c.name == user.name).values(last_login_ts=now))
            self._audit(conn, user.name, "login.ok", f"address:{address or '-'}", {"role": user.role})
        return token, session

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token: not ended, not expired, its user enabled; else None."""
        if not token or len(token) > 200:
            return None
        stmt = (select(sessions.c.token_hash, sessions.c.csrf, sessions.c.expires_ts, users.c.name, users.c.role)
                .join(users, users.c.name == sessions.c.user_name)
                .where(and_(sessions.c.token_hash == hash_token(token), sessions.c.ended_ts.is_(None),
                            sessions.c.expires_ts > _now_ms(), users.c.enabled.is_(True))))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return Session(row.token_hash, User(row.name, row.role), row.csrf, row.expires_ts) if row else None

    def end_session(self, token_hash: str, *, actor: str) -> None:
        """Sign out: the session ends now (audited as logout)."""
        with self._write() as conn, conn.begin():
            conn.execute(update(sessions).where(and_(sessions.c.token_hash == token_hash,
                                                     sessions.c.ended_ts.is_(None))).values(ended_ts=_now_ms()))
            self._audit(conn, actor, "logout", actor)

    def open_sessions(self, name: str | None = None) -> list[dict]:
        """Sessions not ended nor expired, newest first (without their token hash)."""
        stmt = select(sessions.c.user_name, sessions.c.created_ts, sessions.c.expires_ts, sessions.c.address).where(
            and_(sessions.c.ended_ts.is_(None), sessions.c.expires_ts > _now_ms()))
        if name:
            stmt = stmt.where(sessions.c.user_name == name)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt.order_by(sessions.c.created_ts.desc()))]


def first_admin(accounts: Accounts, *, environ=None, interactive: bool | None = None) -> str | None:
    """Make sure the room has an admin; return the name of one created now, else None.

    The first admin comes from `VIGIE_ADMIN_USER` (default `admin`) and `VIGIE_ADMIN_PASSWORD`, or
    from a prompt on a terminal; never from a default. AccountError when neither is available.
    """
    if accounts.count_admins():
        return None
    env = os.environ if environ is None else environ
    name = env.get(ADMIN_ENV[0]) or "admin"
    password = env.get(ADMIN_ENV[1])
    if not password:
        if interactive is None:
            interactive = sys.stdin.isatty()
        if not interactive:
            raise AccountError("the room has no admin yet: set VIGIE_ADMIN_PASSWORD (and VIGIE_ADMIN_USER), "
                               "or run `vigie user add NAME --role admin` on a terminal")
        print(f"The room has no admin yet. Choose the password of {name!r} "
              f"(at least {MIN_PASSWORD} characters).", file=sys.stderr)
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AccountError("the two passwords differ")
    if accounts.user(name) is not None:
        accounts.set_role(name, "admin", by="setup")
        accounts.set_password(name, password, by="setup")
        return name
    try:
        accounts.add_user(name, "admin", password, by="setup")
    except AccountError:
        if accounts.count_admins():  # another worker of the same server created it first
            return None
        raise
    return name
