"""The eligibility decision and the cost split, with agreements that guarantee the AMC payment.

Invariant: a negative answer is the single NOT_ELIGIBLE value, whatever was wrong, and an estimate
writes nothing; an agreement and what it consumes are written in the caller's transaction.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select, update

from vigie.crypto.keyring import Keyring
from vigie.eligibility import store
from vigie.eligibility.categories import Category, equipment_family
from vigie.eligibility.models import Agreement, AgreementLine
from vigie.eligibility.rules import ZERO, History, Line, LineSplit, PlanTerms, split_lines
from vigie.eligibility.schemas import (
    NOT_ELIGIBLE,
    EligibilityAnswer,
    EligibilityRequest,
    LineOut,
)
from vigie.rights.plans import terms_of
from vigie.rights.protected import card_message, cardless_message

AGREEMENT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


@dataclass(frozen=True)
class Coverage:
    beneficiary_id: int
    plan: PlanTerms


class PlanCache:
    """Parsed guarantee tables, keyed by plan id and version, so a hot path does not re-parse."""

    def __init__(self) -> None:
        self._terms: dict[tuple[int, datetime], PlanTerms] = {}

    def terms(self, plan_id: int, version: datetime, responsable: bool, table: Any) -> PlanTerms:
        key = (plan_id, version)
        terms = self._terms.get(key)
        if terms is None:
            parsed = json.loads(table) if isinstance(table, str) else table  # SQLite: JSON text
            terms = self._terms[key] = terms_of(responsable, parsed)
        return terms


def find_coverage(
    conn: Connection,
    keyring: Keyring,
    request: EligibilityRequest,
    plans: PlanCache,
    *,
    lock: bool,
    log: dict[str, Any] | None = None,
) -> Coverage | None:
    """The one beneficiary matching both cards (or, card-less, the Vitale card's identifiers
    alone), with a right open on the care date."""
    card, patient = request.card, request.patient
    if card is None:
        message = cardless_message(patient.nir, patient.birth_date, patient.birth_rank)
    else:
        message = card_message(
            card.amc, card.member, patient.nir, patient.birth_date, patient.birth_rank
        )
    indexes = keyring.blind_index_candidates(message)
    row = store.coverage_row(conn, indexes, request.date, lock=lock, cardless=card is None, log=log)
    if row is None:
        return None
    bid, plan_id, version, responsable, table = row
    return Coverage(bid, plans.terms(plan_id, version, responsable, table))


def history(conn: Connection, beneficiary_id: int, care_date: date) -> History:
    """Renewal dates and per-year consumption from the beneficiary's agreements not cancelled."""
    last: dict[str, date] = {}
    later: dict[str, date] = {}
    consumed: dict[Category, Decimal] = {}
    for family, per_year, category, day, cents in store.history_rows(
        conn, beneficiary_id, care_date
    ):
        if family is not None and day <= care_date:
            last[family] = max(day, last.get(family, day))
        elif family is not None:
            later[family] = min(day, later.get(family, day))
        if per_year and day.year == care_date.year:
            key = Category(category)
            consumed[key] = consumed.get(key, ZERO) + Decimal(cents) / 100
    return History(last_equipment=last, next_equipment=later, year_consumed=consumed)


def needs_history(request: EligibilityRequest, plan: PlanTerms) -> bool:
    for line in request.lines:
        guarantee = plan.guarantees.get(line.category)
        if equipment_family(line.category) or (guarantee is not None and guarantee.per == "year"):
            return True
    return False


def decide(
    conn: Connection,
    keyring: Keyring,
    request: EligibilityRequest,
    *,
    professional_id: int,
    plans: PlanCache,
    now: datetime | None = None,
    log: dict[str, Any] | None = None,
) -> EligibilityAnswer:
    """``log``: access-log parameters that the coverage read inserts in the same statement."""
    agree = request.mode == "agree"
    coverage = find_coverage(conn, keyring, request, plans, lock=agree, log=log)
    if coverage is None:
        return NOT_ELIGIBLE
    past = (
        history(conn, coverage.beneficiary_id, request.date)
        if needs_history(request, coverage.plan)
        else History()
    )
    splits = split(coverage, request, past)
    number = None
    if agree and pays(splits):
        agreement = new_agreement(coverage, request, splits, professional_id, now)
        store.insert_agreement(conn, agreement)
        number = agreement.number
    return answer_of(splits, number)


