"""The leaves of a range and their entries, chunk by chunk, as parallel columns: what the scan
re-hashes and compares.

On PostgreSQL each chunk takes two plain statements: the chunk's leaves, then the entries they
name, read by a range of ids (the log is appended in id order, so the range holds little else)
and paired with their leaves here. Joining in the database probed the entries' index once per
leaf, which cost more than all the hashing. The database computes nothing of a leaf: it returns
the stored columns, and the verifier pairs and re-hashes them itself.
On SQLite the leaves and entries are read joined: there, the join is cheap.

Invariant: a chunk's ``recomputed[i]`` is the leaf hash of the stored entry whose id is
``entry_ids[i]``, or None when no such entry is stored; leaves come in ``leaf_index`` order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from vigie.audit.log import ENTRY_COLUMNS, leaf_entries
from vigie.db.sql import Sql, is_postgres, stream

CHUNK = 32_768  # leaves; a multiple of the tree's blocks
SPREAD = 4  # entries read by range while their ids span at most this many per leaf
_sha256 = hashlib.sha256
_ENTRY = ", ".join(f"e.{c.strip()}" for c in ENTRY_COLUMNS.split(","))

_POSTGRES_BOUNDS = (
    "SELECT min(leaf_index), max(leaf_index) FROM audit_leaves"
    " WHERE leaf_index >= %(low)s AND leaf_index < %(high)s"
)
_POSTGRES_LEAVES = (
    "SELECT leaf_index, entry_id, leaf_hash FROM audit_leaves"
    " WHERE leaf_index >= %(low)s AND leaf_index < %(high)s ORDER BY leaf_index"
)
_POSTGRES_ENTRIES = f"SELECT {ENTRY_COLUMNS} FROM access_log"  # noqa: S608 (constant text)
_POSTGRES_RANGE = _POSTGRES_ENTRIES + " WHERE id >= %(first)s AND id <= %(last)s"
_POSTGRES_LISTED = _POSTGRES_ENTRIES + " WHERE id = ANY(%(ids)s)"
_SQLITE_LEAVES = Sql(
    f"SELECT l.leaf_index, l.entry_id, l.leaf_hash, {_ENTRY}"  # noqa: S608 (constant text)
    " FROM audit_leaves l LEFT JOIN access_log e ON e.id = l.entry_id"
    " WHERE l.leaf_index >= :low AND l.leaf_index < :high ORDER BY l.leaf_index"
)


@dataclass
class Chunk:
    indexes: list[int]
    entry_ids: list[int]
    stored: list[bytes]  # stored leaf hashes
    recomputed: list[bytes | None]  # None: the entry is gone


def digests(rows: Sequence[Any]) -> list[bytes]:
    """The leaf hash of each stored entry (columns as ENTRY_COLUMNS), computed here."""
    return [_sha256(entry).digest() for entry in leaf_entries(rows, "\x00")]


def chunks(conn: Connection, low: int, high: int) -> Iterator[Chunk]:
    """Leaves [low, high) in order, CHUNK at a time, each with its entry's recomputed hash."""
    if is_postgres(conn):
        return _postgres_chunks(conn, low, high)
    return _sqlite_chunks(conn, low, high)


def _postgres_chunks(conn: Connection, low: int, high: int) -> Iterator[Chunk]:
    raw: Any = conn.connection.dbapi_connection
    cursor = raw.cursor(binary=True)
    try:
        # Hundreds of short statements: on a large table their estimated cost may reach the
        # JIT's threshold, and compiling each would cost a quarter of running it.
        cursor.execute("SET LOCAL jit = off")
        start, last = cursor.execute(_POSTGRES_BOUNDS, {"low": low, "high": high}).fetchone()
        # The leaves there when the scan began: a sequencer round may append more meanwhile.
        end = -1 if last is None else last + 1
        while start is not None and start < end:
            cursor.execute(_POSTGRES_LEAVES, {"low": start, "high": min(start + CHUNK, end)})
            if leaves := cursor.fetchall():
                indexes, entry_ids, stored = map(list, zip(*leaves, strict=True))
                yield pair(indexes, entry_ids, stored, _entries(cursor, entry_ids))
                start += CHUNK
            else:  # a gap in the leaf indexes (a tampered log): on to the next leaf
                start = cursor.execute(_POSTGRES_BOUNDS, {"low": start, "high": end}).fetchone()[0]
    finally:
        cursor.close()


def _entries(cursor: Any, entry_ids: list[int]) -> list[tuple[Any, ...]]:
    """The stored entries with these ids, and maybe others, in any order."""
    first, last = min(entry_ids), max(entry_ids)
    if last - first < SPREAD * len(entry_ids):
        cursor.execute(_POSTGRES_RANGE, {"first": first, "last": last})
    else:  # a leaf far from its neighbours' entries (or a tampered pointer): no wide range
        cursor.execute(_POSTGRES_LISTED, {"ids": sorted(set(entry_ids))})
    return list(cursor.fetchall())


def pair(
    indexes: list[int], entry_ids: list[int], stored: list[bytes], rows: Sequence[Any]
) -> Chunk:
    """A chunk from its leaves and stored entries (columns as ENTRY_COLUMNS) in any order,
    including entries that no leaf of the chunk names."""
    if [row[0] for row in rows] == entry_ids:  # the usual case: one entry per leaf, in order
        return Chunk(indexes, entry_ids, stored, list(digests(rows)))
    by_id = {row[0]: row for row in rows}
    named = [by_id[e] for e in entry_ids if e in by_id]
    found = dict(zip((row[0] for row in named), digests(named), strict=True))
    return Chunk(indexes, entry_ids, stored, [found.get(e) for e in entry_ids])


def _sqlite_chunks(conn: Connection, low: int, high: int) -> Iterator[Chunk]:
    # Rows straight from the driver: at millions of rows, result objects cost more than hashing.
    for rows in stream(conn, _SQLITE_LEAVES, {"low": low, "high": high}, CHUNK):
        hashes = iter(digests([row[3:] for row in rows if row[3] is not None]))
        yield Chunk(
            [row[0] for row in rows],
            [row[1] for row in rows],
            [bytes(row[2]) for row in rows],
            [None if row[3] is None else next(hashes) for row in rows],
        )
