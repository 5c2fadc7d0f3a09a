"""Engine construction. SQLite runs in WAL mode with explicit BEGIN so that a transaction whose
first statement is a write takes the write lock before it reads anything."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; the old psycopg2 driver is not a dependency."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_engine(url: str, *, pool_size: int = 8, wait_seconds: float = 30.0) -> Engine:
    """``wait_seconds`` bounds how long a call waits for a connection or for SQLite's write
    lock: long for commands, short for a server, which had better answer 503 than hang."""
    url = normalise_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, pool_size=pool_size, wait_seconds=wait_seconds)
    # No overflow: a connection opened and closed per request costs more than waiting for one.
    return create_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=wait_seconds)


def _sqlite_engine(url: str, *, pool_size: int, wait_seconds: float) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=wait_seconds,
        connect_args={"check_same_thread": False, "timeout": wait_seconds},
    )
    _WRITE_LOCKS[engine] = threading.Lock()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(wait_seconds * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write transaction takes the lock up front, so it never fails half-way on a snapshot.
        immediate = connection.get_execution_options().get("write", False)
        # Straight to the driver: SQLAlchemy's execution machinery costs more than BEGIN itself.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# SQLite has one writer at a time. Threads of one process queue on a lock (a prompt hand-over)
# rather than in SQLite's busy handler, which sleeps in growing steps; processes still use it.
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


class Group(Protocol):
    def commit_now(self) -> None: ...


# Group commits (vigie.db.group_commit) open on each engine: another write on the thread that
# holds one's SQLite write lock has it committed first, rather than wait for that lock forever.
_GROUPS: weakref.WeakKeyDictionary[Engine, weakref.WeakSet[Group]] = weakref.WeakKeyDictionary()


def register_group(engine: Engine, group: Group) -> None:
    _GROUPS.setdefault(engine, weakref.WeakSet()).add(group)


def write_lock(engine: Engine) -> threading.Lock | None:
    """The lock a SQLite engine's writing threads take before BEGIN IMMEDIATE; None: none."""
    return _WRITE_LOCKS.get(engine)


# PostgreSQL engines made with isolation_level="AUTOCOMMIT" (estimates' engines, the loop's
# main engine): their connections stay in autocommit rather than be switched at each checkout;
# write_transaction switches them to a transaction instead.
_AUTOCOMMIT: weakref.WeakSet[Engine] = weakref.WeakSet()


def autocommit_engine(engine: Engine) -> Engine:
    """Declare ``engine`` (created with isolation_level="AUTOCOMMIT") as such."""
    _AUTOCOMMIT.add(engine)
    return engine


# Connection options of the engines whose commits do not wait for the WAL flush (PostgreSQL
# estimates: see vigie.audit.estimates).
ASYNC_COMMIT = {"options": "-c synchronous_commit=off"}


# Where a unit of work runs: write_transaction, or a group commit's share of one.
Unit = Callable[[Engine], AbstractContextManager[Connection]]


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work that will write: committed whole on success, rolled back on any error
    (on an autocommit engine too: its connection is switched to a transaction for the while)."""
    for group in list(_GROUPS.get(engine, ())):
        group.commit_now()
    lock = write_lock(engine)
    with lock if lock is not None else nullcontext(), engine.connect() as conn:
        if engine in _AUTOCOMMIT:  # the server's own default level, as a real transaction
            level = conn.default_isolation_level or "READ COMMITTED"
            conn.execution_options(write=True, isolation_level=level)
        else:
            conn.execution_options(write=True)
        with conn.begin():
            yield conn


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """Reads that change nothing. SQLite: one snapshot that neither waits for nor blocks a
    writer (WAL). PostgreSQL: autocommit, each statement reading committed data, which saves
    the BEGIN and COMMIT round trips (a third of an estimate's time)."""
    if engine.dialect.name == "postgresql":
        with autocommit(engine) as conn:
            yield conn
        return
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """PostgreSQL: each statement is its own transaction, committed when it returns; no BEGIN
    or COMMIT round trip. For units of work that are a single statement."""
    if engine.dialect.name != "postgresql":
        raise ValueError("autocommit units are for PostgreSQL")
    with engine.connect() as conn:
        if engine not in _AUTOCOMMIT:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        with conn.begin():
            yield conn


def checkpoint_in_background(engine: Engine, *, pages: int = 100_000) -> Callable[[], None]:
    """For a busy SQLite server: move WAL checkpoints off the request path.

    Requests' own commits checkpoint only past ``pages`` (a safety net); the returned function,
    called about once a second by the server, checkpoints without blocking writers (PASSIVE).
    """

    @event.listens_for(engine, "connect")
    def _later_checkpoints(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")

    engine.dispose()  # pooled connections were opened without the setting

    def checkpoint() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    return checkpoint
