"""One pass over a range of stored leaves: each leaf's entry re-hashed and compared with the
stored leaf hash, and the leaves summarised block by block for the tree. A large log is cut into
ranges of whole blocks scanned by several processes, each with its own connection.

Invariant: a range's result depends only on the stored rows of that range, so ranges scanned
apart and assembled in order give what one scan would.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

from sqlalchemy import Connection

from vigie.audit import sequencer
from vigie.audit.builder import BLOCK, BlockSummary, summarise
from vigie.audit.chunks import Chunk, chunks
from vigie.db.engine import make_engine

MAX_MISMATCHES = 100_000


@dataclass
class RangeScan:
    low: int
    count: int = 0
    deleted: list[tuple[int, str]] = field(default_factory=list)  # leaf index, French message
    mismatches: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    blocks: list[BlockSummary] = field(default_factory=list)


def scan_range(conn: Connection, low: int, high: int, checkpoints: list[int]) -> RangeScan:
    """Leaves [low, high), ``low`` a multiple of BLOCK; the last block may be partial."""
    # Millions of short-lived rows and no cycles among them: the cyclic collector, triggered by
    # the allocations, would spend a sixth of the scan walking the chunk in hand.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _scan_range(conn, low, high, checkpoints)
    finally:
        if collecting:
            gc.enable()


def _scan_range(conn: Connection, low: int, high: int, checkpoints: list[int]) -> RangeScan:
    result = RangeScan(low)
    buffer: list[bytes] = []
    expected = low
    for chunk in chunks(conn, low, high):
        indexes = chunk.indexes
        # Compared whole (in C); leaves are looked at one by one only where something is wrong.
        contiguous = indexes[0] == expected and indexes[-1] == expected + len(indexes) - 1
        if not contiguous or chunk.recomputed != chunk.stored:
            _anomalies(result, chunk, expected)
        expected = indexes[-1] + 1
        buffer.extend(chunk.stored)
        while len(buffer) >= BLOCK:
            _summarise(result, buffer[:BLOCK], checkpoints)
            del buffer[:BLOCK]
    if buffer:
        _summarise(result, buffer, checkpoints)
    return result


def _anomalies(result: RangeScan, chunk: Chunk, expected: int) -> None:
    leaves = zip(chunk.indexes, chunk.entry_ids, chunk.recomputed, chunk.stored, strict=True)
    for index, entry_id, digest, kept in leaves:
        if index != expected:
            result.deleted.append((expected, f"feuilles {expected} à {index - 1} absentes"))
        expected = index + 1
        if digest is None:
            result.deleted.append((index, f"feuille {index} : entrée {entry_id} supprimée"))
        elif digest != kept and len(result.mismatches) < MAX_MISMATCHES:
            result.mismatches.append((index, digest, kept))


def _summarise(result: RangeScan, hashes: list[bytes], checkpoints: list[int]) -> None:
    result.blocks.append(summarise(result.low + result.count, hashes, checkpoints))
    result.count += len(hashes)


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
