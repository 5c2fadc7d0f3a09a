"""RFC 9162 Merkle hashing and proofs, in the manner of Trillian's tests: the classic CT vectors,
every size to 64 against a literal reading of the RFC, bad parameters and tampering of every kind.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_inclusion_proof,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# --- The classic CT test vectors (C++ and Go logs; transparency-dev/merkle testonly) ---------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
# The nodes of the 8-leaf tree, level by level from the leaves.
CT_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
# (leaf index from 0, tree size, audit path); the Go sources count leaves from 1.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")

# --- The RFC 9162 definitions, read literally (recursive, slow, independent of the module) ---

MAX_SIZE = 64
# The CT leaves first, so that trees of up to 8 leaves are the CT trees; every entry distinct.
ENTRIES = CT_LEAVES + [f"access {i}".encode() for i in range(len(CT_LEAVES), MAX_SIZE)]
LEAVES = [hashlib.sha256(b"\x00" + e).digest() for e in ENTRIES]
TREE = MerkleTree(LEAVES)
ROOTS = [TREE.root(size) for size in range(MAX_SIZE + 1)]


def _k(n: int) -> int:
    k = 1
    while 2 * k < n:
        k *= 2
    return k


@cache
def ref_mth(start: int, end: int) -> bytes:
    """MTH(D[start:end]) over ENTRIES, RFC 9162 §2.1.1."""
    if end - start == 0:
        return hashlib.sha256(b"").digest()
    if end - start == 1:
        return hashlib.sha256(b"\x00" + ENTRIES[start]).digest()
    k = _k(end - start)
    return hashlib.sha256(b"\x01" + ref_mth(start, start + k) + ref_mth(start + k, end)).digest()


def ref_path(m: int, start: int, end: int) -> list[bytes]:
    """PATH(m, D[start:end]), RFC 9162 §2.1.3.1."""
    if end - start == 1:
        return []
    k = _k(end - start)
    if m < k:
        return [*ref_path(m, start, start + k), ref_mth(start + k, end)]
    return [*ref_path(m - k, start + k, end), ref_mth(start, start + k)]


def ref_subproof(m: int, start: int, end: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b), RFC 9162 §2.1.4.1."""
    if m == end - start:
        return [] if b else [ref_mth(start, end)]
    k = _k(end - start)
    if m <= k:
        return [*ref_subproof(m, start, start + k, b), ref_mth(start + k, end)]
    return [*ref_subproof(m - k, start + k, end, False), ref_mth(start, start + k)]


# --- Helpers ---------------------------------------------------------------------------------


def _hex(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _flip(value: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(value)
    changed[position] ^= mask
    return bytes(changed)


def _edits(proof: list[bytes], extra: Sequence[bytes]) -> Iterator[list[bytes]]:
    """The proof with one node removed, or one added anywhere: from ``extra``, or a repeat of
    the node that follows (or ends) the proof."""
    for i in range(len(proof)):
        yield proof[:i] + proof[i + 1 :]
    for i in range(len(proof) + 1):
        repeat = proof[min(i, len(proof) - 1) :][:1]
        for node in [*extra, *repeat]:
            yield [*proof[:i], node, *proof[i:]]


def _rejects(check: Callable[..., object], *args: object) -> bool:
    """Whether ``check(*args)`` raises ProofError."""
    try:
        check(*args)
    except ProofError:
        return True
    return False


# --- Known answers ---------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_EMPTY_ROOT
    assert merkle_root([]) == MerkleTree().root() == CompactRange().root() == EMPTY_ROOT
    assert TREE.root(0) == EMPTY_ROOT


def test_leaf_and_node_hashes_carry_their_domain_prefix() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    # A node's 64 bytes, hashed as an entry, give another hash: a leaf cannot pass for a node.
    assert leaf_hash(b"L" * 32 + b"R" * 32) != node_hash(b"L" * 32, b"R" * 32)


def test_ct_nodes_of_the_eight_leaf_tree() -> None:
    tree = MerkleTree(leaf_hash(e) for e in CT_LEAVES)
    for level, nodes in enumerate(CT_NODES):
        width = 1 << level
        got = [tree.subtree_hash(i * width, (i + 1) * width) for i in range(len(nodes))]
        assert _hex(got) == nodes


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_ct_roots(size: int) -> None:
    leaves = [leaf_hash(e) for e in CT_LEAVES[:size]]
    compact = CompactRange()
    compact.extend(leaves)
    roots = {merkle_root(leaves), MerkleTree(leaves).root(), TREE.root(size), compact.root()}
    assert {r.hex() for r in roots} == {CT_ROOTS[size]}
    assert ref_mth(0, size).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    assert _hex(TREE.inclusion_proof(index, size)) == path
    proof = [bytes.fromhex(h) for h in path]
    root = bytes.fromhex(CT_ROOTS[size])
    verify_inclusion(index, size, LEAVES[index], proof, root)
    assert root_from_inclusion_proof(index, size, LEAVES[index], proof) == root


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_ct_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    assert _hex(TREE.consistency_proof(old, new)) == path
    proof = [bytes.fromhex(h) for h in path]
    verify_consistency(old, new, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]), proof)


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion_proofs_resist_trillian_corruptions(
    index: int, size: int, path: list[str]
) -> None:
    proof = [bytes.fromhex(h) for h in path]
    root, leaf = bytes.fromhex(CT_ROOTS[size]), LEAVES[index]
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, hashlib.sha256(b"WrongLeaf").digest(), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root),
        (index, size, leaf, [root, *proof], root),
    ]
    probes += [(index, size, leaf, edited, root) for edited in _edits(proof, [SOME_HASH])]
    probes += [
        (index, size, leaf, [*proof[:i], _flip(node, 0, 8), *proof[i + 1 :]], root)
        for i, node in enumerate(proof)
    ]
    for probe in probes:
        assert _rejects(verify_inclusion, *probe), probe


