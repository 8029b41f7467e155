"""Citizens' personal data: contact details kept apart from their reports, read by few, deleted on time.

A report's contact (name, email, phone) arrives on the incident event; the processor writes it to
`report_contacts` and never to `reports`, alerts or the audit log. Only the roles holding
`contacts.view` read it (`streams.access`), and every read by the room is audited. After the
retention period (`VIGIE_CONTACT_RETENTION_DAYS`, 90 by default) the processor deletes it
(`purge_contacts`, also `vigie privacy purge`), with one audit row saying how many. The recorder
drops contacts from what it records (`scrub_contact`): training material holds none.
"""

from __future__ import annotations

import argparse
import time

import orjson

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from streams.config import Settings
from streams.store.engine import WRITE_OPTION
from streams.store.schema import audit_log, report_contacts
from streams.store.store import write_contacts

__all__ = ["PURGE_EVERY_S", "add_arguments", "contact_of", "contact_rows", "purge_contacts", "run", "scrub_contact",
           "write_contacts"]

PURGE_EVERY_S = 3600  # how often the processor runs the retention purge


_CONTACT_MARK = b'"contact_'


def scrub_contact(value: bytes | None) -> bytes | None:
    """An event's bytes without the reporter's contact fields (recordings keep no personal data).

    Events without a contact come back as they are, byte for byte; others are re-encoded without
    their `contact_*` keys (bytes that are not a JSON object are left to the validator downstream).
    """
    if not value or _CONTACT_MARK not in value:
        return value
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(event, dict):
        return value
    return orjson.dumps({k: v for k, v in event.items() if not k.startswith("contact_")})


def contact_rows(events) -> list[dict]:
    """`report_contacts` rows of the incident reports among events that carry a contact."""
    rows = []
    for event in events:
        contact = getattr(event, "contact", None)
        if contact:
            rows.append({"report_id": event.asset_id, "received_ts": event.ts, **contact})
    return rows


def contact_of(engine: Engine, report_id: str) -> dict | None:
    """A report's contact (name, email, phone, received_ts), None when there is none (or no longer)."""
    with engine.connect() as conn:
        row = conn.execute(select(report_contacts).where(report_contacts.c.report_id == report_id)).first()
    return dict(row._mapping) if row else None


def purge_contacts(engine: Engine, retention_days: float, *, now_ms: int | None = None,
                   actor: str = "system") -> int:
    """Delete contacts received before the retention period; audit how many. Returns the count."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    cutoff = now - int(retention_days * 86_400_000)
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        old = conn.execute(delete(report_contacts).where(report_contacts.c.received_ts < cutoff)).rowcount
        if old:
            conn.execute(audit_log.insert().values(ts=now, actor=actor, action="privacy.purge", target="report_contacts",
                                                   detail={"deleted": old, "retention_days": retention_days}))
    return old


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`vigie privacy purge [--days N]`."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    purge = sub.add_parser("purge", help="delete citizens' contact details older than the retention period")
    purge.add_argument("--days", type=float, default=None,
                       help="retention in days (default VIGIE_CONTACT_RETENTION_DAYS, 90)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the purge now on the settings' store."""
    from streams.store import open_store

    days = args.days if args.days is not None else settings.contact_retention_days
    if days < 0:
        print("vigie privacy: the retention must be zero or more days")
        return 2
    deleted = purge_contacts(open_store(settings).engine, days, actor="cli")
    print(f"vigie privacy: {deleted} contact(s) older than {days:g} days deleted")
    return 0
