"""The operational store's tables, declared once in SQLAlchemy Core for SQLite and PostgreSQL.

Every timestamp is an integer of epoch milliseconds (UTC), like the events; every change an
operator or the processor makes carries `seq`, a value of one global, increasing counter, so a
reader can ask what changed since the last value it saw.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    literal,
    select,
    union_all,
)

__all__ = [
    "ALL_TABLES",
    "alert_transitions",
    "alerts",
    "all_intervals",
    "asset_state",
    "assets",
    "audit_log",
    "commands",
    "communes",
    "consumer_offsets",
    "counters",
    "energy_hourly",
    "interventions",
    "metadata",
    "report_contacts",
    "reports",
    "schema_migrations",
    "sessions",
    "state_intervals",
    "stream_health",
    "users",
]

metadata = MetaData()
Ms = BigInteger

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("applied_ms", Ms, nullable=False),
)

counters = Table(
    "counters", metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

communes = Table(
    "communes", metadata,
    Column("code", String(10), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("population", Integer),
    Column("approximate", Boolean, nullable=False, default=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("geometry", Text),  # GeoJSON of the boundary
)

assets = Table(
    "assets", metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("commune_code", String(10)),
    Column("name", String(200)),
    Column("lon", Float),
    Column("lat", Float),
    Column("cabinet_id", String(64)),
    Column("period_s", Integer),
    Column("attributes", JSON),
    Index("ix_assets_kind", "kind"),
    Index("ix_assets_cabinet", "cabinet_id"),
)

asset_state = Table(
    "asset_state", metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("attributes", JSON),
    Column("faults", JSON),  # rule ids whose condition is active on the asset
    Column("last_changed", Ms, nullable=False),
    Column("last_updated", Ms, nullable=False),
    Column("last_seen", Ms, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Index("ix_asset_state_seq", "seq"),
)

# Closed state intervals. An asset's current interval is not stored twice: it is its state in
# asset_state since last_changed (`all_intervals` gives both).
state_intervals = Table(
    "state_intervals", metadata,
    Column("asset_id", String(64), primary_key=True),
    Column("start_ts", Ms, primary_key=True, autoincrement=False),
    Column("end_ts", Ms),
    Column("state", String(20), nullable=False),
    Index("ix_state_intervals_start", "start_ts"),
)

alerts = Table(
    "alerts", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("rule", String(60), nullable=False),
    Column("asset_id", String(64), nullable=False),
    Column("domain", String(30), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("priority", String(2)),
    Column("state", String(15), nullable=False),
    Column("title", String(200), nullable=False),
    Column("opened_ts", Ms, nullable=False),
    Column("last_ts", Ms, nullable=False),
    Column("due_ts", Ms),
    Column("acknowledged_ts", Ms),
    Column("acknowledged_by", String(64)),
    Column("in_progress_ts", Ms),
    Column("assigned_team", String(64)),
    Column("resolved_ts", Ms),
    Column("resolved_by", String(64)),
    Column("closed_ts", Ms),
    Column("closed_by", String(64)),
    Column("parent_id", BigInteger),
    Column("count", Integer, nullable=False, default=1),
    Column("flapping", Boolean, nullable=False, default=False),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("lat", Float),
    Column("lon", Float),
    Column("commune_code", String(10)),
    Column("details", JSON),
    Column("seq", BigInteger, nullable=False),
    Index("ix_alerts_state", "state"),
    Index("ix_alerts_seq", "seq"),
    Index("ix_alerts_rule_asset", "rule", "asset_id"),
    Index("ix_alerts_parent", "parent_id"),
)

alert_transitions = Table(
    "alert_transitions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, ForeignKey("alerts.id"), nullable=False),
    Column("action", String(20), nullable=False),
    Column("from_state", String(15)),
    Column("to_state", String(15), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("ts", Ms, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("comment", Text),
    Column("seq", BigInteger, nullable=False),
    Index("ix_alert_transitions_alert", "alert_id"),
    Index("ix_alert_transitions_seq", "seq"),
)

interventions = Table(
    "interventions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, ForeignKey("alerts.id"), nullable=False),
    Column("team", String(64), nullable=False),
    Column("opened_ts", Ms, nullable=False),
    Column("opened_by", String(64), nullable=False),
    Column("closed_ts", Ms),
    Column("comment", Text),
    Index("ix_interventions_alert", "alert_id"),
)

energy_hourly = Table(
    "energy_hourly", metadata,
    Column("cabinet_id", String(64), primary_key=True),
    Column("hour_ts", Ms, primary_key=True, autoincrement=False),
    Column("kwh", Float, nullable=False, default=0.0),  # the cabinet's own meter
    Column("lamp_kwh", Float, nullable=False, default=0.0),  # sum of its lamps' meters
    Column("readings", Integer, nullable=False, default=0),
    Index("ix_energy_hour", "hour_ts"),
)

stream_health = Table(
    "stream_health", metadata,
    Column("topic", String(120), primary_key=True),
    Column("events", BigInteger, nullable=False, default=0),
    Column("rate", Float, nullable=False, default=0.0),  # events per second, recent
    Column("lag", BigInteger, nullable=False, default=0),
    Column("last_event_ts", Ms),
    Column("dead_letters", BigInteger, nullable=False, default=0),
    Column("updated_ms", Ms, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", Ms, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(120), nullable=False),
    Column("detail", JSON),
    Index("ix_audit_ts", "ts"),
)

consumer_offsets = Table(
    "consumer_offsets", metadata,
    Column("group_id", String(120), primary_key=True),
    Column("topic", String(120), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_ms", Ms, nullable=False),
)

reports = Table(
    "reports", metadata,
    Column("report_id", String(64), primary_key=True),
    Column("category", String(40), nullable=False),
    Column("source", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("description", Text),
    Column("address", String(200)),
    Column("external_id", String(200)),
    Column("asset_ref", String(64)),
    Column("requested_ts", Ms, nullable=False),
    Column("updated_ts", Ms, nullable=False),
    Column("alert_id", BigInteger),
    Column("fused", Boolean, nullable=False, default=False),
    Column("seq", BigInteger, nullable=False),
    Index("ix_reports_alert", "alert_id"),
)

commands = Table(
    "commands", metadata,
    Column("command_id", String(64), primary_key=True),
    Column("action", String(20), nullable=False),
    Column("level", Float),
    Column("targets", JSON, nullable=False),
    Column("scope", String(120), nullable=False),
    Column("count", Integer, nullable=False, default=0),
    Column("user", String(64), nullable=False),
    Column("confirmed_by", String(64)),
    Column("reason", String(500), nullable=False),
    Column("namespace", String(40), nullable=False),
    Column("sent_ts", Ms, nullable=False),
    Column("expires_at", Ms, nullable=False),
    # pending | accepted | done | failed | rejected | timed_out | expired
    Column("status", String(12), nullable=False),
    Column("applied", Integer, nullable=False, default=0),
    Column("detail", String(200)),
    Column("ack_ts", Ms),
    Column("seq", BigInteger, nullable=False),
    Index("ix_commands_status", "status"),
    Index("ix_commands_user_sent", "user", "sent_ts"),
    Index("ix_commands_seq", "seq"),
)

# a citizen's contact details, apart from the report: read only by the roles that call back,
# deleted after the retention period (`streams.privacy`)
report_contacts = Table(
    "report_contacts", metadata,
    Column("report_id", String(64), primary_key=True),
    Column("name", String(200)),
    Column("email", String(200)),
    Column("phone", String(40)),
    Column("received_ts", Ms, nullable=False),
    Index("ix_report_contacts_received", "received_ts"),
)

# the people who sign in: a role each (`streams.access`), an Argon2 hash, never a password
users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_ts", Ms, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("password_ts", Ms, nullable=False),
    Column("last_login_ts", Ms),
)

# signed-in browsers: the SHA-256 of the cookie's token (a stolen table opens no session)
sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_name", String(64), ForeignKey("users.name"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_ts", Ms, nullable=False),
    Column("expires_ts", Ms, nullable=False),
    Column("ended_ts", Ms),
    Column("address", String(64)),
    Index("ix_sessions_user", "user_name"),
)

ALL_TABLES = tuple(metadata.sorted_tables)


def all_intervals():
    """Every asset's state intervals, its current one included (`end_ts` None), as a subquery of
    `asset_id, start_ts, end_ts, state`: the closed ones of `state_intervals` and the state each
    asset has been in since `asset_state.last_changed`."""
    closed = select(state_intervals.c.asset_id, state_intervals.c.start_ts, state_intervals.c.end_ts,
                    state_intervals.c.state)
    current = select(asset_state.c.asset_id, asset_state.c.last_changed.label("start_ts"),
                     literal(None, Ms).label("end_ts"), asset_state.c.state)
    return union_all(closed, current).subquery("all_intervals")
