"""PostgreSQL connections that wait on the event loop, for the server's hottest flows.

A PostgreSQL call mostly waits (the network, a commit). Sent to a worker thread, each question
paid a hand-over there and back and the contention of a few dozen threads for the interpreter
lock: more CPU than the flow itself. Run on the event loop with a blocking driver, the process
idled through every wait. Here the flows stay plain synchronous code, run in a greenlet
(SQLAlchemy's own asyncio bridge) whose every database wait, on psycopg's asyncio connections,
lets the loop serve other requests meanwhile.

The two commonest questions, a card estimate and a card agreement prepared ahead, are one
statement each: for them SQLAlchemy's bridge (a greenlet, its pool, its cursor wrappers) cost as
much CPU as psycopg itself, so they run as plain coroutines on psycopg's own pools
(``fetch``: see vigie.eligibility.on_loop), and the greenlet engines
serve the rest (locking transactions, card-less questions).

Invariant: ``main`` and ``estimates`` are used only inside ``run``, the pools only through
``fetch``; everywhere else (commands, rarer routes in worker threads) the runtime's ordinary
engine serves. The pools' connections are in autocommit: one statement, one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from vigie.db.engine import ASYNC_COMMIT, autocommit_engine
from vigie.db.sql import Sql

T = TypeVar("T")

# The greenlet engines serve only the rarer flows: a few connections each.
GREENLET_POOL = 8

Pool = Literal["main", "estimates"]


class LoopEngines:
    """The loop-waiting twins of a PostgreSQL engine: ``main`` for single statements committed
    synchronously and for transactions, ``estimates`` for single statements committed
    asynchronously (see vigie.audit.estimates). Both stay in autocommit: the common case, one
    statement, switches nothing; ``write_transaction`` switches a ``main`` connection to a
    transaction for the rarer units of several statements."""

    def __init__(self, main: Engine, pool_size: int) -> None:
        pool: Any = main.pool
        timeout = float(pool._timeout)
        options: dict[str, Any] = {
            "pool_size": min(pool_size, GREENLET_POOL), "max_overflow": 0, "pool_timeout": timeout
        }  # fmt: skip
        self._main = create_async_engine(main.url, isolation_level="AUTOCOMMIT", **options)
        self._estimates = create_async_engine(
            main.url, isolation_level="AUTOCOMMIT", connect_args=ASYNC_COMMIT, **options
        )
        self.main: Engine = autocommit_engine(self._main.sync_engine)
        self.estimates: Engine = autocommit_engine(self._estimates.sync_engine)
        conninfo = main.url.set(drivername="postgresql").render_as_string(hide_password=False)
        sizes: dict[str, Any] = {"min_size": 1, "max_size": pool_size, "timeout": timeout}
        self._pool_options: dict[Pool, dict[str, Any]] = {
            "main": {"conninfo": conninfo, "kwargs": {"autocommit": True}, **sizes},
            "estimates": {
                "conninfo": conninfo, "kwargs": {"autocommit": True, **ASYNC_COMMIT}, **sizes
            },
        }  # fmt: skip
        # Made and opened on first use, on the loop that uses them; a closed pool cannot
        # reopen, so ``dispose`` forgets them (an application may be started again under test).
        self._pools: dict[Pool, AsyncConnectionPool] = {}

    async def fetch(
        self, pool: Pool, statement: Sql, params: dict[str, Any]
    ) -> list[tuple[Any, ...]]:
        """One statement (its own transaction, autocommit) on a connection of ``pool``:
        ``main`` commits synchronously, ``estimates`` asynchronously."""
        found = self._pools.get(pool)
        if found is None:
            found = self._pools[pool] = AsyncConnectionPool(
                open=False, name=f"vigie-{pool}", **self._pool_options[pool]
            )
        if found.closed:  # opened once, not on every statement (open() takes the pool's lock)
            await found.open()
        conn = await found.getconn()
        try:
            cursor = await conn.execute(statement.postgres, params)
            return await cursor.fetchall()
        finally:
            await found.putconn(conn)

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` in a greenlet: its waits on these engines return control
        to the event loop."""
        result: T = await greenlet_spawn(func, *args, **kwargs)
        return result

    async def dispose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.close()
        engines: tuple[AsyncEngine, ...] = (self._main, self._estimates)
        for engine in engines:
            await engine.dispose()
