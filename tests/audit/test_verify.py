"""``vigie audit verify`` on a log tampered with in each way, on both stores: an entry modified,
deleted, inserted into the signed history, leaves reordered, and the whole database rewritten and
re-signed, which only the heads published outside the database can catch."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.audit.helpers import add_entries, run_round
from vigie.audit import verify
from vigie.audit.log import ENTRY_COLUMNS, Event, leaf_entry, record
from vigie.audit.merkle import leaf_hash
from vigie.audit.verify import Report, verify_log
from vigie.cli.main import app
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime

ROUNDS = 6
PER_ROUND = 10


@pytest.fixture
def heads(runtime: Runtime, tmp_path: Path) -> Path:
    """Six signed and published heads, of sizes 10 to 60."""
    published = tmp_path / "heads.jsonl"
    for n in range(ROUNDS):
        add_entries(runtime, PER_ROUND, start=n * PER_ROUND)
        run_round(runtime, published)
    return published


def check(runtime: Runtime, published: Path | None) -> Report:
    return verify_log(
        runtime.engine, runtime.keys, log_id=runtime.settings.audit_log_id, published=published
    )


def kinds(report: Report) -> set[tuple[str, int | None]]:
    return {(f.kind, f.leaf_index) for f in report.findings}


def entry_of(runtime: Runtime, leaf: int) -> int:
    with runtime.engine.connect() as conn:
        query = text("SELECT entry_id FROM audit_leaves WHERE leaf_index = :i")
        return int(conn.execute(query, {"i": leaf}).scalar_one())


def sql(runtime: Runtime, *statements: str, **params: object) -> None:
    with runtime.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def test_an_intact_log_verifies(runtime: Runtime, heads: Path) -> None:
    report = check(runtime, heads)
    assert report.ok, report.findings
    assert (report.leaves, report.heads, report.published) == (60, 6, 6)


def test_a_modified_entry_is_named(runtime: Runtime, heads: Path) -> None:
    sql(runtime, "UPDATE access_log SET outcome = 'refused' WHERE id = :e", e=entry_of(runtime, 13))
    assert kinds(check(runtime, heads)) == {("modified", 13)}


def test_a_deleted_entry_is_named(runtime: Runtime, heads: Path) -> None:
    sql(runtime, "DELETE FROM access_log WHERE id = :e", e=entry_of(runtime, 7))
    assert kinds(check(runtime, heads)) == {("deleted", 7)}


def test_reordered_leaves_are_named(runtime: Runtime, heads: Path) -> None:
    a, b = entry_of(runtime, 3), entry_of(runtime, 8)
    sql(
        runtime,
        "UPDATE audit_leaves SET entry_id = -1 WHERE leaf_index = 3",
        "UPDATE audit_leaves SET entry_id = :a WHERE leaf_index = 8",
        "UPDATE audit_leaves SET entry_id = :b WHERE leaf_index = 3",
        a=a,
        b=b,
    )
    assert kinds(check(runtime, heads)) == {("reordered", 3), ("reordered", 8)}


def test_an_entry_inserted_into_the_signed_history_is_named(runtime: Runtime, heads: Path) -> None:
    """The insider adds an entry, gives it leaf 25 with a correct hash and shifts the rest."""
    with write_transaction(runtime.engine) as conn:
        record(conn, Event("eligibility", "rpps:10000000008", "negative"), at_us=1)
        row = conn.execute(
            text(f"SELECT {ENTRY_COLUMNS} FROM access_log ORDER BY id DESC LIMIT 1")  # noqa: S608
        ).one()
    sql(
        runtime,
        "UPDATE audit_leaves SET leaf_index = -leaf_index - 1 WHERE leaf_index >= 25",
        "UPDATE audit_leaves SET leaf_index = -leaf_index WHERE leaf_index < 0",
        "INSERT INTO audit_leaves (leaf_index, entry_id, leaf_hash) VALUES (25, :e, :h)",
        e=row.id,
        h=leaf_hash(leaf_entry(tuple(row))),
    )
    report = check(runtime, heads)
    assert ("inserted", 25) in kinds(report)
    assert not {k for k, _ in kinds(report)} & {"modified", "deleted", "reordered"}


def test_an_entry_added_without_its_leaf_is_named(runtime: Runtime, heads: Path) -> None:
    if runtime.engine.dialect.name == "postgresql":
        pytest.skip("on PostgreSQL a new row is simply a new entry for the next round")
    sql(runtime, "UPDATE audit_state SET last_id = last_id + 1")  # as if already passed
    add_entries(runtime, 1, start=999)
    assert {k for k, _ in kinds(check(runtime, heads))} >= {"inserted"}


def test_a_rewritten_and_re_signed_database_is_caught_by_published_heads(
    runtime: Runtime, heads: Path
) -> None:
    """Whoever holds the database and the signing key rewrites an entry, rebuilds the tree and
    signs fresh heads: the database agrees with itself, not with what was published."""
    sql(
        runtime,
        "UPDATE access_log SET outcome = 'refused' WHERE id = :e",
        "DELETE FROM audit_leaves",
        "DELETE FROM audit_nodes",
        "DELETE FROM audit_heads",
        "DELETE FROM audit_state",
        e=entry_of(runtime, 42),
    )
    run_round(runtime)  # re-sequenced and re-signed, not published
    assert check(runtime, None).ok
    report = check(runtime, heads)
    assert {k for k, _ in kinds(report)} == {"published", "modified"}
    assert ("modified", None) in kinds(report)  # rewritten between two published sizes


def test_the_command_reports_and_fails(
    runtime: Runtime, heads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_KEYS", str(runtime.settings.keys))
    monkeypatch.setenv("VIGIE_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("VIGIE_AUDIT_HEADS_FILE", str(heads))
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "journal intègre" in ok.output
    sql(runtime, "DELETE FROM access_log WHERE id = :e", e=entry_of(runtime, 2))
    bad = CliRunner().invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "feuille 2" in bad.output


def test_ranges_scanned_in_several_processes_agree(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "PARALLEL_FROM", 1)
    published = tmp_path / "heads.jsonl"
    for start, count in ((0, 5000), (5000, 4000), (9000, 1500)):
        add_entries(runtime, count, start=start)
        run_round(runtime, published)
    one = verify_log(runtime.engine, runtime.keys, log_id="vigie-audit", published=published)
    two = verify_log(
        runtime.engine, runtime.keys, log_id="vigie-audit", published=published, workers=3
    )
    assert one.ok and two.ok and two.leaves == one.leaves == 10_500
    sql(
        runtime,
        "UPDATE access_log SET outcome = 'refused' WHERE id = :e",
        e=entry_of(runtime, 8200),
    )
    tampered = verify_log(runtime.engine, runtime.keys, log_id="vigie-audit", workers=3)
    assert kinds(tampered) == {("modified", 8200)}
