"""Proofs from the stored tree: signed heads, inclusion of a leaf (by index or by entry) and
consistency between two signed sizes, as documents that ``tools/verify_proof.py`` checks.

Invariant: every proof is computed from stored leaf hashes and complete subtrees only, and is
given against a head the log signed; a parameter the tree cannot answer raises ProofRequestError
(a French message for the caller), never a wrong proof.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text

from vigie.audit import sequencer
from vigie.audit.log import ENTRY_COLUMNS, leaf_entry
from vigie.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    merkle_root,
    node_hash,
)
from vigie.audit.models import Leaf, SignedHead
from vigie.audit.tree_head import SignedTreeHead, TreeHead


class ProofRequestError(ValueError):
    """The parameters name no proof the log can give; the message says why, in French."""


class StoredTree:
    """A ``SubtreeHasher`` over the stored tree: a complete subtree is read from the highest
    stored level below it (at most 2**8 rows), any other range split as RFC 9162 does."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __call__(self, start: int, end: int) -> bytes:
        width = end - start
        if width == 0:
            return EMPTY_ROOT
        if width & (width - 1) == 0 and start % width == 0:
            return self._complete(start, width.bit_length() - 1)
        split = 1 << ((width - 1).bit_length() - 1)
        return node_hash(self(start, start + split), self(start + split, end))

    def _complete(self, start: int, height: int) -> bytes:
        stored = (0, *sequencer.NODE_LEVELS)  # level 0: the leaves themselves
        level = max(lv for lv in stored if lv <= height)
        low, high = start >> level, (start + (1 << height)) >> level
        if level == 0:
            query = text(
                "SELECT leaf_hash FROM audit_leaves WHERE leaf_index >= :low"
                " AND leaf_index < :high ORDER BY leaf_index"
            )
        else:
            query = text(
                'SELECT hash FROM audit_nodes WHERE level = :level AND "index" >= :low'
                ' AND "index" < :high ORDER BY "index"'
            )
        hashes = [
            bytes(r[0])
            for r in self.conn.execute(query, {"level": level, "low": low, "high": high})
        ]
        if len(hashes) != high - low:
            raise ProofRequestError("arbre incomplet : ces feuilles ne sont pas encore séquencées")
        return merkle_root(hashes)


_HEADS = select(
    SignedHead.tree_size, SignedHead.root_hash, SignedHead.timestamp_ms, SignedHead.signature
)
_LEAVES = select(Leaf.leaf_index, Leaf.entry_id)


def stored_head(row: Any, log_id: str) -> SignedTreeHead:
    """A head as stored (the log id is a setting, the same for every head)."""
    return SignedTreeHead(
        TreeHead(row.tree_size, bytes(row.root_hash), row.timestamp_ms, log_id),
        bytes(row.signature),
    )


def latest_head(conn: Connection, log_id: str) -> SignedTreeHead | None:
    row = conn.execute(_HEADS.order_by(SignedHead.tree_size.desc()).limit(1)).first()
    return stored_head(row, log_id) if row is not None else None


def head_at(conn: Connection, log_id: str, size: int | None) -> SignedTreeHead:
    """The signed head of ``size`` (the latest when None); ProofRequestError if none."""
    if size is None:
        head = latest_head(conn, log_id)
        if head is None:
            raise ProofRequestError("aucune tête d'arbre signée pour l'instant")
        return head
    row = conn.execute(_HEADS.where(SignedHead.tree_size == size)).first()
    if row is None:
        raise ProofRequestError(f"aucune tête d'arbre signée pour la taille {size}")
    return stored_head(row, log_id)


@dataclass(frozen=True)
class Inclusion:
    head: SignedTreeHead
    leaf_index: int
    entry_id: int
    entry: bytes
    path: list[bytes]
    insured: bytes | None

    def document(self, public_key: str) -> dict[str, Any]:
        return {
            "kind": "inclusion",
            "public_key": public_key,
            "tree_head": self.head.to_dict(),
            "leaf_index": self.leaf_index,
            "entry_id": self.entry_id,
            "leaf_entry": base64.b64encode(self.entry).decode("ascii"),
            "audit_path": [h.hex() for h in self.path],
        }


def inclusion(
    conn: Connection,
    log_id: str,
    *,
    leaf_index: int | None = None,
    entry_id: int | None = None,
    size: int | None = None,
) -> Inclusion:
    """The proof that a leaf (given by index or by entry id) is in the signed tree of ``size``."""
    head = head_at(conn, log_id, size)
    if leaf_index is not None and leaf_index >= head.head.tree_size:
        raise ProofRequestError(
            f"la feuille {leaf_index} n'est pas dans l'arbre de taille {head.head.tree_size}"
        )
    if leaf_index is not None:
        leaf = conn.execute(_LEAVES.where(Leaf.leaf_index == leaf_index)).first()
    else:
        leaf = conn.execute(_LEAVES.where(Leaf.entry_id == entry_id)).first()
    if leaf is None:
        raise ProofRequestError("entrée introuvable ou pas encore séquencée")
    if leaf.leaf_index >= head.head.tree_size:
        raise ProofRequestError(
            f"la feuille {leaf.leaf_index} n'est pas dans l'arbre de taille {head.head.tree_size}"
        )
    row = conn.execute(
        text(f"SELECT {ENTRY_COLUMNS} FROM access_log WHERE id = :id"),  # noqa: S608
        {"id": leaf.entry_id},
    ).first()
    if row is None:
        raise ProofRequestError("l'entrée de cette feuille a disparu du journal")
    path = inclusion_proof(leaf.leaf_index, head.head.tree_size, StoredTree(conn))
    entry = leaf_entry(tuple(row))
    return Inclusion(head, leaf.leaf_index, leaf.entry_id, entry, path, row.insured)


def consistency(
    conn: Connection, log_id: str, old_size: int, new_size: int | None
) -> dict[str, Any]:
    new = head_at(conn, log_id, new_size)
    if old_size > new.head.tree_size:
        raise ProofRequestError("la taille ancienne dépasse la taille récente")
    old = head_at(conn, log_id, old_size)
    proof = consistency_proof(old_size, new.head.tree_size, StoredTree(conn))
    return {
        "kind": "consistency",
        "old_tree_head": old.to_dict(),
        "tree_head": new.to_dict(),
        "proof": [h.hex() for h in proof],
    }
