"""Bulk writes: COPY on PostgreSQL, executemany on SQLite; both inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Table, bindparam, column, insert, table, text

BATCH = 20_000

Phase = Callable[[str, int], None]


def copy_rows(
    conn: Connection,
    table_name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    progress: Phase | None = None,
) -> None:
    """Write ``rows`` through a ``row_sink``, reporting progress every BATCH rows."""
    if not rows:
        return
    with row_sink(conn, table_name, columns) as sink:
        for done, row in enumerate(rows, 1):
            sink.write(row)
            if progress and done % BATCH == 0:
                progress(f"write:{table_name}", done)
    if progress:
        progress(f"write:{table_name}", len(rows))


def update_rows(conn: Connection, target: Table, values: list[dict[str, Any]]) -> None:
    """Update rows by primary key; each dict holds ``id`` and the new column values."""
    if not values:
        return
    columns = [k for k in values[0] if k != "id"]
    statement = (
        target.update()
        .where(target.c.id == bindparam("v_id"))
        .values({c: bindparam(f"v_{c}") for c in columns})
    )
    conn.execute(statement, [{f"v_{k}": v for k, v in row.items()} for row in values])


class RowSink:
    """Rows written as they come: a COPY stream on PostgreSQL, batched inserts on SQLite."""

    def __init__(self, write: Callable[[Sequence[Any]], None]) -> None:
        self.write = write


@contextmanager
def row_sink(conn: Connection, table_name: str, columns: Sequence[str]) -> Iterator[RowSink]:
    """Leaving the block normally flushes everything; leaving on an error writes nothing more."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{c}"' for c in columns)
        raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
        with raw.cursor() as cursor, cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
            yield RowSink(copy.write_row)
        return
    buffer: list[Sequence[Any]] = []
    statement = insert(table(table_name, *(column(c) for c in columns)))

    def flush() -> None:
        conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in buffer])
        buffer.clear()

    def write(row: Sequence[Any]) -> None:
        buffer.append(row)
        if len(buffer) >= BATCH:
            flush()

    yield RowSink(write)
    if buffer:
        flush()


def id_reserver(side: Connection, table_name: str) -> Callable[[], int]:
    """Ids handed out before rows are written, read on a connection beside the write stream.

    PostgreSQL sequences are outside transactions; on SQLite the writer holds the only write
    lock, so the maximum id it reads cannot move under it.
    """
    if side.dialect.name == "postgresql":
        pool: list[int] = []
        query = text("SELECT nextval(:seq) FROM generate_series(1, 10000)")

        def next_pg() -> int:
            if not pool:
                rows = side.execute(query, {"seq": f"{table_name}_id_seq"})
                pool.extend(reversed([r[0] for r in rows]))
            return pool.pop()

        return next_pg
    last = [int(side.execute(text(f"SELECT coalesce(max(id), 0) FROM {table_name}")).scalar_one())]  # noqa: S608

    def next_sqlite() -> int:
        last[0] += 1
        return last[0]

    return next_sqlite
