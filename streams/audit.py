"""Reading the audit log: who did what and when, filtered, and exported as CSV.

The log itself is append-only (database triggers refuse UPDATE and DELETE, see
`streams.store.migrations`); this module only reads it. Filters: the actor, a category of
actions (sign-ins, alerts, commands, users, refusals, exports), a time range, a text found in
the target or the detail, and whether to leave out what the processor did on its own (`system`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.engine import Engine

from streams.store.schema import audit_log

__all__ = ["CATEGORIES", "AuditFilter", "audit_csv", "query_audit"]

# category -> the action prefixes it gathers
CATEGORIES: dict[str, tuple[str, ...]] = {
    "login": ("login.", "logout"),
    "alert": ("alert.",),
    "command": ("command.", "confirm."),
    "user": ("user.",),
    "denied": ("denied",),
    "export": ("export",),
    "privacy": ("privacy.",),
}
MAX_ROWS = 5000
_TZ = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class AuditFilter:
    """What to read from the audit log (every field optional)."""

    actor: str | None = None
    category: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    text: str | None = None
    people_only: bool = False
    limit: int = MAX_ROWS

    @classmethod
    def from_args(cls, args) -> "AuditFilter":
        """A filter from query-string-like arguments (strings, possibly empty)."""
        def num(key):
            value = (args.get(key) or "").strip()
            return int(value) if value.lstrip("-").isdigit() else None

        category = (args.get("category") or "").strip() or None
        return cls(actor=(args.get("actor") or "").strip() or None,
                   category=category if category in CATEGORIES else None,
                   since_ms=num("since"), until_ms=num("until"), text=(args.get("text") or "").strip() or None,
                   people_only=(args.get("people") or "") in ("1", "true", "on"))

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for the export link)."""
        out = {"actor": self.actor, "category": self.category, "since": self.since_ms, "until": self.until_ms,
               "text": self.text, "people": "1" if self.people_only else None}
        return {k: str(v) for k, v in out.items() if v not in (None, "")}


def query_audit(engine: Engine, wanted: AuditFilter = AuditFilter()) -> list[dict]:
    """Audit rows matching the filter, newest first (at most `wanted.limit`)."""
    a = audit_log
    clauses = []
    if wanted.actor:
        clauses.append(a.c.actor == wanted.actor)
    if wanted.category:
        clauses.append(or_(*[a.c.action.startswith(p) for p in CATEGORIES[wanted.category]]))
    if wanted.since_ms is not None:
        clauses.append(a.c.ts >= wanted.since_ms)
    if wanted.until_ms is not None:
        clauses.append(a.c.ts < wanted.until_ms)
    if wanted.text:
        like = f"%{wanted.text.lower()}%"
        clauses.append(or_(a.c.target.ilike(like), cast(a.c.detail, String).ilike(like), a.c.action.ilike(like)))
    if wanted.people_only:
        clauses.append(a.c.actor != "system")
    stmt = select(a).where(and_(*clauses)) if clauses else select(a)
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(a.c.id.desc()).limit(max(1, min(wanted.limit, MAX_ROWS))))
        return [dict(r._mapping) for r in rows]


def local_time(ts_ms: int) -> str:
    """An audit time in Dijon's time zone, to the second."""
    return datetime.fromtimestamp(ts_ms / 1000, _TZ).strftime("%Y-%m-%d %H:%M:%S")


def audit_csv(rows: list[dict]) -> str:
    """The rows as CSV: id, UTC milliseconds, local time, actor, action, target, detail (JSON)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "ts_ms", "time_europe_paris", "actor", "action", "target", "detail"])
    for r in rows:
        detail = r.get("detail")
        if isinstance(detail, str):
            text = detail
        else:
            text = orjson.dumps(detail).decode() if detail is not None else ""
        writer.writerow([r["id"], r["ts"], local_time(r["ts"]), r["actor"], r["action"], r["target"], text])
    return out.getvalue()
