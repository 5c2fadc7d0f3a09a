"""PostgreSQL agreements whose split reads no earlier agreement, in one statement.

An agreement locks its beneficiary only so that renewal periods and yearly budgets are read and
consumed by one agreement at a time. When no line of the question depends on them (no
equipment, no per-year budget: ``service.needs_history`` is false), the answer depends on the
open right alone: on the person's plan, which the card's mutuelle narrows to a few. So the
answer is prepared ahead for each plan the cache knows for that mutuelle, and one statement,
committed synchronously as a whole, reads the cover and writes the agreement, its lines and the
access-log entry of the plan it finds (an answer that agrees nothing: its entry alone; no cover:
the negative entry alone). One round trip, where the locking transaction takes six (BEGIN, the
locked read, the agreement, its lines, the entry, COMMIT).

A cover whose plan (or version) was not prepared writes nothing in that statement: the answer
is then computed from the cover it returns and written by a second statement on the same
connection, and the plan is remembered for the next questions.

Invariant: an agreement, its lines and its log entry are written by one statement, so they
commit or vanish together; a question whose split reads past agreements gets None here and goes
through the locking transaction (``service.decide``), nothing having been written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from vigie.audit.access import EligibilityNote
from vigie.audit.log import record
from vigie.crypto.keyring import Keyring
from vigie.db.engine import autocommit
from vigie.db.sql import fetch
from vigie.eligibility import store
from vigie.eligibility.rules import History, LineSplit, terms_read
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import (
    Coverage,
    KnownPlan,
    PlanCache,
    answer_of,
    consumed_rows,
    lookup_indexes,
    needs_history,
    new_agreement,
    new_agreement_number,
    pays,
    request_lines,
    split,
)


@dataclass(frozen=True)
class Answer:
    """A split, whether it makes an agreement, and the rows that agreement would store."""

    splits: list[LineSplit]
    agrees: bool
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Prepared:
    """The answer the question gets if the person holds ``plan``."""

    plan: KnownPlan
    answer: Answer

    def candidate(self) -> dict[str, Any]:
        return {
            "plan": self.plan.plan_id,
            "version": self.plan.version_text,
            "agree": self.answer.agrees,
            "lines": self.answer.rows,
        }


def prepare(plans: PlanCache, amc: str, request: EligibilityRequest) -> dict[int, Prepared]:
    """The answers for the plans known for ``amc`` whose split needs no history, by plan id;
    plans that read alike for these lines share one split."""
    lines = request_lines(request)
    alike: dict[tuple[object, ...], Answer] = {}
    prepared: dict[int, Prepared] = {}
    for plan in plans.known(amc):
        if needs_history(request, plan.terms):
            continue
        key = terms_read(plan.terms, lines)
        answer = alike.get(key)
        if answer is None:
            coverage = Coverage(0, plan.terms)  # the split never reads the beneficiary
            splits = split(coverage, request, History(), lines)
            agrees = pays(splits)
            rows = consumed_rows(plan.terms, splits) if agrees else []
            answer = alike[key] = Answer(splits, agrees, rows)
        prepared[plan.plan_id] = Prepared(plan, answer)
    return prepared


@dataclass(frozen=True)
class Attempt:
    """An agree-mode card question ready for its one statement (store.AGREEMENT_PREPARED)."""

    prepared: dict[int, Prepared]
    number: str
    params: dict[str, Any]
    plans: PlanCache
    amc: str

    def settle(self, found: store.PreparedCover | None) -> EligibilityAnswer | None:
        """The answer the statement wrote; None when it found a cover it was not prepared for
        (and wrote nothing)."""
        if found is None:
            return NOT_ELIGIBLE
        if not found.matched:
            return None
        self.plans.used(self.amc, found.plan_id)
        answer = self.prepared[found.plan_id].answer
        return answer_of(answer.splits, self.number if answer.agrees else None)


def attempt(
    plans: PlanCache,
    keyring: Keyring,
    request: EligibilityRequest,
    note: EligibilityNote,
    *,
    professional_id: int,
) -> Attempt | None:
    """None when every plan known for the card's mutuelle needs history for these lines: the
    person's very likely does too, and the locking transaction answers."""
    card = request.card
    if card is None or request.mode != "agree":
        raise ValueError("lock-free agreements are for card questions in agree mode")
    prepared = prepare(plans, card.amc, request)
    if not prepared and plans.known(card.amc):
        return None
    moment = datetime.now(UTC)
    number = new_agreement_number(moment)
    params = store.prepared_params(
        lookup_indexes(keyring, request),
        request.date,
        [p.candidate() for p in prepared.values()],
        {"number": number, "professional": professional_id, "now": moment},
        note.agreement_params(),
    )
    return Attempt(prepared, number, params, plans, card.amc)


def learn(plans: PlanCache, request: EligibilityRequest, found: store.PreparedCover) -> Coverage:
    """The cover found but not prepared for, its plan remembered for the card's mutuelle."""
    amc = request.card.amc if request.card is not None else None
    terms = plans.terms(found.plan_id, found.version, found.responsable, found.guarantees, amc=amc)
    return Coverage(found.beneficiary_id, terms)


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
    synchronously, as every agree-mode entry was in the locking transaction)."""
    ready = attempt(plans, keyring, request, note, professional_id=professional_id)
    if ready is None:
        return None
    with autocommit(engine) as conn:
        found = store.prepared_cover(fetch(conn, store.AGREEMENT_PREPARED, ready.params))
        answer = ready.settle(found)
        if answer is not None or found is None:
            return answer
        coverage = learn(plans, request, found)
        return _unprepared(conn, coverage, request, note, professional_id=professional_id)


def _unprepared(
    conn: Connection,
    coverage: Coverage,
    request: EligibilityRequest,
    note: EligibilityNote,
    *,
    professional_id: int,
) -> EligibilityAnswer | None:
    """The cover's plan was not prepared: the answer from it, written by a second statement."""
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
