"""PostgreSQL agreements whose split reads no earlier agreement, in two statements.

An agreement locks its beneficiary only so that renewal periods and yearly budgets are read and
consumed by one agreement at a time. When no line of the question depends on them (no
equipment, no per-year budget: ``service.needs_history`` is false), the answer depends on the
open right alone. The cover is then read by one autocommitted statement, and the agreement, its
lines and the access-log entry are inserted by a second one, committed synchronously as a
whole (an answer that agrees nothing: its entry alone): two round trips where the locking
transaction takes six (BEGIN, the locked read, the agreement, its lines, the entry, COMMIT).

Invariant: an agreement, its lines and its log entry are written by one statement, so they
commit or vanish together; a question whose split reads past agreements gets None here and goes
through the locking transaction (``service.decide``).
"""

from __future__ import annotations

from sqlalchemy import Engine

from vigie.audit.access import EligibilityNote
from vigie.audit.log import record
from vigie.crypto.keyring import Keyring
from vigie.db.engine import autocommit
from vigie.eligibility import store
from vigie.eligibility.rules import History
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import (
    PlanCache,
    answer_of,
    find_coverage,
    needs_history,
    new_agreement,
    pays,
    split,
)


def agree(
    engine: Engine,
    keyring: Keyring,
    request: EligibilityRequest,
    note: EligibilityNote,
    *,
    professional_id: int,
    plans: PlanCache,
) -> EligibilityAnswer | None:
    """A card question in ``agree`` mode, answered and logged; None when its split depends on
    past agreements (nothing written then). One connection of ``engine`` (autocommit, commits
    synchronously, as every agree-mode entry was in the locking transaction) reads the cover,
    then writes the agreement with its lines and entry, or the entry alone."""
    if request.card is None or request.mode != "agree":
        raise ValueError("lock-free agreements are for card questions in agree mode")
    with autocommit(engine) as conn:
        coverage = find_coverage(conn, keyring, request, plans, lock=False)
        if coverage is None:
            record(conn, note.event(eligible=False, agreement=False))
            return NOT_ELIGIBLE
        if needs_history(request, coverage.plan):
            return None
        splits = split(coverage, request, History())
        if not pays(splits):
            record(conn, note.event(eligible=True, agreement=False))
            return answer_of(splits, None)
        agreement = new_agreement(coverage, request, splits, professional_id)
        entry = note.event(eligible=True, agreement=True)
        store.insert_agreement_logged(conn, agreement, entry)
        return answer_of(splits, agreement.number)
