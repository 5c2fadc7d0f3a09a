"""The fast tree builder used by verification gives RFC 9162's roots, compact ranges and stored
subtrees, at every size asked for, like the in-memory tree and the sequencer."""

from __future__ import annotations

import hashlib

import pytest

from vigie.audit import builder, sequencer
from vigie.audit.builder import TreeBuilder
from vigie.audit.merkle import MerkleTree
from vigie.audit.sequencer import _State, extend


def leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(n.to_bytes(8, "big")).digest() for n in range(count)]


@pytest.mark.parametrize("count", [0, 1, 5, 16, 17, 100, 257, 1000])
def test_roots_ranges_and_nodes(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(builder, "BLOCK_LEVEL", 3)
    monkeypatch.setattr(builder, "BLOCK", 8)
    monkeypatch.setattr(sequencer, "NODE_LEVELS", (2, 4, 6))
    hashes = leaves(count)
    tree = MerkleTree(hashes)
    sizes = set(range(count + 1))
    built = TreeBuilder(sizes)
    for start in range(0, count, 7):  # chunks that do not align with blocks
        built.add(hashes[start : start + 7])
    state = built.finish()
    reference = _State(0, [])
    nodes = dict(((lv, ix), h) for lv, ix, h in extend(reference, hashes))
    assert state.size == count and state.peaks == reference.peaks
    assert built.nodes == nodes
    for size in sizes:
        assert built.roots[size] == tree.root(size)
