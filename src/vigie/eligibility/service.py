"""The eligibility decision and the cost split, with agreements that guarantee the AMC payment.

Invariant: a negative answer is the single NOT_ELIGIBLE value, whatever was wrong, and an estimate
writes nothing; an agreement and what it consumes are written in the caller's transaction.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
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
# RFC 4648 base32, done in C, then its letters mapped to Crockford's.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", AGREEMENT_ALPHABET.encode())


@dataclass(frozen=True)
class Coverage:
    beneficiary_id: int
    plan: PlanTerms


# How many plans of one mutuelle an agreement is prepared for ahead (vigie.eligibility.lock_free).
PLANS_PER_AMC = 8


@dataclass(frozen=True)
class KnownPlan:
    plan_id: int
    version: datetime
    terms: PlanTerms

    @cached_property
    def version_text(self) -> str:  # once per plan, not once per question
        return self.version.isoformat()


class PlanCache:
    """Parsed guarantee tables, keyed by plan id and version, so a hot path does not re-parse;
    and, per mutuelle, the plans its members' cards were last found to hold (at most
    PLANS_PER_AMC, the latest version of each), for the answers prepared ahead."""

    def __init__(self) -> None:
        self._terms: dict[tuple[int, datetime], PlanTerms] = {}
        # Replaced whole, never changed in place: threads read it without a lock.
        self._by_amc: dict[str, tuple[KnownPlan, ...]] = {}

    def terms(
        self,
        plan_id: int,
        version: datetime,
        responsable: bool,
        table: Any,
        *,
        amc: str | None = None,
    ) -> PlanTerms:
        """``amc``: the mutuelle of the card that led to this plan (a real member's: the card
        matched), remembered among its plans."""
        key = (plan_id, version)
        terms = self._terms.get(key)
        if terms is None:
            parsed = json.loads(table) if isinstance(table, str) else table  # SQLite: JSON text
            terms = self._terms[key] = terms_of(responsable, parsed)
        if amc is not None:
            self._remember(amc, plan_id, version, terms)
        return terms

    def known(self, amc: str) -> tuple[KnownPlan, ...]:
        """The plans last seen or used for members of ``amc``, the most recent last."""
        return self._by_amc.get(amc, ())

    def used(self, amc: str, plan_id: int) -> None:
        """A prepared answer for this plan was taken: when the mutuelle's list is full, the plan
        moves last, so that the busiest plans stay (and the list is not rebuilt otherwise)."""
        known = self._by_amc.get(amc, ())
        if len(known) < PLANS_PER_AMC or known[-1].plan_id == plan_id:
            return
        self._by_amc[amc] = (
            *(p for p in known if p.plan_id != plan_id),
            *(p for p in known if p.plan_id == plan_id),
        )

    def _remember(self, amc: str, plan_id: int, version: datetime, terms: PlanTerms) -> None:
        known = self._by_amc.get(amc, ())
        if any(p.plan_id == plan_id and p.version == version for p in known):
            return  # the common case: nothing new, nothing built
        others = tuple(p for p in known if p.plan_id != plan_id)
        self._by_amc[amc] = (*others, KnownPlan(plan_id, version, terms))[-PLANS_PER_AMC:]


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
    card = request.card
    indexes = lookup_indexes(keyring, request)
    row = store.coverage_row(conn, indexes, request.date, lock=lock, cardless=card is None, log=log)
    if row is None:
        return None
    bid, plan_id, version, responsable, table = row
    amc = card.amc if card is not None else None
    return Coverage(bid, plans.terms(plan_id, version, responsable, table, amc=amc))


def lookup_indexes(keyring: Keyring, request: EligibilityRequest) -> list[bytes]:
    """The blind indexes (current key, and previous during a rotation) the question looks up:
    of both cards, or card-less of the Vitale card's identifiers alone."""
    card, patient = request.card, request.patient
    if card is None:
        message = cardless_message(patient.nir, patient.birth_date, patient.birth_rank)
    else:
        message = card_message(
            card.amc, card.member, patient.nir, patient.birth_date, patient.birth_rank
        )
    return keyring.blind_index_candidates(message)


def history(conn: Connection, beneficiary_id: int, care_date: date) -> History:
    """Renewal dates and per-year consumption from the beneficiary's agreements not cancelled."""
    return history_of(store.history_rows(conn, beneficiary_id, care_date), care_date)


def history_of(rows: list[tuple[Any, ...]], care_date: date) -> History:
    """``history`` from the rows of ``store.HISTORY`` (``store.history_tuples``)."""
    last: dict[str, date] = {}
    later: dict[str, date] = {}
    consumed: dict[Category, Decimal] = {}
    for family, per_year, category, day, cents in rows:
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


def split(
    coverage: Coverage,
    request: EligibilityRequest,
    past: History,
    lines: list[Line] | None = None,
) -> list[LineSplit]:
    """``lines``: the request's, already converted (``request_lines``)."""
    return split_lines(
        coverage.plan,
        lines if lines is not None else request_lines(request),
        care_date=request.date,
        birth_date=request.patient.birth_date,
        history=past,
    )


def request_lines(request: EligibilityRequest) -> list[Line]:
    return [_line(line) for line in request.lines]


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
        lines=consumed_rows(coverage.plan, splits),
    )


def consumed_rows(plan: PlanTerms, splits: list[LineSplit]) -> list[dict[str, Any]]:
    """The rows an agreement stores: what each paying line consumes."""
    return [
        {
            "category": s.category.value,
            "family": equipment_family(s.category) if s.starts_period else None,
            "per_year": int(_is_per_year(plan, s.category)),
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
    suffix = base64.b32encode(secrets.token_bytes(8))[:12].translate(_TO_CROCKFORD).decode()
    return f"A{now.year % 100:02d}{now.month:02d}{now.day:02d}-{suffix}"


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
