"""Recording an event commits with the caller's transaction, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from vigie.audit.log import ENTRY_COLUMNS, Event, leaf_entry, record
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
    "row",
    [
        (1, 2, "admin", "user:é|ü", "ok", None, None, None, 0, "{}"),
        (7, 8, "a|b", "c", "d|e", 0, "", b"", 3, '{"x":"|0:|"}'),
        (9, 10, "k", None, "o", 1, "123456789", b"\x00\xff", 1, "{}"),  # a NULL forced in
    ],
)
def test_the_fast_form_is_the_generic_form(row: tuple[object, ...]) -> None:
    generic = "vigie-log-v1" + "".join(
        "|-" if v is None else f"|{len(t)}:{t}"
        for v in row
        for t in [v.hex() if isinstance(v, bytes) else str(v)]
    )
    assert leaf_entry(row) == generic.encode()


def test_field_boundaries_cannot_shift() -> None:
    one = leaf_entry((1, 2, "a|1:b", "c", "d", None, None, None, 0, "{}"))
    two = leaf_entry((1, 2, "a", "1:b|c", "d", None, None, None, 0, "{}"))
    assert one != two


def test_an_event_rolls_back_with_its_transaction(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), write_transaction(runtime.engine) as conn:
        record(conn, Event("admin", "user:1", "ok"))
        raise RuntimeError("the work it records failed")
    assert _count(runtime) == 0
