"""The `vigie user` subcommand: the room's users, for admins.

    vigie user add NAME --role ROLE --by ADMIN      (the new password: prompted twice, or stdin's first line)
    vigie user passwd NAME --by ADMIN
    vigie user role NAME ROLE --by ADMIN
    vigie user disable NAME --by ADMIN  /  enable NAME --by ADMIN
    vigie user list [--json]  /  sessions [NAME] [--json]

The acting admin signs every change with their password (prompted, or `VIGIE_PASSWORD` for
scripts) and every change writes an audit row under their name. While the room has no admin,
`add NAME --role admin` creates the first one without `--by`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from streams.access import ROLES
from streams.config import Settings

__all__ = ["SignatureRefused", "add_arguments", "read_password", "run", "signed_in"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the actions and flags of `vigie user`."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a user with a role")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    for action, help_text in (("passwd", "change a user's password (their sessions end)"),
                              ("disable", "disable a user (their sessions end)"), ("enable", "enable a user again")):
        p = sub.add_parser(action, help=help_text)
        p.add_argument("name")
    role = sub.add_parser("role", help="change a user's role (their sessions end)")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    for p in (add, *[sub.choices[a] for a in ("passwd", "disable", "enable")], role):
        p.add_argument("--by", metavar="ADMIN", help="the admin making the change (password: prompt or VIGIE_PASSWORD)")
    listing = sub.add_parser("list", help="list the users and their roles")
    listing.add_argument("--json", action="store_true")
    sessions = sub.add_parser("sessions", help="list the open sessions")
    sessions.add_argument("name", nargs="?")
    sessions.add_argument("--json", action="store_true")


class SignatureRefused(Exception):
    """A user who acts from the command line could not sign: why, in one line."""


def read_password(prompt: str, *, twice: bool = True, env: str | None = None) -> str:
    """A password from the environment variable `env`, a terminal prompt, or stdin's first line."""
    if env and os.environ.get(env):
        return os.environ[env]
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if twice and getpass.getpass("Again: ") != password:
            raise SignatureRefused("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\n")


def signed_in(accounts, name: str | None, right: str, *, env: str = "VIGIE_PASSWORD", namespace: str = "live"):
    """The user `name` after checking their password and that they hold `right`; SignatureRefused otherwise."""
    from streams.access import allowed

    if not name:
        raise SignatureRefused("say who acts (--by/--user NAME)")
    user = accounts.verify(name, read_password(f"Password of {name}: ", twice=False, env=env))
    if user is None:
        accounts.record(name, "login.failed", "address:cli")
        raise SignatureRefused(f"wrong user name or password for {name!r}")
    if not allowed(user.role, right, namespace):
        accounts.record(name, "denied", "cli", {"right": right, "role": user.role})
        raise SignatureRefused(f"{name!r} ({user.role}) does not hold the right {right!r}")
    return user


def _ms(value) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(value / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M") if value else "—"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out one action; 0 when done, 2 when refused."""
    from streams.store.accounts import AccountError, Accounts

    accounts = Accounts.from_settings(settings)
    if args.action in ("list", "sessions"):
        rows = accounts.users() if args.action == "list" else accounts.open_sessions(args.name)
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
        elif args.action == "list":
            for r in rows:
                print(f"{r['name']:<20} {r['role']:<11} {'enabled' if r['enabled'] else 'DISABLED':<9} "
                      f"last sign-in {_ms(r['last_login_ts'])} UTC")
        else:
            for r in rows:
                print(f"{r['user_name']:<20} since {_ms(r['created_ts'])} until {_ms(r['expires_ts'])} UTC "
                      f"from {r['address'] or '-'}")
        return 0
    try:
        if args.action == "add" and args.role == "admin" and not accounts.count_admins():
            by = "setup"  # the first admin
        else:
            by = signed_in(accounts, args.by, "users.manage").name
        if args.action == "add":
            accounts.add_user(args.name, args.role, read_password(f"Password of {args.name}: "), by=by)
        elif args.action == "passwd":
            accounts.set_password(args.name, read_password(f"New password of {args.name}: "), by=by)
        elif args.action == "role":
            accounts.set_role(args.name, args.role, by=by)
        else:
            accounts.set_enabled(args.name, args.action == "enable", by=by)
    except AccountError as exc:
        print(f"vigie user: {exc.reason}", file=sys.stderr)
        return 2
    except SignatureRefused as exc:
        print(f"vigie: {exc}", file=sys.stderr)
        return 2
    print(f"vigie user: {args.action} {args.name}: done (by {by})")
    return 0
