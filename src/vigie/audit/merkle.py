"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proofs and compact ranges.

Invariant: a proof is accepted only if it is exactly the RFC 9162 proof for the claimed index or
sizes against the given hashes; any other proof, and any impossible parameter, raises ProofError.

Hashes: leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || left || right), and the tree hash of
n > 1 leaves splits them at k, the largest power of two below n (RFC 9162 §2.1.1). Proof generation
asks a ``SubtreeHasher`` for the hash of leaves [start, end), so a store can answer from whatever it
keeps; ``MerkleTree`` answers from memory in O(log n) per proof after an O(n) build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

SubtreeHasher = Callable[[int, int], bytes]
"""``(start, end) -> MTH(D[start:end])``: how proof generation reads node hashes."""


class ProofError(Exception):
    """A proof does not verify, or a hash, index or size given for one is impossible."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves, built level by level in O(n).

    Promoting a level's unpaired last node unchanged builds the same tree as the RFC's split at
    the largest power of two, since every left subtree of that split is complete.
    """
    _check_leaves(leaf_hashes)
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = _pair_up(level)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def subtree_hash(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) computed from the leaves; a ``SubtreeHasher`` over a plain list."""
    _check_range(start, end, len(leaf_hashes))
    return merkle_root(leaf_hashes[start:end])


def inclusion_proof(index: int, size: int, subtree: SubtreeHasher) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), ordered from the leaf's sibling up."""
    _check_index(index, size)
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()  # walking down from the root meets the last node of the path first
    return path


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHasher) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1); empty when the sizes are equal."""
    _check_sizes(old_size, new_size)
    proof: list[bytes] = []
    start, end = 0, new_size
    old_is_a_subtree = True  # the RFC's flag b: the old tree is a node of the new one
    while old_size != end:
        k = _split(end - start)
        if old_size - start <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
            old_is_a_subtree = False
    if not old_is_a_subtree:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` at ``index`` (RFC 9162 §2.1.3.2)."""
    _check_index(index, size)
    _check_hash(leaf, "leaf hash")
    _check_proof_nodes(proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof too long for leaf {index} of {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _skip_right_border(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"inclusion proof too short for leaf {index} of {size}")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows ``leaf`` at ``index`` in the tree ``root``."""
    _check_hash(root, "root hash")
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} of {size} does not match the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless ``proof`` shows the old tree is a prefix of the new one
    (RFC 9162 §2.1.4.2)."""
    _check_sizes(old_size, new_size)
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    _check_proof_nodes(proof)
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        return
    if not proof:
        raise ProofError(f"empty consistency proof from {old_size} to {new_size}")
    fr, sr = _roots_from_consistency_proof(old_size, new_size, old_root, proof)
    if fr != old_root:
        raise ProofError(f"consistency proof does not match the root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not match the root of size {new_size}")


def _roots_from_consistency_proof(
    old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    # A complete old tree is a node of the new one, so the proof omits it; the RFC puts it back.
    nodes = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof too long from {old_size} to {new_size}")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _skip_right_border(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"consistency proof too short from {old_size} to {new_size}")
    return fr, sr


def _skip_right_border(fn: int, sn: int) -> tuple[int, int]:
    # On the tree's right border a node has no right sibling: climb until fn is a right child.
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


class MerkleTree:
    """Leaf hashes with the hash of every complete subtree kept: O(n) to build, O(1) per
    append (amortised), O(log n) per root or proof, for this size or any earlier one."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        leaves = list(leaf_hashes)
        _check_leaves(leaves)
        # levels[h][i] is the complete subtree of leaves [i * 2**h, (i + 1) * 2**h).
        self._levels = [leaves]
        while len(self._levels[-1]) > 1:
            self._levels.append(_pair_up(self._levels[-1]))

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        _check_hash(leaf, "leaf hash")
        self._levels[0].append(leaf)
        level, index = 0, self.size - 1
        while index & 1:  # a right child completes its parent
            below = self._levels[level]
            level, index = level + 1, index >> 1
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(node_hash(below[-2], below[-1]))

    def leaf(self, index: int) -> bytes:
        _check_index(index, self.size)
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        return self.subtree_hash(0, self.size if size is None else size)

    def subtree_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); O(log n) for the ranges proofs use (start a multiple of a power
        of two at least end - start), down to the leaves for other ranges."""
        _check_range(start, end, self.size)
        return self._subtree(start, end)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self._checked_size(size)
        return inclusion_proof(index, size, self._subtree)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self._checked_size(new_size)
        return consistency_proof(old_size, new_size, self._subtree)

    def _checked_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if size > self.size:
            raise ProofError(f"tree size {size} is beyond the {self.size} leaves held")
        return size

    def _subtree(self, start: int, end: int) -> bytes:
        width = end - start
        if width == 0:
            return EMPTY_ROOT
        if width & (width - 1) == 0 and start % width == 0:
            return self._levels[width.bit_length() - 1][start // width]
        k = _split(width)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))


class CompactRange:
    """The roots of the complete subtrees covering leaves [0, size), largest first: one per bit
    set in size, enough to append and to give the current root in O(log n) memory."""

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @classmethod
    def restore(cls, size: int, peaks: Sequence[bytes]) -> CompactRange:
        """Resume from a saved ``(size, peaks)``, e.g. after a restart of the append path."""
        if size < 0 or len(peaks) != size.bit_count():
            raise ProofError(f"a compact range of size {size} has {max(size, 0).bit_count()} peaks")
        for peak in peaks:
            _check_hash(peak, "peak hash")
        compact = cls()
        compact._size, compact._peaks = size, list(peaks)
        return compact

    @property
    def size(self) -> int:
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        return tuple(self._peaks)

    def append(self, leaf: bytes) -> None:
        _check_hash(leaf, "leaf hash")
        node, size = leaf, self._size
        while size & 1:  # each trailing one bit is a peak of the new node's height: merge
            node = node_hash(self._peaks.pop(), node)
            size >>= 1
        self._peaks.append(node)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        root = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            root = node_hash(peak, root)
        return root


def _pair_up(level: list[bytes]) -> list[bytes]:
    return [node_hash(a, b) for a, b in zip(level[0::2], level[1::2], strict=False)]


def _split(width: int) -> int:
    """The largest power of two below ``width`` (at least 2): where RFC 9162 splits a tree."""
    return 1 << ((width - 1).bit_length() - 1)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _check_hash(value: bytes, what: str) -> None:
    if not _is_hash(value):
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def _check_leaves(leaves: Sequence[bytes]) -> None:
    bad = next((i for i, leaf in enumerate(leaves) if not _is_hash(leaf)), None)
    if bad is not None:
        raise ProofError(f"leaf hash {bad} must be {HASH_SIZE} bytes")


def _check_proof_nodes(proof: Sequence[bytes]) -> None:
    bad = next((i for i, node in enumerate(proof) if not _is_hash(node)), None)
    if bad is not None:
        raise ProofError(f"proof node {bad} must be {HASH_SIZE} bytes")


def _check_index(index: int, size: int) -> None:
    if size < 1:
        raise ProofError(f"tree size must be at least 1 to prove inclusion, got {size}")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")


def _check_sizes(old_size: int, new_size: int) -> None:
    # RFC 9162 defines no consistency proof from the empty tree, which every tree extends anyway.
    if old_size < 1:
        raise ProofError(f"old tree size must be at least 1, got {old_size}")
    if old_size > new_size:
        raise ProofError(f"old tree size {old_size} is larger than new tree size {new_size}")


def _check_range(start: int, end: int, size: int) -> None:
    if not 0 <= start <= end <= size:
        raise ProofError(f"leaf range [{start}, {end}) is outside a tree of size {size}")
