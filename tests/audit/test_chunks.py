"""Leaves paired with their entries chunk by chunk (``vigie.audit.chunks``), on both stores: in
leaf order whatever the order of the entries, each entry re-hashed to exactly its leaf, a missing
entry named as such, across chunk boundaries and both ways of reading the entries."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.audit.helpers import add_entries, run_round
from vigie.audit import chunks
from vigie.audit.chunks import Chunk, pair
from vigie.audit.log import ENTRY_COLUMNS, Event, leaf_entry, record
from vigie.audit.merkle import leaf_hash
from vigie.audit.verify import verify_log
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime

# Entries whose columns the fast form of a leaf must render exactly as the generic one.
ODD = (
    Event("sign_in", "user:léa", "ok"),  # NULL structure, mutuelle and pseudonym; not ASCII
    Event("import", "user:x", "ok", structure_id=0, amc="", detail={"n": 'a"\\\n\tb'}),
    Event("incident", "user:y", "refused", insured=b"", detail={"note": "écart € 🙂"}),
)


def stored_rows(runtime: Runtime) -> dict[int, tuple[object, ...]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {ENTRY_COLUMNS} FROM access_log"))  # noqa: S608
        return {row[0]: tuple(row) for row in rows}


def collect(runtime: Runtime, low: int = 0, high: int = 2**62) -> Chunk:
    whole = Chunk([], [], [], [])
    with runtime.engine.connect() as conn:
        for chunk in chunks.chunks(conn, low, high):
            whole.indexes += chunk.indexes
            whole.entry_ids += chunk.entry_ids
            whole.stored += chunk.stored
            whole.recomputed += chunk.recomputed
    return whole


def test_leaves_in_any_entry_order_pair_with_their_entries(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaves name entries out of id order, one far from its neighbours, one gone; some entries
    have no leaf; leaf indexes have gaps, one of many chunks; chunks of 8 leaves."""
    monkeypatch.setattr(chunks, "CHUNK", 8)
    add_entries(runtime, 90)
    with write_transaction(runtime.engine) as conn:
        for event in ODD:
            record(conn, event, at_us=7)
    rows = stored_rows(runtime)
    ids = sorted(rows)
    named = []
    for group in range(0, 40, 8):  # entries committed in another order than their ids
        named += random.Random(group).sample(ids[group : group + 8], 8)
    named[2] = ids[70]  # far from the rest of its chunk: read by id list, not by range
    named += [*ids[-3:], 10**9]  # the odd entries, and one that is not there (deleted)
    leaves = [(index if index < 20 else index + 5, entry) for index, entry in enumerate(named)]
    leaves[-1] = (10**12, named[-1])  # far beyond the others: a gap of many chunks
    with write_transaction(runtime.engine) as conn:
        for index, entry in leaves:
            digest = leaf_hash(leaf_entry(rows[entry])) if entry in rows else b"\x07" * 32
            conn.execute(
                text(
                    "INSERT INTO audit_leaves (leaf_index, entry_id, leaf_hash) VALUES (:i, :e, :h)"
                ),
                {"i": index, "e": entry, "h": digest},
            )
    whole = collect(runtime)
    assert whole.indexes == [index for index, _ in leaves]
    assert whole.entry_ids == named
    assert whole.recomputed[:-1] == whole.stored[:-1]
    assert whole.recomputed[-1] is None
    part = collect(runtime, 8, 30)  # a range as a worker gets it
    assert part.indexes == [i for i, _ in leaves if 8 <= i < 30]
    assert part.recomputed == part.stored


def test_pairing_by_id_in_any_order() -> None:
    def row(entry: int) -> tuple[object, ...]:
        return (entry, 1, "sign_in", f"user:{entry}", "ok", None, None, None, 0, "{}")

    rows = [row(5), row(3), row(9), row(4)]  # entries in another order, one named by no leaf
    got = pair([0, 1, 2, 3], [3, 4, 5, 6], [b"a"] * 4, rows)
    assert got.recomputed == [leaf_hash(leaf_entry(row(e))) for e in (3, 4, 5)] + [None]
    assert pair([0, 1], [3, 4], [b"a"] * 2, []).recomputed == [None, None]


def test_tampering_is_named_across_chunk_boundaries(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "CHUNK", 8)
    published = tmp_path / "heads.jsonl"
    for start in (0, 30):
        add_entries(runtime, 30, start=start)
        run_round(runtime, published)

    def verify() -> set[tuple[str, int | None]]:
        report = verify_log(runtime.engine, runtime.keys, log_id="vigie-audit", published=published)
        assert report.leaves == 60
        return {(f.kind, f.leaf_index) for f in report.findings}

    assert verify() == set()
    with runtime.engine.begin() as conn:
        entry = "SELECT entry_id FROM audit_leaves WHERE leaf_index = :i"
        conn.execute(
            text(f"DELETE FROM access_log WHERE id = ({entry})"),  # noqa: S608
            {"i": 16},
        )
        conn.execute(
            text(f"UPDATE access_log SET actor = 'user:z' WHERE id = ({entry})"),  # noqa: S608
            {"i": 31},
        )
    assert verify() == {("deleted", 16), ("modified", 31)}
