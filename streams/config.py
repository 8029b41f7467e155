"""Settings read once at the entry point and passed down as a frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

__all__ = ["DEFAULT_BROKER_PORT", "Settings"]

DEFAULT_BROKER_PORT = 19092


@dataclass(frozen=True)
class Settings:
    """Everything a component needs to know about where it runs."""

    kafka_bootstrap: str = f"127.0.0.1:{DEFAULT_BROKER_PORT}"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str | None = None
    namespace: str = "live"
    max_future_s: float = 600.0
    command_timeout_s: float = 30.0
    commit_interval_s: float = 3.0  # behind the logs, the processor commits its applied steps this often
    session_hours: float = 12.0  # a signed-in browser's lifetime: one shift
    secure_cookies: bool = False  # behind TLS: cookies only over HTTPS
    contact_retention_days: float = 90.0  # citizens' contact details are deleted after this

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build the settings from environment variables (`KAFKA_BOOTSTRAP`, `VIGIE_*`)."""
        env = os.environ if environ is None else environ
        base = cls()
        return cls(
            kafka_bootstrap=env.get("KAFKA_BOOTSTRAP", base.kafka_bootstrap),
            data_dir=Path(env.get("VIGIE_DATA_DIR", str(base.data_dir))),
            database_url=env.get("VIGIE_DATABASE_URL") or None,
            namespace=env.get("VIGIE_NAMESPACE", base.namespace),
            max_future_s=float(env.get("VIGIE_MAX_FUTURE_S", base.max_future_s)),
            command_timeout_s=float(env.get("VIGIE_COMMAND_TIMEOUT_S", base.command_timeout_s)),
            commit_interval_s=float(env.get("VIGIE_COMMIT_INTERVAL_S", base.commit_interval_s)),
            session_hours=float(env.get("VIGIE_SESSION_HOURS", base.session_hours)),
            secure_cookies=env.get("VIGIE_SECURE_COOKIES", "0").lower() in ("1", "true", "yes"),
            contact_retention_days=float(env.get("VIGIE_CONTACT_RETENTION_DAYS", base.contact_retention_days)),
        )

    def with_(self, **changes) -> "Settings":
        """Return a copy with some fields changed (command-line flags win over the environment)."""
        return replace(self, **changes)

    @property
    def inventory_dir(self) -> Path:
        """Folder holding the inventory GeoParquet files."""
        return self.data_dir / "inventory"

    @property
    def store_url(self) -> str:
        """SQLAlchemy URL of the operational store: PostgreSQL if given, else SQLite under the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigie.db').resolve()}"
