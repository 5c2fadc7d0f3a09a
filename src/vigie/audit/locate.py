"""Naming a rewrite of the tree itself: when the stored leaves no longer give a signed root, find
the first signed size they break, and test whether one leaf inserted there (the rest shifted)
explains it; otherwise say whether leaves went missing or were changed in that span.

Invariant: a finding added here names a span between two signed sizes that the evidence supports,
and a precise leaf only when removing that leaf restores the signed root exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from vigie.audit.sequencer import _State, extend, root_of
from vigie.audit.tree_head import SignedTreeHead

if TYPE_CHECKING:
    from vigie.audit.verify import Report, Scan

MAX_WINDOW = 4096  # leaves tried one by one; a larger span is named, not searched


def explain(
    conn: Connection,
    report: Report,
    heads: list[SignedTreeHead],
    outside: list[SignedTreeHead],
    scan: Scan,
) -> None:
    if not any(f.kind in ("tree", "published") for f in report.findings):
        return
    # Published heads are the reference when there are some: the database's may be re-signed.
    signed = sorted({(h.head.tree_size, h.head.root_hash) for h in outside or heads})
    failing = [
        (size, root)
        for size, root in signed
        if size > scan.state.size or scan.roots.get(size) != root
    ]
    if not failing:
        return
    bad = failing[0]
    good = max([0, *(s for s, _ in signed if s < bad[0])])
    size, root = bad
    inserted = _inserted_leaf(conn, scan, good, size, root)
    if inserted is not None:
        report.add("inserted", f"feuille {inserted} insérée dans l'historique signé", inserted)
    elif scan.state.size < max(s for s, _ in signed):
        report.add("deleted", f"feuille(s) supprimée(s) entre les tailles signées {good} et {size}")
    else:
        report.add("modified", f"feuilles réécrites entre les tailles signées {good} et {size}")


def _inserted_leaf(conn: Connection, scan: Scan, good: int, size: int, root: bytes) -> int | None:
    if size - good > MAX_WINDOW or good not in scan.peaks or scan.state.size <= size:
        return None
    window = [
        bytes(r[0])
        for r in conn.execute(
            text(
                "SELECT leaf_hash FROM audit_leaves WHERE leaf_index >= :low"
                " AND leaf_index <= :high ORDER BY leaf_index"
            ),
            {"low": good, "high": size},
        )
    ]
    for offset in range(len(window)):
        candidate = window[:offset] + window[offset + 1 :]
        state = _State(good, list(scan.peaks[good]))
        extend(state, candidate[: size - good])
        if root_of(state.peaks) == root:
            return good + offset
    return None
