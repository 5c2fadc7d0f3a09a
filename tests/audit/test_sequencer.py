"""The sequencer: every committed entry becomes exactly one leaf, in order, none skipped (even
when PostgreSQL commits a smaller id later), and each round signs and publishes a head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.audit.helpers import add_entries, memory_tree, run_round
from vigie.audit import sequencer
from vigie.audit.log import Event, record
from vigie.audit.sequencer import Round, public_key_text
from vigie.audit.tree_head import SignedTreeHead, decode_public_key, verify_tree_head
from vigie.runtime import Runtime


def _leaf_entries(runtime: Runtime) -> list[int]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT entry_id FROM audit_leaves ORDER BY leaf_index"))
        return [r[0] for r in rows]


def test_rounds_sequence_entries_and_sign_heads(runtime: Runtime, tmp_path: Path) -> None:
    heads = tmp_path / "heads.jsonl"
    assert run_round(runtime, heads).head is None  # nothing yet, nothing signed
    add_entries(runtime, 10)
    first = run_round(runtime, heads)
    assert first.added == 10 and first.head is not None
    add_entries(runtime, 300, start=10)  # crosses a stored level (2**8)
    second = run_round(runtime, heads)
    assert second.added == 300 and second.head is not None
    assert run_round(runtime, heads).added == 0
    tree = memory_tree(runtime)
    assert tree.size == 310 and second.head.head.root_hash == tree.root()
    assert first.head.head.root_hash == tree.root(10)
    key = decode_public_key(public_key_text(runtime.keys))
    published = [SignedTreeHead.from_dict(json.loads(line)) for line in heads.open()]
    assert [h.head.tree_size for h in published] == [10, 310]
    for head in published:
        verify_tree_head(head, key)
    assert _leaf_entries(runtime) == list(range(1, 311))


def test_a_head_on_demand(runtime: Runtime) -> None:
    forced = run_round(runtime, force=True).head
    assert forced is not None and forced.head.tree_size == 0


def test_a_late_commit_is_never_skipped(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite commits in id order under one write lock")
    event = Event("eligibility", "rpps:10000000008", "positive")
    slow = runtime.engine.connect()
    slow_tx = slow.begin()
    record(slow, event)  # takes the smaller id, commits last
    with runtime.engine.begin() as fast:
        record(fast, event)
    assert run_round(runtime).added == 1  # the fast one; the slow one is still running
    add_entries(runtime, 3)
    assert run_round(runtime).added == 3  # a long transaction holds up only its own entry
    slow_tx.commit()
    slow.close()
    assert run_round(runtime).added == 1
    ids = _leaf_entries(runtime)
    assert sorted(ids) == [1, 2, 3, 4, 5] and ids[-1] == 1


def test_a_rolled_back_entry_leaves_no_hole(runtime: Runtime) -> None:
    with runtime.engine.connect() as conn:
        tx = conn.begin()
        record(conn, Event("admin", "user:1", "ok"))
        tx.rollback()
    add_entries(runtime, 2)
    assert run_round(runtime).added == 2
    assert memory_tree(runtime).size == 2


def test_a_head_missed_by_the_file_is_published_at_the_next_round(
    runtime: Runtime, tmp_path: Path
) -> None:
    heads = tmp_path / "heads.jsonl"
    add_entries(runtime, 4)
    signed = run_round(runtime).head  # as if the process died before writing the file
    assert signed is not None and not heads.exists()
    assert run_round(runtime, heads).added == 0
    published = [json.loads(line) for line in heads.open()]
    assert published == [signed.to_dict()]
    run_round(runtime, heads)
    assert len(heads.read_text().splitlines()) == 1  # not published twice


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite writes a round in slices (the write lock held briefly): tiny ones here."""
    monkeypatch.setattr(sequencer, "SLICE", 3)
    monkeypatch.setattr(sequencer, "CHUNK", 50)
    monkeypatch.setattr(sequencer, "SLICE_PAUSE", 0.0)


def _sqlite_only(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL sequences a round in one transaction")


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("chunk", [50, 7])
def test_a_round_written_in_slices_is_the_same_tree(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    _sqlite_only(runtime)
    monkeypatch.setattr(sequencer, "CHUNK", chunk)
    store, writes = sequencer._store, []

    def counted(conn: Any, rows: Any, *rest: Any) -> None:
        writes.append(len(rows))  # one write transaction each
        store(conn, rows, *rest)

    monkeypatch.setattr(sequencer, "_store", counted)
    heads = tmp_path / "heads.jsonl"
    add_entries(runtime, 20)  # slices of 3; or a backlog: chunks of 7 whole, then 6 in slices
    done = run_round(runtime, heads)
    assert writes == ([3] * 6 + [2] if chunk == 50 else [7, 7, 3, 3])
    tree = memory_tree(runtime)
    assert done.added == 20 and done.head is not None
    assert done.head.head.tree_size == 20 and done.head.head.root_hash == tree.root()
    assert _leaf_entries(runtime) == list(range(1, 21))
    assert len(heads.read_text().splitlines()) == 1  # one head a round, not one a slice


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("force", [False, True])
def test_a_round_overtaken_by_another_stops_without_a_duplicate(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    _sqlite_only(runtime)
    add_entries(runtime, 5)
    hash_rows = sequencer._hash_rows
    overtaken: list[Round] = []

    def other_round_first(state: Any, rows: Any) -> Any:
        if not overtaken:  # between this round's read and its first write, another runs whole
            monkeypatch.setattr(sequencer, "_hash_rows", hash_rows)
            overtaken.append(run_round(runtime))
        return hash_rows(state, rows)

    monkeypatch.setattr(sequencer, "_hash_rows", other_round_first)
    late = run_round(runtime, force=force)
    assert overtaken[0].added == 5 and late.added == 0
    if force:  # `vigie audit sign`: a head, of the tree the other round left
        assert late.head is not None and late.head.head.tree_size == 5
    else:
        assert late.head is None
    assert _leaf_entries(runtime) == [1, 2, 3, 4, 5]
    assert memory_tree(runtime).size == 5


@pytest.mark.usefixtures("small_slices")
def test_a_round_that_fails_between_slices_is_finished_by_the_next(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _sqlite_only(runtime)
    heads = tmp_path / "heads.jsonl"
    add_entries(runtime, 8)
    store = sequencer._store
    calls = []

    def fail_second(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        store(*args)

    monkeypatch.setattr(sequencer, "_store", fail_second)
    with pytest.raises(OSError):
        run_round(runtime, heads)
    assert _leaf_entries(runtime) == [1, 2, 3]  # the first slice stands, the second left nothing
    monkeypatch.setattr(sequencer, "_store", store)
    done = run_round(runtime, heads)
    tree = memory_tree(runtime)
    assert done.added == 5 and done.head is not None and done.head.head.root_hash == tree.root()
    assert _leaf_entries(runtime) == list(range(1, 9))
