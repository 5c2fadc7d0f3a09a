"""Recording an event commits with the caller's transaction, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from vigie.audit.log import Event, entry_bytes, record
from vigie.audit.models import LogEntry
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime


def _count(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(LogEntry)).scalar_one())


def test_an_event_commits_with_its_transaction(runtime: Runtime) -> None:
    event = Event("eligibility", "rpps:10000000008", "negative", structure_id=3, amc="123456789")
    with write_transaction(runtime.engine) as conn:
        record(conn, event)
    with runtime.engine.connect() as conn:
        row = conn.execute(select(LogEntry)).one()
    assert (row.kind, row.actor, row.outcome, row.amc) == (
        "eligibility",
        "rpps:10000000008",
        "negative",
        "123456789",
    )
    assert row.body == entry_bytes(event, row.at)


def test_an_event_rolls_back_with_its_transaction(runtime: Runtime) -> None:
    with pytest.raises(RuntimeError), write_transaction(runtime.engine) as conn:
        record(conn, Event("admin", "user:1", "ok"))
        raise RuntimeError("the work it records failed")
    assert _count(runtime) == 0
