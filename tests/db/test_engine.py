"""Transactions: reads never leave a pooled connection out of transactional mode."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from vigie.db.engine import (
    autocommit,
    autocommit_engine,
    make_engine,
    normalise_url,
    read_transaction,
    write_transaction,
)


def test_a_read_does_not_leak_autocommit_into_the_next_write(store: str) -> None:
    engine = make_engine(store, pool_size=1)
    with read_transaction(engine) as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO structures (finess, name) VALUES ('010000001', 'X')"))
        if conn.dialect.name == "postgresql":
            assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        else:
            assert conn.connection.driver_connection.in_transaction  # type: ignore[union-attr]
        conn.rollback()
    with read_transaction(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM structures")).scalar_one() == 0
    engine.dispose()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_write_on_an_autocommit_engine_is_still_one_transaction(store: str) -> None:
    """The estimates' engines and the event loop's main engine stay in autocommit; a unit of
    several statements on them must still commit whole or not at all."""
    engine = autocommit_engine(create_engine(normalise_url(store), isolation_level="AUTOCOMMIT"))
    insert = text("INSERT INTO structures (finess, name) VALUES (:f, 'X')")
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        conn.execute(insert, {"f": "010000002"})
        raise RuntimeError("the second statement fails")
    with autocommit(engine) as conn:
        conn.execute(insert, {"f": "010000003"})  # a single statement: committed on its own
    with read_transaction(engine) as conn:
        found = conn.execute(text("SELECT finess FROM structures ORDER BY finess")).scalars()
        assert list(found) == ["010000003"]
        assert conn.connection.driver_connection.autocommit is True  # type: ignore[union-attr]
    engine.dispose()


def test_autocommit_units_are_for_postgresql_only(sqlite_store: str) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"), autocommit(make_engine(sqlite_store)):
        pass