@pytest.mark.parametrize(("old", "new", "path"), [v for v in CT_CONSISTENCY if v[2]])
def test_ct_consistency_proofs_resist_trillian_corruptions(
    old: int, new: int, path: list[str]
) -> None:
    proof = [bytes.fromhex(h) for h in path]
    r1, r2 = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    wrong = hashlib.sha256(b"WrongRoot").digest()
    probes: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, wrong, r2, proof),
        (old, new, r1, wrong, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    probes += [
        (old, new, r1, r2, [*proof[:i], _flip(node, 0, 16), *proof[i + 1 :]])
        for i, node in enumerate(proof)
    ]
    for probe in probes:
        assert _rejects(verify_consistency, *probe), probe


def test_trillian_static_consistency_probes() -> None:
    r1, r2 = hashlib.sha256(b"don't care 1").digest(), hashlib.sha256(b"don't care 2").digest()
    verify_consistency(1, 1, r2, r2, [])
    for probe in [
        (0, 0, r1, r2, []),
        (1, 1, r1, r2, []),
        (0, 0, r1, r1, []),
        (0, 1, r1, r2, []),
        (1, 0, r1, r2, []),
        (2, 1, r1, r2, []),
        (1, 2, r1, r2, []),
        (0, 0, EMPTY_ROOT, r2, []),
        (1, 1, EMPTY_ROOT, r2, []),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
        (0, 1, EMPTY_ROOT, r2, []),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
    ]:
        assert _rejects(verify_consistency, *probe), probe


def test_trillian_static_inclusion_probes() -> None:
    data = leaf_hash(b"data")
    verify_inclusion(0, 1, data, [], data)  # a one-leaf tree's root is its leaf hash
    probes: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (0, 1, b"", [], data),
        (0, 1, data, [], b""),
        (0, 1, b"", [], b""),
    ]
    for probe in probes:
        assert _rejects(verify_inclusion, *probe), probe
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        for leaf, root in [(SOME_HASH, b""), (b"", EMPTY_ROOT), (SOME_HASH, EMPTY_ROOT)]:
            assert _rejects(verify_inclusion, index, size, leaf, [], root)


# --- Every size, every index, every pair -----------------------------------------------------

SIZES = range(1, MAX_SIZE + 1)


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(size: int) -> None:
    root = TREE.root(size)
    assert root == ref_mth(0, size) == merkle_root(LEAVES[:size])
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        assert proof == ref_path(index, 0, size)
        assert proof == inclusion_proof(index, size, lambda s, e: subtree_hash(LEAVES, s, e))
        verify_inclusion(index, size, LEAVES[index], proof, root)


