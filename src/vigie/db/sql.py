"""Hand-written SQL for hot paths, run on the DBAPI cursor inside SQLAlchemy's transaction.

Building and compiling SQLAlchemy statements costs more than the queries themselves on the
eligibility path; these statements are parsed once per paramstyle and executed directly.
Invariant: values cross the boundary in the form SQLAlchemy itself stores (ISO text dates on
SQLite, native types on PostgreSQL), so ORM and raw reads see the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r"(?<!:):(\w+)")


class Sql:
    """One statement written with ``:name`` placeholders."""

    def __init__(self, text: str, *, postgres_suffix: str = "") -> None:
        self.sqlite = text
        self.postgres = _NAMED.sub(r"%(\1)s", text) + postgres_suffix


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def day(conn: Connection, value: date) -> Any:
    return value if is_postgres(conn) else value.isoformat()


def moment(conn: Connection, value: datetime) -> Any:
    # SQLAlchemy's SQLite DateTime format: naive, space-separated, microseconds.
    return value if is_postgres(conn) else value.strftime("%Y-%m-%d %H:%M:%S.%f")


def fetch(conn: Connection, statement: Sql, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statement.postgres if is_postgres(conn) else statement.sqlite, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def execute(conn: Connection, statement: Sql, params: dict[str, Any]) -> None:
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statement.postgres if is_postgres(conn) else statement.sqlite, params)
    finally:
        cursor.close()


def execute_many(conn: Connection, statement: Sql, rows: Sequence[dict[str, Any]]) -> None:
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(statement.postgres if is_postgres(conn) else statement.sqlite, rows)
    finally:
        cursor.close()


def stream(
    conn: Connection, statement: Sql, params: dict[str, Any], size: int = 20_000
) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in chunks straight from the driver, inside the caller's transaction: a named
    (server-side, binary) cursor on PostgreSQL, so millions of rows never sit in memory."""
    raw: Any = conn.connection.dbapi_connection
    if is_postgres(conn):
        cursor = raw.cursor(name=f"vigie_stream_{id(statement):x}", binary=True)
        cursor.itersize = size
        cursor.execute(statement.postgres, params)
    else:
        cursor = raw.cursor()
        cursor.execute(statement.sqlite, params)
    try:
        while rows := cursor.fetchmany(size):
            yield list(rows)
    finally:
        cursor.close()
