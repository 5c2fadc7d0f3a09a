"""``vigie audit verify``: recompute every leaf hash and the whole tree from the stored entries,
check every stored signed head (signature, root, consistency with the one before), the stored
subtrees and the sequencer's state, and the heads published outside the database.

Invariant: any entry modified, deleted, inserted or reordered after it was covered by a signed
head is reported, named by kind and leaf index where the evidence allows; a report without
findings means every stored and published head commits to exactly the stored entries.
"""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from vigie.audit import locate, scan, sequencer
from vigie.audit.builder import TreeBuilder
from vigie.audit.merkle import ProofError, consistency_proof, verify_consistency
from vigie.audit.proofs import StoredTree, stored_head
from vigie.audit.sequencer import _State, signing_key
from vigie.audit.tree_head import SignedTreeHead, TreeHeadError, verify_tree_head
from vigie.crypto.keyfile import KeyFile
from vigie.db.sql import is_postgres

PARALLEL_FROM = 250_000  # below, starting processes costs more than it saves


@dataclass(frozen=True)
class Finding:
    kind: str  # modified, deleted, inserted, reordered, tree, head, published, nodes, state
    message: str  # in French, for the operator
    leaf_index: int | None = None


@dataclass
class Report:
    leaves: int = 0
    heads: int = 0
    published: int = 0
    pending: int = 0  # committed entries a sequencer round has not reached yet (not a fault)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, message: str, leaf_index: int | None = None) -> None:
        self.findings.append(Finding(kind, message, leaf_index))


def read_published(path: Path) -> list[SignedTreeHead]:
    heads = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            heads.append(SignedTreeHead.from_dict(json.loads(line)))
    return heads


def verify_log(
    engine: Engine,
    keys: KeyFile,
    *,
    log_id: str,
    published: Path | None = None,
    workers: int = 1,
) -> Report:
    """``workers`` processes scan the leaves of a log of PARALLEL_FROM leaves or more."""
    report = Report()
    public = signing_key(keys).public_key()
    outside = read_published(published) if published is not None and published.exists() else []
    with engine.connect() as conn:
        heads = [stored_head(r, log_id) for r in conn.execute(_HEADS)]
        for head in heads + outside:
            try:
                verify_tree_head(head, public)
            except TreeHeadError:
                report.add("head", f"tête de taille {head.head.tree_size} : signature invalide")
        report.heads, report.published = len(heads), len(outside)
        checkpoints = {0} | {h.head.tree_size for h in heads + outside}
        url = engine.url.render_as_string(hide_password=False)
        scanned = _scan(conn, report, checkpoints, url, workers)
        _check_heads(report, heads, outside, scanned)
        _check_consistency(conn, report, heads, scanned)
        _check_nodes(conn, report, scanned.nodes)
        _check_state(conn, report, scanned.state)
        _check_unsequenced(conn, report)
        locate.explain(conn, report, heads, outside, scanned)
    return report


@dataclass
class Scan:
    """What one pass over the leaves computed."""

    state: _State
    roots: dict[int, bytes]  # tree size -> root of the stored leaf hashes
    peaks: dict[int, list[bytes]]  # tree size -> compact range there (to locate a fault)
    nodes: dict[tuple[int, int], bytes]
    mismatches: list[tuple[int, bytes, bytes]]  # leaf index, recomputed, stored


_HEADS = text(
    "SELECT tree_size, root_hash, timestamp_ms, signature FROM audit_heads ORDER BY tree_size"
)


def _scan(conn: Connection, report: Report, checkpoints: set[int], url: str, workers: int) -> Scan:
    """Every leaf, in ranges scanned by ``workers`` processes on a large log."""
    tree = TreeBuilder(checkpoints)
    sorted_checkpoints = sorted(checkpoints)
    stored_size = conn.execute(text("SELECT COUNT(*) FROM audit_leaves")).scalar_one()
    results = None
    if workers > 1 and stored_size >= PARALLEL_FROM:
        bounds = scan.ranges(stored_size, workers)
        jobs = [(url, low, high, sorted_checkpoints, sequencer.NODE_LEVELS) for low, high in bounds]
        with ProcessPoolExecutor(len(jobs), mp_context=get_context("spawn")) as pool:
            results = list(pool.map(scan.scan_in_process, jobs))
        for result, (next_low, _high) in zip(results, bounds[1:], strict=False):
            if result.low + result.count != next_low:
                results = None  # leaves missing inside a range: assemble from one scan instead
                break
    if results is None:
        results = [scan.scan_range(conn, 0, 2**62, sorted_checkpoints)]
    mismatches: list[tuple[int, bytes, bytes]] = []
    for result in results:
        for index, message in result.deleted:
            report.add("deleted", message, index)
        mismatches += result.mismatches
        for block in result.blocks:
            tree.take(block)
    state = tree.finish()
    report.leaves = state.size
    _classify_mismatches(report, mismatches)
    return Scan(state, tree.roots, tree.peaks, tree.nodes, mismatches)


