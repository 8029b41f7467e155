"""Fixtures of the stream tests: a throwaway PostgreSQL, stores on both backends, small inventories.

The Kafka tests use the session's one embedded broker, `embedded_broker` (tests/conftest.py).
PostgreSQL comes from Debian's `postgresql` package: initdb into a temporary folder and
pg_ctl on a free port of 127.0.0.1, as the `postgres` user when the tests run as root.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from streams.bench import synthetic_inventory
from streams.broker import free_port
from streams.store import Store, dispose_engines

_schemas = itertools.count(1)


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server started for this test session (fails if the package is missing)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: the PostgreSQL tests need Debian's `postgresql` package "
                    "(apt-get install -y postgresql; CI installs it from .ci/system-deps)", pytrace=False)
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
            user = "postgres"
        except KeyError:
            pytest.fail("running as root without a `postgres` user to run the PostgreSQL server "
                        "(the `postgresql` package creates it)", pytrace=False)
    root = tempfile.mkdtemp(prefix="vigie-pg-")
    data = os.path.join(root, "data")
    if user:
        shutil.chown(root, user)
    port = free_port()
    subprocess.run(_as_user([f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--no-sync"], user), check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    subprocess.run(_as_user([f"{bindir}/pg_ctl", "-D", data, "-o", options, "-l", os.path.join(root, "log"),
                             "-w", "-t", "60", "start"], user), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        dispose_engines()
        subprocess.run(_as_user([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], user),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Store:
    """A fresh, migrated store on SQLite (a file) or PostgreSQL (a schema of its own)."""
    if request.param == "sqlite":
        yield Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        yield Store.from_url(url, schema=f"t{os.getpid()}_{next(_schemas)}")


@pytest.fixture
def sqlite_store(tmp_path) -> Store:
    """A fresh SQLite store."""
    return Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")


@pytest.fixture
def small_inventory():
    """80 lamps behind 2 cabinets, 3 signals, 3 cameras and 2 weather stations."""
    return synthetic_inventory(80, signals=3, cameras=3, weather=2)


@pytest.fixture
def start_ms() -> int:
    """An hour boundary two days ago: events there are valid and in the past."""
    return (int(time.time() * 1000) - 2 * 86_400_000) // 3_600_000 * 3_600_000


@pytest.fixture
def engine_bug_on_cam_002(monkeypatch):
    """The alert engine fails on the first event of CAM-002 (a bug on one asset); returns the error text."""
    from streams.rules_engine import AlertEngine

    new_record = AlertEngine._new_record

    def broken(self, event, kind):
        if event.asset_id == "CAM-002":
            raise RuntimeError("a bug on one asset")
        return new_record(self, event, kind)

    monkeypatch.setattr(AlertEngine, "_new_record", broken)
    return "a bug on one asset"
