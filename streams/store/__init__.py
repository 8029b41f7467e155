"""The operational store: schema, migrations and the data-access API (SQLite by default, PostgreSQL by URL)."""

from .engine import dispose_engines, get_engine
from .migrations import MIGRATIONS, Migration, migrate
from .store import (
    ACTIVE_STATES,
    AlertNotFound,
    BatchWrite,
    Changes,
    InvalidTransition,
    OffsetConflict,
    Store,
    open_store,
    store_location,
)

__all__ = [
    "ACTIVE_STATES",
    "MIGRATIONS",
    "AlertNotFound",
    "BatchWrite",
    "Changes",
    "InvalidTransition",
    "Migration",
    "OffsetConflict",
    "Store",
    "dispose_engines",
    "get_engine",
    "migrate",
    "open_store",
    "store_location",
]
