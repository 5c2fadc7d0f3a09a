"""Helpers for access-log tests: entries, rounds of the sequencer, the tree rebuilt in memory."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from vigie.audit.log import ENTRY_COLUMNS, Event, leaf_entry, record
from vigie.audit.merkle import MerkleTree, leaf_hash
from vigie.audit.sequencer import Round, sequence
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime

AMCS = ("123456789", "987654321")


def add_entries(runtime: Runtime, count: int, *, start: int = 0) -> None:
    with write_transaction(runtime.engine) as conn:
        for n in range(start, start + count):
            event = Event(
                "eligibility",
                f"rpps:{10000000000 + n % 7}",
                "positive" if n % 3 else "negative",
                structure_id=n % 5,
                amc=AMCS[n % 2],
                insured=n.to_bytes(16, "big"),
                detail={"mode": "estimate", "care": ["lab"]},
                exposed=3 if n % 3 else 1,
            )
            record(conn, event, at_us=1_750_000_000_000_000 + n * 1000)


def run_round(runtime: Runtime, heads: Path | None = None, *, force: bool = False) -> Round:
    return sequence(
        runtime.engine,
        runtime.keys,
        log_id=runtime.settings.audit_log_id,
        heads_file=heads,
        force=force,
    )


def memory_tree(runtime: Runtime) -> MerkleTree:
    """The tree the stored leaves should form, rebuilt from the entries in leaf order."""
    query = text(
        f"SELECT {', '.join('e.' + c.strip() for c in ENTRY_COLUMNS.split(','))}"  # noqa: S608
        " FROM audit_leaves l JOIN access_log e ON e.id = l.entry_id ORDER BY l.leaf_index"
    )
    with runtime.engine.connect() as conn:
        return MerkleTree(leaf_hash(leaf_entry(tuple(row))) for row in conn.execute(query))
