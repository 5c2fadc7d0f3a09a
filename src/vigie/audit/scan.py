"""One pass over a range of stored leaves: each leaf's entry re-hashed and compared with the
stored leaf hash, and the leaves summarised block by block for the tree. A large log is cut into
ranges of whole blocks scanned by several processes, each with its own connection.

Invariant: a range's result depends only on the stored rows of that range, so ranges scanned
apart and assembled in order give what one scan would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from vigie.audit import sequencer
from vigie.audit.builder import BLOCK, BlockSummary, summarise
from vigie.audit.log import ENTRY_COLUMNS, leaf_entry
from vigie.db.engine import make_engine
from vigie.db.sql import Sql, stream

FETCH = 20_000
MAX_MISMATCHES = 100_000
_sha256 = hashlib.sha256
_ENTRY = ", ".join(f"e.{c.strip()}" for c in ENTRY_COLUMNS.split(","))
_LEAVES_SQL = Sql(
    f"SELECT l.leaf_index, l.entry_id, l.leaf_hash, {_ENTRY}"  # noqa: S608 (constant text)
    " FROM audit_leaves l LEFT JOIN access_log e ON e.id = l.entry_id"
    " WHERE l.leaf_index >= :low AND l.leaf_index < :high ORDER BY l.leaf_index"
)


@dataclass
class RangeScan:
    low: int
    count: int = 0
    deleted: list[tuple[int, str]] = field(default_factory=list)  # leaf index, French message
    mismatches: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    blocks: list[BlockSummary] = field(default_factory=list)


def scan_range(conn: Connection, low: int, high: int, checkpoints: list[int]) -> RangeScan:
    """Leaves [low, high), ``low`` a multiple of BLOCK; the last block may be partial."""
    result = RangeScan(low)
    buffer: list[bytes] = []
    expected = low
    for rows in _stream(conn, low, high):
        stored = [bytes(row[2]) for row in rows]
        recomputed = [
            None if row[3] is None else _sha256(b"\x00" + leaf_entry(row[3:])).digest()
            for row in rows
        ]
        # Compared whole (in C); rows are looked at one by one only where something is wrong.
        contiguous = rows[0][0] == expected and rows[-1][0] == expected + len(rows) - 1
        if not contiguous or recomputed != stored:
            _anomalies(result, rows, recomputed, stored, expected)
        expected = rows[-1][0] + 1
        buffer.extend(stored)
        while len(buffer) >= BLOCK:
            _summarise(result, buffer[:BLOCK], checkpoints)
            del buffer[:BLOCK]
    if buffer:
        _summarise(result, buffer, checkpoints)
    return result


def _anomalies(
    result: RangeScan,
    rows: list[Any],
    recomputed: list[bytes | None],
    stored: list[bytes],
    expected: int,
) -> None:
    for row, digest, kept in zip(rows, recomputed, stored, strict=True):
        if row[0] != expected:
            result.deleted.append((expected, f"feuilles {expected} à {row[0] - 1} absentes"))
        expected = row[0] + 1
        if digest is None:
            result.deleted.append((row[0], f"feuille {row[0]} : entrée {row[1]} supprimée"))
        elif digest != kept and len(result.mismatches) < MAX_MISMATCHES:
            result.mismatches.append((row[0], digest, kept))


def _summarise(result: RangeScan, hashes: list[bytes], checkpoints: list[int]) -> None:
    result.blocks.append(summarise(result.low + result.count, hashes, checkpoints))
    result.count += len(hashes)


def _stream(conn: Connection, low: int, high: int) -> Iterator[list[Any]]:
    # Rows straight from the driver: at millions of rows, result objects cost more than hashing.
    return stream(conn, _LEAVES_SQL, {"low": low, "high": high}, FETCH)


def scan_in_process(job: tuple[str, int, int, list[int], tuple[int, ...]]) -> RangeScan:
    """A worker process's share: its own engine, the same stored levels as its parent."""
    url, low, high, checkpoints, levels = job
    sequencer.NODE_LEVELS = levels
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return scan_range(conn, low, high, checkpoints)
    finally:
        engine.dispose()


def ranges(total: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` ranges of whole blocks covering [0, total); the last one open-ended."""
    blocks = -(-total // BLOCK)
    per = -(-blocks // parts) * BLOCK
    bounds = [(start, start + per) for start in range(0, total, per)] or [(0, 0)]
    last_low = bounds[-1][0]
    return [*bounds[:-1], (last_low, 2**62)]
