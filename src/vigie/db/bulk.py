"""Bulk writes: COPY on PostgreSQL, executemany on SQLite; both inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Table, bindparam, column, insert, table

BATCH = 20_000

Phase = Callable[[str, int], None]


def copy_rows(
    conn: Connection,
    table_name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    progress: Phase | None = None,
) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _pg_copy(conn, table_name, columns, rows, progress)
        return
    statement = insert(table(table_name, *(column(c) for c in columns)))
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in batch])
        if progress:
            progress(f"write:{table_name}", start + len(batch))


def _pg_copy(
    conn: Connection,
    table_name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    progress: Phase | None,
) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table_name} ({names}) FROM STDIN") as copy:
        for done, row in enumerate(rows, 1):
            copy.write_row(row)
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
