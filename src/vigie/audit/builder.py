"""Building the tree of millions of leaf hashes fast, for verification: leaves are hashed in
aligned blocks of 2**12 level by level (list comprehensions, no per-leaf Python loop), and the
block roots join a compact range. Roots and compact ranges are kept at the sizes asked for, and
the complete subtrees at the stored levels, to compare with what the store holds.

Invariant: the roots, ranges and nodes are exactly those of RFC 9162's tree over the same leaves
(``vigie.audit.merkle`` and the sequencer's ``extend`` give the same; the tests compare them).
"""

from __future__ import annotations

import bisect
import hashlib

from vigie.audit import sequencer
from vigie.audit.sequencer import _State, extend, root_of

BLOCK_LEVEL = 12
BLOCK = 1 << BLOCK_LEVEL
_sha256 = hashlib.sha256


def _pair_up(level: list[bytes]) -> list[bytes]:
    pairs = zip(level[0::2], level[1::2], strict=False)
    return [_sha256(b"\x01" + a + b).digest() for a, b in pairs]


class TreeBuilder:
    def __init__(self, checkpoints: set[int]) -> None:
        self.checkpoints = sorted(checkpoints)
        self.top = _State(0, [])  # block roots, as a compact range at BLOCK_LEVEL
        self.buffer: list[bytes] = []
        self.size = 0  # leaves in finished blocks
        self.roots: dict[int, bytes] = {}
        self.peaks: dict[int, list[bytes]] = {}
        self.nodes: dict[tuple[int, int], bytes] = {}
        if 0 in checkpoints:
            self.roots[0], self.peaks[0] = root_of([]), []

    def add(self, hashes: list[bytes]) -> None:
        self.buffer.extend(hashes)
        if len(self.buffer) >= BLOCK:
            done = len(self.buffer) - len(self.buffer) % BLOCK
            for start in range(0, done, BLOCK):
                self._block(self.buffer[start : start + BLOCK], complete=True)
            del self.buffer[:done]

    def finish(self) -> _State:
        """The compact range of all the leaves (after the last, partial, block)."""
        levels = self._block(self.buffer, complete=False)
        total = self.size + len(self.buffer)
        return _State(total, self.top.peaks + _prefix_peaks(levels, len(self.buffer)))

    def _block(self, hashes: list[bytes], *, complete: bool) -> list[list[bytes]]:
        start = self.size
        levels = [hashes]
        while len(levels[-1]) > 1:
            levels.append(_pair_up(levels[-1]))
        for level in sequencer.NODE_LEVELS:
            if level < BLOCK_LEVEL and level < len(levels):
                for offset, node in enumerate(levels[level]):
                    self.nodes[(level, (start >> level) + offset)] = node
        first = bisect.bisect_right(self.checkpoints, start)
        last = bisect.bisect_right(self.checkpoints, start + len(hashes))
        for size in self.checkpoints[first:last]:
            peaks = self.top.peaks + _prefix_peaks(levels, size - start)
            self.roots[size], self.peaks[size] = root_of(peaks), peaks
        if complete:
            for level, index, node in extend(self.top, [levels[-1][0]], base_level=BLOCK_LEVEL):
                self.nodes[(level, index)] = node
            self.size += len(hashes)
        return levels


def _prefix_peaks(levels: list[list[bytes]], count: int) -> list[bytes]:
    """The complete subtrees covering the first ``count`` leaves of a block, largest first."""
    return [
        levels[height][(count >> height) - 1]
        for height in range(count.bit_length() - 1, -1, -1)
        if count >> height & 1
    ]
