"""Building the tree of millions of leaf hashes fast, for verification: leaves are hashed in
aligned blocks of 2**12 level by level (list comprehensions, no per-leaf Python loop), and the
block roots join a compact range. Roots and compact ranges are kept at the sizes asked for, and
the complete subtrees at the stored levels, to compare with what the store holds. Blocks can be
summarised in other processes (``summarise``) and assembled in order here (``TreeBuilder.take``).

Invariant: the roots, ranges and nodes are exactly those of RFC 9162's tree over the same leaves
(``vigie.audit.merkle`` and the sequencer's ``extend`` give the same; the tests compare them).
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass

from vigie.audit import sequencer
from vigie.audit.sequencer import _State, extend, root_of

BLOCK_LEVEL = 12
BLOCK = 1 << BLOCK_LEVEL
_sha256 = hashlib.sha256


def _pair_up(level: list[bytes]) -> list[bytes]:
    pairs = zip(level[0::2], level[1::2], strict=False)
    return [_sha256(b"\x01" + a + b).digest() for a, b in pairs]


@dataclass(frozen=True)
class BlockSummary:
    """What the tree needs from one block of leaves starting at ``start`` (a multiple of BLOCK)."""

    start: int
    count: int
    root: bytes | None  # None for a partial block
    prefixes: dict[int, list[bytes]]  # tree size inside the block -> the block's prefix peaks
    nodes: list[tuple[int, int, bytes]]  # complete subtrees at stored levels below BLOCK_LEVEL


def summarise(start: int, hashes: list[bytes], checkpoints: list[int]) -> BlockSummary:
    """``checkpoints`` sorted; those in (start, start + len(hashes)] get their prefix peaks."""
    levels = [hashes]
    while len(levels[-1]) > 1:
        levels.append(_pair_up(levels[-1]))
    nodes = [
        (level, (start >> level) + offset, node)
        for level in sequencer.NODE_LEVELS
        if level < BLOCK_LEVEL and level < len(levels)
        for offset, node in enumerate(levels[level])
    ]
    first = bisect.bisect_right(checkpoints, start)
    last = bisect.bisect_right(checkpoints, start + len(hashes))
    prefixes = {size: _prefix_peaks(levels, size - start) for size in checkpoints[first:last]}
    prefixes[start + len(hashes)] = _prefix_peaks(levels, len(hashes))
    complete = len(hashes) == BLOCK
    return BlockSummary(start, len(hashes), levels[-1][0] if complete else None, prefixes, nodes)


class TreeBuilder:
    def __init__(self, checkpoints: set[int]) -> None:
        self.checkpoints = sorted(checkpoints)
        self.wanted = set(checkpoints)
        self.top = _State(0, [])  # block roots, as a compact range at BLOCK_LEVEL
        self.buffer: list[bytes] = []
        self.size = 0  # leaves in the blocks taken
        self.tail: list[bytes] = []  # prefix peaks of a partial last block
        self.roots: dict[int, bytes] = {}
        self.peaks: dict[int, list[bytes]] = {}
        self.nodes: dict[tuple[int, int], bytes] = {}
        if 0 in checkpoints:
            self.roots[0], self.peaks[0] = root_of([]), []

    def add(self, hashes: list[bytes]) -> None:
        """Leaf hashes in order; whole blocks are summarised here as they fill."""
        self.buffer.extend(hashes)
        if len(self.buffer) >= BLOCK:
            done = len(self.buffer) - len(self.buffer) % BLOCK
            for offset in range(0, done, BLOCK):
                start = self.size
                self.take(summarise(start, self.buffer[offset : offset + BLOCK], self.checkpoints))
            del self.buffer[:done]

    def take(self, block: BlockSummary) -> None:
        """The next block, in order (summarised here or in another process)."""
        if block.start != self.size or self.tail:
            raise ValueError("blocks must come in order, a partial one last")
        for size, prefix in block.prefixes.items():
            if size in self.wanted:
                peaks = self.top.peaks + prefix
                self.roots[size], self.peaks[size] = root_of(peaks), peaks
        self.nodes.update(((level, index), node) for level, index, node in block.nodes)
        if block.root is None:
            self.tail = block.prefixes[block.start + block.count]
        else:
            for level, index, node in extend(self.top, [block.root], base_level=BLOCK_LEVEL):
                self.nodes[(level, index)] = node
        self.size += block.count

    def finish(self) -> _State:
        """The compact range of all the leaves (after the last, partial, block)."""
        if self.buffer:
            self.take(summarise(self.size, self.buffer, self.checkpoints))
            self.buffer = []
        return _State(self.size, self.top.peaks + self.tail)


def _prefix_peaks(levels: list[list[bytes]], count: int) -> list[bytes]:
    """The complete subtrees covering the first ``count`` leaves of a block, largest first."""
    return [
        levels[height][(count >> height) - 1]
        for height in range(count.bit_length() - 1, -1, -1)
        if count >> height & 1
    ]
