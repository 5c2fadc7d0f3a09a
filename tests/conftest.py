"""Shared fixtures: a real store (SQLite file or PostgreSQL database), keys, runtime and client.

Tests that take ``runtime`` run once on SQLite and once on PostgreSQL (127.0.0.1:5432); each
parallel worker has its own PostgreSQL database, emptied before every test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.db.base import all_metadata
from vigie.db.engine import make_engine
from vigie.db.migrate import upgrade
from vigie.runtime import Runtime, open_runtime

PG_ADMIN = os.environ.get("VIGIE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _database_name() -> str:
    """Unique per run and worker, so that concurrent test runs never share a database."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    return f"vigie_t_{run[:10]}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@pytest.fixture(autouse=True)
def _no_outside_heads_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's heads file (or anyone's) must never collect the heads of the tests' stores."""
    monkeypatch.delenv("VIGIE_AUDIT_HEADS_FILE", raising=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated empty SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "vigie.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = _database_name()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in all_metadata().sorted_tables)
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The database URL of an empty, migrated store."""
    if request.param == "sqlite":
        path = tmp_path / "vigie.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_url")
    _empty_pg(url)
    return url


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "vigie.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path: Path, store: str) -> Settings:
    keys = tmp_path / "keys.json"
    keyfile.save(keyfile.generate(), keys)
    # The guard's own tests turn it on (tests/guard); elsewhere it would throttle the suites.
    # Small loop pools (PostgreSQL): many test apps live at once, each with its own.
    return Settings(
        database_url=store, keys=keys, token_cache_seconds=0, guard=False, db_loop_pool=4
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = open_runtime(settings, pool_size=2)
    yield rt
    rt.engine.dispose()
