"""PostgreSQL estimates commit their log entry asynchronously, on connections of their own.

An estimate changes nothing but the log: its one statement reads the cover and inserts the entry
(see vigie.eligibility.store.COVERAGE_LOGGED), committed before the answer leaves. A synchronous
commit would wait for a WAL flush on every estimate (about 1.5 ms on the development machine,
six times the estimate itself); with ``synchronous_commit = off`` the entry is committed and
visible at once and reaches disk within three WAL-writer delays (0.6 s by default). Only a crash
of the PostgreSQL server in that window can lose estimate entries; agreements, cancellations and
imports, which change data, keep synchronous commits on the main engine.

Invariant: these connections serve only single estimate statements in autocommit, never a
transaction, and nothing that changes anything but the access log.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine, create_engine, event

from vigie.db.engine import ASYNC_COMMIT, autocommit_engine

_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def estimate_engine(main: Engine) -> Engine:
    """The asynchronous-commit twin of ``main`` (PostgreSQL), made once, disposed with it."""
    twin = _ENGINES.get(main)
    if twin is None:
        pool: Any = main.pool
        twin = autocommit_engine(
            create_engine(
                main.url,
                pool_size=pool.size(),
                max_overflow=0,
                pool_timeout=pool._timeout,
                isolation_level="AUTOCOMMIT",
                connect_args=ASYNC_COMMIT,
            )
        )
        _ENGINES[main] = twin

        @event.listens_for(main, "engine_disposed")
        def _dispose(_engine: Engine) -> None:
            twin.dispose()

    return twin
