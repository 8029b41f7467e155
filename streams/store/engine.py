"""One SQLAlchemy engine per process and store URL: SQLite in WAL mode with a busy timeout, or PostgreSQL."""

from __future__ import annotations

import os
import threading

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine, create_engine, make_url

__all__ = ["BUSY_TIMEOUT_MS", "dispose_engines", "get_engine", "is_sqlite", "normalise_url"]

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "vigie_write"

_engines: dict[tuple[str, str | None], Engine] = {}
_lock = threading.Lock()
_pid = os.getpid()


def _dumps(value) -> str:
    return orjson.dumps(value).decode()


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain `postgresql://` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine: Engine) -> bool:
    """True when the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    engine = create_engine(
        url, json_serializer=_dumps, json_deserializer=orjson.loads,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself, so writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")  # BUSY_TIMEOUT_MS
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-32768")  # 32 MB: the live state's B-trees stay in memory
        # Checkpoint the WAL every 64 MB (16,384 pages) rather than every 4 MB: a processor batch
        # rewrites thousands of rows, and a checkpoint (with its fsync) after nearly every commit
        # cost more than the batch's own writes. Durability is unchanged (WAL, synchronous=NORMAL).
        cur.execute("PRAGMA wal_autocheckpoint=16384")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # A deferred transaction that reads then writes fails at once when another writer holds
        # the lock (the busy timeout does not apply): writers begin IMMEDIATE and wait instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")

    return engine


def _postgres_engine(url: str, schema: str | None) -> Engine:
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(
        url, json_serializer=_dumps, json_deserializer=orjson.loads, pool_pre_ping=True,
        pool_size=5, max_overflow=5, connect_args=connect_args,
    )


def get_engine(url: str, *, schema: str | None = None) -> Engine:
    """The engine of a store URL (and PostgreSQL schema), created once per process and reused."""
    global _pid
    url = normalise_url(url)
    with _lock:
        if os.getpid() != _pid:  # a forked child must not share its parent's connections
            for engine in _engines.values():
                engine.dispose(close=False)
            _engines.clear()
            _pid = os.getpid()
        key = (url, schema)
        engine = _engines.get(key)
        if engine is None:
            engine = _sqlite_engine(url) if url.startswith("sqlite") else _postgres_engine(url, schema)
            _engines[key] = engine
        return engine


def dispose_engines() -> None:
    """Close every engine of this process (tests, shutdown)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