@pytest.mark.parametrize("size", SIZES)
def test_every_consistency_proof_is_the_rfc_proof_and_verifies(size: int) -> None:
    for old in range(1, size + 1):
        proof = TREE.consistency_proof(old, size)
        assert proof == ref_subproof(old, 0, size, True)
        assert proof == consistency_proof(old, size, lambda s, e: subtree_hash(LEAVES, s, e))
        verify_consistency(old, size, ROOTS[old], ROOTS[size], proof)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_reject_any_flipped_byte(size: int) -> None:
    root = ROOTS[size]
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        # Every byte of every node for the edges and the middle; one rotating byte elsewhere.
        every_byte = index in {0, size // 2, size - 1}
        for i, node in enumerate(proof):
            for position in range(32) if every_byte else [(index + i) % 32]:
                tampered = [*proof[:i], _flip(node, position), *proof[i + 1 :]]
                assert _rejects(verify_inclusion, index, size, LEAVES[index], tampered, root)
        position = index % 32
        assert _rejects(verify_inclusion, index, size, _flip(LEAVES[index], position), proof, root)
        assert _rejects(verify_inclusion, index, size, LEAVES[index], proof, _flip(root, position))


@pytest.mark.parametrize("size", SIZES)
def test_consistency_proofs_reject_any_flipped_byte(size: int) -> None:
    new_root = ROOTS[size]
    for old in range(1, size):
        old_root, proof = ROOTS[old], TREE.consistency_proof(old, size)
        every_byte = old in {1, size // 2, size - 1}
        for i, node in enumerate(proof):
            for position in range(32) if every_byte else [(old + i) % 32]:
                tampered = [*proof[:i], _flip(node, position), *proof[i + 1 :]]
                assert _rejects(verify_consistency, old, size, old_root, new_root, tampered)
        position = old % 32
        assert _rejects(verify_consistency, old, size, _flip(old_root, position), new_root, proof)
        assert _rejects(verify_consistency, old, size, old_root, _flip(new_root, position), proof)


@pytest.mark.parametrize("size", SIZES)
def test_proofs_reject_an_added_or_removed_node(size: int) -> None:
    root = ROOTS[size]
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        for edited in _edits(proof, [SOME_HASH, root, LEAVES[index]]):
            assert _rejects(verify_inclusion, index, size, LEAVES[index], edited, root)
    for old in range(1, size):
        old_root, proof = ROOTS[old], TREE.consistency_proof(old, size)
        for edited in _edits(proof, [SOME_HASH, old_root, root]):
            assert _rejects(verify_consistency, old, size, old_root, root, edited)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs_hold_only_for_their_own_index_and_size(size: int) -> None:
    # Each other claim comes with its own genuine root, as its signed head would give it. With
    # the root kept, some other sizes do verify (their paths have the same shape): a size means
    # something only together with the root of the same signed head.
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        for other in range(size):
            if other != index:
                assert _rejects(verify_inclusion, other, size, LEAVES[index], proof, ROOTS[size])
                assert _rejects(verify_inclusion, other, size, LEAVES[other], proof, ROOTS[size])
        for other_size in range(index + 1, MAX_SIZE + 1):
            if other_size != size:
                assert _rejects(
                    verify_inclusion, index, other_size, LEAVES[index], proof, ROOTS[other_size]
                )


CONSISTENCY_PAIRS = [(old, new) for new in range(1, 21) for old in range(1, new + 1)]


@pytest.mark.parametrize(("old", "new"), CONSISTENCY_PAIRS)
def test_consistency_proofs_hold_only_for_their_own_sizes(old: int, new: int) -> None:
    proof = TREE.consistency_proof(old, new)
    for other_old, other_new in CONSISTENCY_PAIRS:
        claim = (other_old, other_new, ROOTS[other_old], ROOTS[other_new], proof)
        # Only a claim whose genuine proof is this very one verifies (equal sizes: both empty).
        expected = TREE.consistency_proof(other_old, other_new) == proof
        assert _rejects(verify_consistency, *claim) is not expected


# --- Bad parameters --------------------------------------------------------------------------

SHORT, LONG = b"\x00" * 31, b"\x00" * 33
BAD_CALLS: dict[str, Callable[[], object]] = {
    "inclusion in an empty tree": lambda: TREE.inclusion_proof(0, 0),
    "index equal to size": lambda: TREE.inclusion_proof(5, 5),
    "index beyond size": lambda: TREE.inclusion_proof(9, 5),
    "negative index": lambda: TREE.inclusion_proof(-1, 5),
    "size beyond the tree": lambda: TREE.inclusion_proof(0, MAX_SIZE + 1),
    "consistency from size 0": lambda: TREE.consistency_proof(0, 5),
    "consistency to an empty tree": lambda: TREE.consistency_proof(0, 0),
    "old size above new size": lambda: TREE.consistency_proof(6, 5),
    "negative old size": lambda: TREE.consistency_proof(-1, 5),
    "new size beyond the tree": lambda: TREE.consistency_proof(1, MAX_SIZE + 1),
    "root beyond the tree": lambda: TREE.root(MAX_SIZE + 1),
    "leaf beyond the tree": lambda: TREE.leaf(MAX_SIZE),
    "subtree ending beyond": lambda: TREE.subtree_hash(0, MAX_SIZE + 1),
    "subtree reversed": lambda: TREE.subtree_hash(3, 2),
    "subtree negative": lambda: subtree_hash(LEAVES, -1, 2),
    "function inclusion with size 0": lambda: inclusion_proof(0, 0, TREE.subtree_hash),
    "function consistency with size 0": lambda: consistency_proof(0, 3, TREE.subtree_hash),
    "verify with size 0": lambda: verify_inclusion(0, 0, LEAVES[0], [], EMPTY_ROOT),
    "verify index = size": lambda: verify_inclusion(1, 1, LEAVES[0], [], LEAVES[0]),
    "verify short leaf": lambda: verify_inclusion(0, 1, SHORT, [], LEAVES[0]),
    "verify long root": lambda: verify_inclusion(0, 1, LEAVES[0], [], LONG),
    "verify short node": lambda: verify_inclusion(0, 2, LEAVES[0], [SHORT], ROOTS[2]),
    "verify str node": lambda: verify_inclusion(0, 2, LEAVES[0], ["00" * 32], ROOTS[2]),  # type: ignore[list-item]
    "consistency short old root": lambda: verify_consistency(1, 1, SHORT, SHORT, []),
    "consistency long new root": lambda: verify_consistency(1, 2, LEAVES[0], LONG, [LEAVES[1]]),
    "consistency long node": lambda: verify_consistency(1, 2, LEAVES[0], ROOTS[2], [LONG]),
    "consistency old above new": lambda: verify_consistency(3, 2, ROOTS[3], ROOTS[2], []),
    "tree of short leaves": lambda: MerkleTree([LEAVES[0], SHORT]),
    "root of a long leaf": lambda: merkle_root([LONG]),
    "subtree over a short leaf": lambda: subtree_hash([LEAVES[0], SHORT], 0, 2),
    "tree append of a long leaf": lambda: MerkleTree().append(LONG),
    "compact append of a short leaf": lambda: CompactRange().append(SHORT),
    "compact restore, too few peaks": lambda: CompactRange.restore(3, [LEAVES[0]]),
    "compact restore, too many peaks": lambda: CompactRange.restore(4, LEAVES[:2]),
    "compact restore, negative size": lambda: CompactRange.restore(-1, []),
    "compact restore, short peak": lambda: CompactRange.restore(1, [SHORT]),
}


@pytest.mark.parametrize("call", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_parameters_raise_proof_error(call: Callable[[], object]) -> None:
    with pytest.raises(ProofError):
        call()


def test_proof_errors_say_what_is_wrong() -> None:
    path, proof = TREE.inclusion_proof(5, 13), TREE.consistency_proof(5, 13)
    leaf, r5, r13 = LEAVES[5], ROOTS[5], ROOTS[13]
    with pytest.raises(ProofError, match="inclusion proof too long"):
        verify_inclusion(5, 13, leaf, [*path, SOME_HASH], r13)
    with pytest.raises(ProofError, match="inclusion proof too short"):
        verify_inclusion(5, 13, leaf, path[:-1], r13)
    with pytest.raises(ProofError, match="does not match the root"):
        verify_inclusion(5, 13, leaf, path, r5)
    with pytest.raises(ProofError, match="consistency proof too long"):
        verify_consistency(5, 13, r5, r13, [*proof, SOME_HASH])
    with pytest.raises(ProofError, match="consistency proof too short"):
        verify_consistency(5, 13, r5, r13, proof[:-1])
    with pytest.raises(ProofError, match="does not match the root of size 5"):
        verify_consistency(5, 13, ROOTS[6], r13, proof)
    with pytest.raises(ProofError, match="does not match the root of size 13"):
        verify_consistency(5, 13, r5, ROOTS[12], proof)
    with pytest.raises(ProofError, match="empty consistency proof"):
        verify_consistency(5, 13, r5, r13, [])


# --- Trees built incrementally, subtrees, compact ranges ---------------------------------------

GROWING = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(200)]


def test_compact_range_root_equals_mth_for_every_size_to_200() -> None:
    compact = CompactRange()
    for size, leaf in enumerate(GROWING, start=1):
        compact.append(leaf)
        assert compact.size == size
        assert len(compact.peaks) == size.bit_count()
        assert compact.root() == merkle_root(GROWING[:size])


def test_compact_range_resumes_from_its_saved_state() -> None:
    compact = CompactRange()
    compact.extend(GROWING[:123])
    resumed = CompactRange.restore(compact.size, compact.peaks)
    resumed.extend(GROWING[123:])
    compact.extend(GROWING[123:])
    assert resumed.peaks == compact.peaks
    assert resumed.root() == merkle_root(GROWING)


def test_a_tree_grown_leaf_by_leaf_equals_one_built_at_once() -> None:
    grown = MerkleTree()
    for size, leaf in enumerate(GROWING, start=1):
        grown.append(leaf)
        assert grown.root() == merkle_root(GROWING[:size])
    built = MerkleTree(GROWING)
    for size in (1, 2, 3, 64, 127, 128, 129, 200):
        assert grown.root(size) == built.root(size)
        assert grown.inclusion_proof(size - 1, size) == built.inclusion_proof(size - 1, size)
        assert grown.consistency_proof(size // 2 or 1, size) == built.consistency_proof(
            size // 2 or 1, size
        )


def test_subtree_hash_of_any_range_is_its_mth() -> None:
    tree = MerkleTree(GROWING[:20])
    for start in range(21):
        for end in range(start, 21):
            expected = merkle_root(GROWING[start:end])
            assert tree.subtree_hash(start, end) == subtree_hash(GROWING, start, end) == expected


def test_proof_generation_reads_one_subtree_hash_per_node() -> None:
    # The contract a store implements: one (start, end) read per proof node, nothing more.
    reads: list[tuple[int, int]] = []

    def store(start: int, end: int) -> bytes:
        reads.append((start, end))
        return TREE.subtree_hash(start, end)

    assert len(inclusion_proof(37, 61, store)) == len(reads)
    reads.clear()
    assert len(consistency_proof(37, 61, store)) == len(reads)


def test_a_million_leaf_tree_proves_fast() -> None:
    size = 1_000_000
    tree = MerkleTree(i.to_bytes(32, "big") for i in range(size))
    started = time.perf_counter()
    for index in range(0, size, 9_973):
        proof = tree.inclusion_proof(index)
        verify_inclusion(index, size, tree.leaf(index), proof, tree.root())
        old = index + 1
        verify_consistency(old, size, tree.root(old), tree.root(), tree.consistency_proof(old))
    # About 100 inclusion and 100 consistency proofs, generated and verified.
    assert time.perf_counter() - started < 0.5


# --- Properties ------------------------------------------------------------------------------

BIG = 3000
BIG_LEAVES = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(BIG)]
BIG_TREE = MerkleTree(BIG_LEAVES)


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, BIG))
    return draw(st.integers(0, size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(1, BIG))
    return draw(st.integers(1, new)), new


@given(index_and_size())
def test_inclusion_proofs_lead_to_the_root(case: tuple[int, int]) -> None:
    index, size = case
    proof = BIG_TREE.inclusion_proof(index, size)
    root = root_from_inclusion_proof(index, size, BIG_LEAVES[index], proof)
    assert root == BIG_TREE.root(size) == merkle_root(BIG_LEAVES[:size])


@given(two_sizes())
def test_consistency_proofs_verify(case: tuple[int, int]) -> None:
    old, new = case
    proof = BIG_TREE.consistency_proof(old, new)
    verify_consistency(old, new, BIG_TREE.root(old), BIG_TREE.root(new), proof)


@given(index_and_size(), st.data())
def test_any_byte_change_in_an_inclusion_proof_is_caught(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    proof = BIG_TREE.inclusion_proof(index, size)
    if not proof:
        return
    node = data.draw(st.integers(0, len(proof) - 1))
    position, mask = data.draw(st.integers(0, 31)), data.draw(st.integers(1, 255))
    proof[node] = _flip(proof[node], position, mask)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, BIG_LEAVES[index], proof, BIG_TREE.root(size))


@given(two_sizes(), st.data())
def test_any_byte_change_in_a_consistency_proof_is_caught(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    proof = BIG_TREE.consistency_proof(old, new)
    if not proof:
        return
    node = data.draw(st.integers(0, len(proof) - 1))
    position, mask = data.draw(st.integers(0, 31)), data.draw(st.integers(1, 255))
    proof[node] = _flip(proof[node], position, mask)
    with pytest.raises(ProofError):
        verify_consistency(old, new, BIG_TREE.root(old), BIG_TREE.root(new), proof)


@settings(max_examples=50)
@given(st.lists(st.binary(max_size=40), max_size=300), st.integers(0, 300))
def test_compact_range_restored_anywhere_matches_the_tree(entries: list[bytes], cut: int) -> None:
    leaves = [leaf_hash(e) for e in entries]
    cut = min(cut, len(leaves))
    first = CompactRange()
    first.extend(leaves[:cut])
    resumed = CompactRange.restore(first.size, first.peaks)
    resumed.extend(leaves[cut:])
    assert resumed.root() == merkle_root(leaves) == MerkleTree(leaves).root()