def _classify_mismatches(report: Report, mismatches: list[tuple[int, bytes, bytes]]) -> None:
    """A leaf whose entry now hashes to another mismatched leaf's hash was moved; else changed."""
    stored_at = {stored: index for index, _, stored in mismatches}
    for index, recomputed, _stored in mismatches:
        other = stored_at.get(recomputed)
        if other is not None and other != index:
            report.add(
                "reordered",
                f"feuille {index} : porte l'entrée signée à la feuille {other} (ordre modifié)",
                index,
            )
        else:
            report.add("modified", f"feuille {index} : entrée modifiée après signature", index)


def _check_heads(
    report: Report, heads: list[SignedTreeHead], outside: list[SignedTreeHead], scan: Scan
) -> None:
    stored = {h.head.tree_size: h.head.root_hash for h in heads}
    for head in heads:
        size, root = head.head.tree_size, head.head.root_hash
        if size > scan.state.size:
            report.add("tree", f"tête signée de taille {size}, mais {scan.state.size} feuilles")
        elif scan.roots.get(size) != root:
            report.add("tree", f"les feuilles ne donnent plus la racine signée à la taille {size}")
    for head in outside:
        size, root = head.head.tree_size, head.head.root_hash
        if stored.get(size) != root:
            report.add("published", f"tête publiée de taille {size} absente ou autre en base")
        if size > scan.state.size or scan.roots.get(size) != root:
            report.add("published", f"le journal ne correspond plus à la tête publiée {size}")


def _check_consistency(
    conn: Connection, report: Report, heads: list[SignedTreeHead], scan: Scan
) -> None:
    """Successive heads, through consistency proofs built from the stored subtrees."""
    usable = [h for h in heads if h.head.tree_size <= scan.state.size]
    for old, new in itertools.pairwise(usable):
        try:
            proof = _consistency(conn, old.head.tree_size, new.head.tree_size)
            verify_consistency(
                old.head.tree_size,
                new.head.tree_size,
                old.head.root_hash,
                new.head.root_hash,
                proof,
            )
        except ProofError:
            report.add(
                "tree",
                f"têtes {old.head.tree_size} et {new.head.tree_size} : pas de preuve de cohérence",
            )


def _consistency(conn: Connection, old: int, new: int) -> list[bytes]:
    try:
        return consistency_proof(old, new, StoredTree(conn))
    except ValueError as exc:  # ProofRequestError: a stored subtree is missing
        raise ProofError(str(exc)) from exc


def _check_nodes(conn: Connection, report: Report, computed: dict[tuple[int, int], bytes]) -> None:
    stored = {
        (int(level), int(index)): bytes(digest)
        for level, index, digest in conn.execute(
            text('SELECT level, "index", hash FROM audit_nodes')
        )
    }
    if stored != computed:
        wrong = sorted(set(stored.items()) ^ set(computed.items()))[:1]
        level, index = wrong[0][0]
        report.add("nodes", f"sous-arbres stockés incohérents (niveau {level}, nœud {index})")


def _check_state(conn: Connection, report: Report, state: _State) -> None:
    row = conn.execute(text("SELECT tree_size, peaks FROM audit_state")).first()
    if row is None:
        if state.size:
            report.add("state", "état du séquenceur absent")
        return
    if row.tree_size != state.size or bytes(row.peaks) != b"".join(state.peaks):
        report.add("state", "état du séquenceur incohérent avec les feuilles")


def _check_unsequenced(conn: Connection, report: Report) -> None:
    """Entries without a leaf that the sequencer has already passed were inserted afterwards;
    the others are simply waiting for the next round."""
    entries = conn.execute(text("SELECT COUNT(*) FROM access_log")).scalar_one()
    if entries == report.leaves and not any(f.kind == "deleted" for f in report.findings):
        return  # every leaf has its entry, each a different one: no entry is left without a leaf
    state = conn.execute(text("SELECT last_id, frontier, pending FROM audit_state")).first()
    last_id = state.last_id if state is not None else 0
    if is_postgres(conn):
        query = (
            "SELECT e.id, CAST(CAST(e.txid AS text) AS bigint) FROM access_log e"
            " LEFT JOIN audit_leaves l ON l.entry_id = e.id WHERE l.entry_id IS NULL"
        )
    else:
        query = (
            "SELECT e.id, 0 FROM access_log e"
            " LEFT JOIN audit_leaves l ON l.entry_id = e.id WHERE l.entry_id IS NULL"
        )
    pending = {int(x) for x in state.pending.split(",") if x} if state is not None else set()
    for entry_id, txid in conn.execute(text(query)):
        if is_postgres(conn):
            passed = state is not None and txid < state.frontier and txid not in pending
        else:
            passed = entry_id <= last_id
        if passed:
            report.add("inserted", f"entrée {entry_id} insérée sans feuille, après séquencement")
        else:
            report.pending += 1
