"""What the PostgreSQL flow tests share: the caller, and counts of what a question wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.factories import RPPS
from vigie.audit.models import LogEntry
from vigie.db.engine import read_transaction
from vigie.eligibility.models import Agreement, AgreementLine
from vigie.identity.service import ProfessionalView, find_professional
from vigie.runtime import Runtime

# A specialist consultation: CAROL's plan pays none of it, ALICE's pays 39.00.
SPECIALIST = {
    "category": "consultation_specialist",
    "billed": "60.00",
    "br": "30.00",
    "amo_rate": "0.70",
    "amo_deduction": "2.00",
}


def caller(runtime: Runtime) -> ProfessionalView:
    with read_transaction(runtime.engine) as conn:
        found = find_professional(conn, RPPS)
    assert found is not None
    return found


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """(agreements, agreement lines, access-log entries)."""
    with read_transaction(runtime.engine) as conn:
        return (
            int(conn.execute(select(func.count(Agreement.id))).scalar_one()),
            int(conn.execute(select(func.count(AgreementLine.id))).scalar_one()),
            int(conn.execute(select(func.count(LogEntry.id))).scalar_one()),
        )


def last_entry(runtime: Runtime) -> Any:
    with read_transaction(runtime.engine) as conn:
        return conn.execute(select(LogEntry).order_by(LogEntry.id.desc()).limit(1)).one()
