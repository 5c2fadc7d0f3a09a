"""Recording an event commits with the caller's transaction, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from vigie.audit.log import ENTRY_COLUMNS, Event, leaf_entry, leaf_entry_sql, record
from vigie.audit.models import LogEntry
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime


def _count(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LogEntry)).scalar_one())


def test_an_event_commits_with_its_transaction(runtime: Runtime) -> None:
    event = Event(
        "eligibility",
        "rpps:10000000008",
        "negative",
        structure_id=3,
        amc="123456789",
        insured=b"\x01" * 16,
        detail={"mode": "estimate", "care": ["lab"]},
        exposed=1,
    )
    with write_transaction(runtime.engine) as conn:
        record(conn, event, at_us=1_700_000_000_000_001)
    with runtime.engine.connect() as conn:
        row = conn.execute(text(f"SELECT {ENTRY_COLUMNS} FROM access_log")).one()  # noqa: S608
    assert tuple(row)[1:] == (
        1_700_000_000_000_001,
        "eligibility",
        "rpps:10000000008",
        "negative",
        3,
        "123456789",
        b"\x01" * 16,
        1,
        '{"care":["lab"],"mode":"estimate"}',
    )
    assert leaf_entry(tuple(row)) == (
        b"vigie-log-v1|1:1|16:1700000000000001|11:eligibility|16:rpps:10000000008|8:negative"
        b"|1:3|9:123456789|32:01010101010101010101010101010101|1:1"
        b'|34:{"care":["lab"],"mode":"estimate"}'
    )


@pytest.mark.parametrize(
    "event",
    [
        Event("admin", "user:é|ü", "ok"),  # no structure, no AMC, no pseudonym; non-ASCII
        Event("a|b", "c", "d|e", structure_id=0, amc="", insured=b"", detail={"x": "|0:|"}),
        Event("import", "operator:cli", "ok", detail={"amcs": ["123456789"], "n": 10**12}),
    ],
)
def test_the_store_builds_the_same_canonical_entry(runtime: Runtime, event: Event) -> None:
    with write_transaction(runtime.engine) as conn:
        record(conn, event)
    entry = leaf_entry_sql(runtime.engine.dialect.name)
    with runtime.engine.connect() as conn:
        row = conn.execute(text(f"SELECT {ENTRY_COLUMNS} FROM access_log")).one()  # noqa: S608
        in_store = conn.execute(text(f"SELECT {entry} FROM access_log e")).scalar_one()  # noqa: S608
    assert in_store.encode() == leaf_entry(tuple(row))


def test_field_boundaries_cannot_shift() -> None:
    one = leaf_entry((1, 2, "a|1:b", "c", "d", None, None, None, 0, "{}"))
    two = leaf_entry((1, 2, "a", "1:b|c", "d", None, None, None, 0, "{}"))
    assert one != two


def test_an_event_rolls_back_with_its_transaction(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), write_transaction(runtime.engine) as conn:
        record(conn, Event("admin", "user:1", "ok"))
        raise RuntimeError("the work it records failed")
    assert _count(runtime) == 0
