"""Transactions: reads never leave a pooled connection out of transactional mode."""

from __future__ import annotations

from sqlalchemy import text

from vigie.db.engine import make_engine, read_transaction, write_transaction


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