def split(coverage: Coverage, request: EligibilityRequest, past: History) -> list[LineSplit]:
    return split_lines(
        coverage.plan,
        [_line(line) for line in request.lines],
        care_date=request.date,
        birth_date=request.patient.birth_date,
        history=past,
    )


def pays(splits: list[LineSplit]) -> bool:
    """Whether an agreement would guarantee anything (otherwise none is made)."""
    return any(s.amc > 0 for s in splits)


def answer_of(splits: list[LineSplit], agreement: str | None) -> EligibilityAnswer:
    return EligibilityAnswer(eligible=True, agreement=agreement, lines=[_out(s) for s in splits])


def new_agreement(
    coverage: Coverage,
    request: EligibilityRequest,
    splits: list[LineSplit],
    professional_id: int,
    now: datetime | None = None,
) -> store.NewAgreement:
    """The agreement guaranteeing ``splits``, under a new number, with what it consumes."""
    moment = now or datetime.now(UTC)
    return store.NewAgreement(
        number=new_agreement_number(moment),
        beneficiary_id=coverage.beneficiary_id,
        professional_id=professional_id,
        care_date=request.date,
        now=moment,
        lines=_consumed(coverage, splits),
    )


def _consumed(coverage: Coverage, splits: list[LineSplit]) -> list[dict[str, Any]]:
    """The rows an agreement stores: what each paying line consumes."""
    return [
        {
            "category": s.category.value,
            "family": equipment_family(s.category) if s.starts_period else None,
            "per_year": int(_is_per_year(coverage.plan, s.category)),
            "amc_cents": int(s.amc * 100),
        }
        for s in splits
        if s.amc > 0
    ]


def _is_per_year(plan: PlanTerms, category: Category) -> bool:
    guarantee = plan.guarantees.get(category)
    return guarantee is not None and guarantee.per == "year"


def new_agreement_number(now: datetime) -> str:
    """Date-prefixed and unguessable (60 random bits): it guarantees a payment."""
    bits = int.from_bytes(secrets.token_bytes(8), "big")
    suffix = "".join(AGREEMENT_ALPHABET[(bits >> (5 * i)) & 31] for i in range(12))
    return f"A{now:%y%m%d}-{suffix}"


def _line(line: Any) -> Line:
    return Line(
        category=line.category,
        billed=line.billed,
        br=line.br,
        amo_rate=line.amo_rate,
        amo_deduction=line.amo_deduction,
        lens_class=line.lens_class,
        prescription_changed=line.prescription_changed,
    )


def _out(split: LineSplit) -> LineOut:
    return LineOut(
        category=split.category,
        billed=f"{split.billed:.2f}",
        amo=f"{split.amo:.2f}",
        amc=f"{split.amc:.2f}",
        patient=f"{split.patient:.2f}",
        covered=split.covered,
        reason=split.reason,
    )


def cancel_agreement(
    conn: Connection, number: str, *, professional_id: int, now: datetime | None = None
) -> str:
    """Cancel one of the caller's agreements: "cancelled", "already_cancelled" or "not_found"."""
    row = conn.execute(
        select(Agreement.id, Agreement.cancelled_at).where(
            Agreement.number == number, Agreement.professional_id == professional_id
        )
    ).first()
    if row is None:
        return "not_found"
    if row.cancelled_at is not None:
        return "already_cancelled"
    conn.execute(
        update(Agreement)
        .where(Agreement.id == row.id)
        .values(cancelled_at=now or datetime.now(UTC))
    )
    conn.execute(
        update(AgreementLine).where(AgreementLine.agreement_id == row.id).values(cancelled=1)
    )
    return "cancelled"
