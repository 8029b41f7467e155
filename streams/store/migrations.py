"""Versioned migrations: a `schema_migrations` table of applied versions and ordered migration functions.

A new database is created from the current `schema.metadata` and stamped with every version
(creating tables and then altering them would be slower and no more correct); an existing
database runs, in order and in one transaction, the migrations it has not applied yet. A later
migration therefore changes `schema.py` AND alters existing tables explicitly. Alembic would add
a dependency and a second source of truth for a dozen tables; this is forty lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine

from .engine import WRITE_OPTION
from .schema import commands, counters, metadata, report_contacts, schema_migrations, sessions, users

__all__ = ["MIGRATIONS", "Migration", "applied_versions", "migrate"]

_SQLITE_AUDIT = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
_POSTGRES_AUDIT = (
    "CREATE OR REPLACE FUNCTION vigie_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION vigie_audit_append_only()",
)
_MIGRATION_LOCK_KEY = 0x76696769  # "vigi"


@dataclass(frozen=True)
class Migration:
    """One schema version: its number, what it does, and the function that does it."""

    version: int
    name: str
    apply: Callable[[Connection], None]


def _append_only_audit(conn: Connection) -> None:
    for statement in _SQLITE_AUDIT if conn.dialect.name == "sqlite" else _POSTGRES_AUDIT:
        conn.exec_driver_sql(statement)


def _seed_counters(conn: Connection) -> None:
    have = set(conn.scalars(select(counters.c.name)))
    for name in ("seq", "alert_id"):
        if name not in have:
            conn.execute(counters.insert().values(name=name, value=0))


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn)
    _append_only_audit(conn)
    _seed_counters(conn)


def _v2_commands(conn: Connection) -> None:
    commands.create(conn, checkfirst=True)


def _v3_access(conn: Connection) -> None:
    for table in (users, sessions, report_contacts):
        table.create(conn, checkfirst=True)


def _v4_closed_intervals(conn: Connection) -> None:
    # The current interval of each asset is its state since last_changed: the rows that held it
    # twice go, their start kept as the asset's last_changed. An open row with no asset state stays
    # (nothing else holds it).
    conn.execute(text(
        "UPDATE asset_state SET last_changed = (SELECT i.start_ts FROM state_intervals i "
        "WHERE i.asset_id = asset_state.asset_id AND i.end_ts IS NULL) "
        "WHERE asset_id IN (SELECT asset_id FROM state_intervals WHERE end_ts IS NULL)"))
    conn.execute(text("DELETE FROM state_intervals WHERE end_ts IS NULL "
                      "AND asset_id IN (SELECT asset_id FROM asset_state)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: inventory, state, alerts, energy, health, audit, offsets, reports", _v1_initial),
    Migration(2, "commands: remote-control commands and their acknowledgement status", _v2_commands),
    Migration(3, "access: users, sessions, and citizens' contact details apart from their reports", _v3_access),
    Migration(4, "state intervals: closed ones only, the current one is the asset's state", _v4_closed_intervals),
)


def applied_versions(conn: Connection) -> set[int]:
    """Versions already applied to the database behind a connection."""
    if not inspect(conn).has_table("schema_migrations"):
        return set()
    return set(conn.scalars(select(schema_migrations.c.version)))


def migrate(engine: Engine, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Bring the database up to the latest version; return the versions applied now."""
    ordered = sorted(migrations, key=lambda m: m.version)
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        done = applied_versions(conn)
        now = int(time.time() * 1000)
        if not done and not inspect(conn).has_table("alerts"):
            _v1_initial(conn)
            todo = ordered
        else:
            schema_migrations.create(conn, checkfirst=True)
            todo = [m for m in ordered if m.version not in done]
            for m in todo:
                m.apply(conn)
        for m in todo:
            conn.execute(schema_migrations.insert().values(version=m.version, name=m.name, applied_ms=now))
        return [m.version for m in todo]
