"""Proofs from the stored log, in the manner of Trillian's integration tests: many tree sizes,
every index, every pair of signed sizes, each proof equal to the in-memory tree's and verifying;
impossible parameters refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.audit.helpers import add_entries, memory_tree, run_round
from vigie.audit import sequencer
from vigie.audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from vigie.audit.proofs import ProofRequestError, consistency, head_at, inclusion
from vigie.runtime import Runtime

ROUNDS = (1, 1, 2, 3, 5, 8, 13, 4, 7, 16, 1, 9)  # sizes 1, 2, 4, 7, ... 70


@pytest.fixture
def signed_sizes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    # Low stored levels, so that small trees exercise nodes read from every level.
    monkeypatch.setattr(sequencer, "NODE_LEVELS", (2, 4))
    sizes, total = [], 0
    for count in ROUNDS:
        add_entries(runtime, count, start=total)
        total += count
        head = run_round(runtime).head
        assert head is not None
        sizes.append(head.head.tree_size)
    return sizes


def test_inclusion_at_every_size_and_index(runtime: Runtime, signed_sizes: list[int]) -> None:
    tree = memory_tree(runtime)
    log_id = runtime.settings.audit_log_id
    with runtime.engine.connect() as conn:
        for size in signed_sizes:
            root = head_at(conn, log_id, size).head.root_hash
            assert root == tree.root(size)
            for index in range(size):
                proof = inclusion(conn, log_id, leaf_index=index, size=size)
                assert proof.path == tree.inclusion_proof(index, size)
                verify_inclusion(index, size, leaf_hash(proof.entry), proof.path, root)
                by_entry = inclusion(conn, log_id, entry_id=proof.entry_id, size=size)
                assert by_entry.path == proof.path


def test_consistency_between_every_pair(runtime: Runtime, signed_sizes: list[int]) -> None:
    tree = memory_tree(runtime)
    log_id = runtime.settings.audit_log_id
    with runtime.engine.connect() as conn:
        for new in signed_sizes:
            for old in signed_sizes:
                if old > new:
                    continue
                document = consistency(conn, log_id, old, new)
                proof = [bytes.fromhex(h) for h in document["proof"]]
                assert proof == tree.consistency_proof(old, new)
                verify_consistency(old, new, tree.root(old), tree.root(new), proof)


def test_impossible_parameters_are_refused(runtime: Runtime, signed_sizes: list[int]) -> None:
    log_id = runtime.settings.audit_log_id
    last = signed_sizes[-1]
    with runtime.engine.connect() as conn:
        cases: list[Callable[[], object]] = [
            lambda: inclusion(conn, log_id, leaf_index=last, size=last),  # beyond the tree
            lambda: inclusion(conn, log_id, leaf_index=5, size=3),  # 3 is no signed size
            lambda: inclusion(conn, log_id, leaf_index=5, size=4),  # leaf 5 not in tree 4
            lambda: inclusion(conn, log_id, entry_id=10_000),  # no such entry
            lambda: consistency(conn, log_id, last, 4),  # old after new
            lambda: consistency(conn, log_id, 3, last),  # 3 is no signed size
            lambda: head_at(conn, log_id, last + 1),
        ]
        for case in cases:
            with pytest.raises(ProofRequestError):
                case()
