"""Group commit for SQLite, when store calls run on the server's event loop.

Every eligibility question writes (its access-log entry at least), and on SQLite a transaction's
BEGIN IMMEDIATE, COMMIT and connection hand-over cost a fifth of a question's CPU. The questions
that arrive together (those the event loop runs in one turn) share one transaction instead.

Invariants:
- each question's work runs in a savepoint of its own: if it fails, only its part is undone,
  and it fails alone, at once;
- a question's result is handed back only after the shared COMMIT: no answer ever leaves
  for an access-log entry that is not committed; if the COMMIT fails, every question of the
  group fails with it, and nothing of the group is written;
- the group commits on the loop's next turn, so a question waits at most one turn for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from vigie.db.engine import register_group, write_lock

T = TypeVar("T")


class _Group:
    def __init__(self, conn: Connection, lock: threading.Lock | None) -> None:
        self.conn = conn
        self.lock = lock
        self.transaction = conn.begin()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.broken = False  # a savepoint could not be undone: the group must not commit
        self.busy = False  # a question's work is under way
        self.finished = False
        self.thread = threading.get_ident()


class GroupCommit:
    """Use from the event loop only (one thread): the open group is shared by its questions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._open: _Group | None = None
        register_group(engine, self)

    def commit_now(self) -> None:
        """Before another write on the group's own thread: commit the open group first."""
        group = self._open
        if group is None or group.thread != threading.get_ident():
            return  # another thread's write waits for the write lock, as usual
        if group.busy:
            raise RuntimeError("group commit: a question's work opened a transaction of its own")
        self._commit(group)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args, unit=...)``, its writes in the open group; returns once committed."""
        joined: list[asyncio.Future[None]] = []

        @contextmanager
        def unit(engine: Engine) -> Iterator[Connection]:
            if engine is not self.engine:
                raise ValueError("group commit: another engine")
            group = self._open if self._open is not None else self._start()
            joined.append(group.done)
            with _savepoint(group):
                yield group.conn

        result = func(*args, unit=unit)
        for done in joined:
            await asyncio.shield(done)
        return result

    def _start(self) -> _Group:
        lock = write_lock(self.engine)
        if lock is not None:
            lock.acquire()  # the sequencer's thread may be writing: as a lone transaction would
        conn = None
        try:
            conn = self.engine.connect()
            conn.execution_options(write=True)
            group = _Group(conn, lock)
        except BaseException:
            if conn is not None:
                conn.close()
            if lock is not None:
                lock.release()
            raise
        self._open = group
        asyncio.get_running_loop().call_soon(self._commit, group)
        return group

    def _commit(self, group: _Group) -> None:
        if group.finished:
            return  # committed early (commit_now) before its scheduled turn
        group.finished = True
        self._open = None
        try:
            if group.broken:
                raise RuntimeError("group commit: a savepoint could not be rolled back")
            group.transaction.commit()
        except Exception as exc:  # every question of the group fails with its COMMIT
            group.done.set_exception(exc)
            group.done.exception()  # retrieved: its questions raise it, if any still wait
            with contextlib.suppress(Exception):
                group.transaction.rollback()
        else:
            group.done.set_result(None)
        finally:
            group.conn.close()
            if group.lock is not None:
                group.lock.release()


@contextmanager
def _savepoint(group: _Group) -> Iterator[None]:
    raw = group.conn.connection.driver_connection
    if raw is None:
        raise RuntimeError("group commit: no driver connection")
    raw.execute("SAVEPOINT question")
    group.busy = True
    try:
        yield
    except BaseException:
        try:
            raw.execute("ROLLBACK TO question")
            raw.execute("RELEASE question")
        except Exception:
            group.broken = True
        raise
    finally:
        group.busy = False
    raw.execute("RELEASE question")
