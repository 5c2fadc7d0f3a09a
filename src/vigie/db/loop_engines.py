"""PostgreSQL connections that wait on the event loop, for the server's hottest flows.

A PostgreSQL call mostly waits (the network, a commit). Sent to a worker thread, each question
paid a hand-over there and back and the contention of a few dozen threads for the interpreter
lock: more CPU than the flow itself. Run on the event loop with a blocking driver, the process
idled through every wait. Here the flows stay plain synchronous code, run in a greenlet
(SQLAlchemy's own asyncio bridge) whose every database wait, on psycopg's asyncio connections,
lets the loop serve other requests meanwhile.

Invariant: ``main`` and ``estimates`` are used only inside ``run``; everywhere else
(commands, rarer routes in worker threads) the runtime's ordinary engine serves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from vigie.db.engine import ASYNC_COMMIT, autocommit_engine

T = TypeVar("T")


class LoopEngines:
    """The loop-waiting twins of a PostgreSQL engine: ``main`` for single statements committed
    synchronously and for transactions, ``estimates`` for single statements committed
    asynchronously (see vigie.audit.estimates). Both stay in autocommit: the common case, one
    statement, switches nothing; ``write_transaction`` switches a ``main`` connection to a
    transaction for the rarer units of several statements."""

    def __init__(self, main: Engine, pool_size: int) -> None:
        pool: Any = main.pool
        options: dict[str, Any] = {
            "pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool._timeout
        }  # fmt: skip
        self._main = create_async_engine(main.url, isolation_level="AUTOCOMMIT", **options)
        self._estimates = create_async_engine(
            main.url, isolation_level="AUTOCOMMIT", connect_args=ASYNC_COMMIT, **options
        )
        self.main: Engine = autocommit_engine(self._main.sync_engine)
        self.estimates: Engine = autocommit_engine(self._estimates.sync_engine)

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func(*args, **kwargs)`` in a greenlet: its waits on these engines return control
        to the event loop."""
        result: T = await greenlet_spawn(func, *args, **kwargs)
        return result

    async def dispose(self) -> None:
        engines: tuple[AsyncEngine, ...] = (self._main, self._estimates)
        for engine in engines:
            await engine.dispose()
