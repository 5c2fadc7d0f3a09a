"""PostgreSQL agreements that lock nothing: one statement that reads the cover and writes the
agreement, its lines and the log entry of the answer prepared for its plan (a warm plan cache),
or two when the plan was not prepared (a cold one); questions whose split reads past agreements
are refused, nothing written."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, update

from tests.eligibility.support import SPECIALIST, caller, counts, last_entry
from tests.factories import ALICE, CAROL, GLASSES, load_people, professional_token, request
from vigie.audit.access import EligibilityNote, eligibility_note
from vigie.audit.log import entry_params
from vigie.db.engine import read_transaction
from vigie.eligibility import flows, lock_free, service, store
from vigie.eligibility.models import Agreement, AgreementLine
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.rights.models import Plan
from vigie.runtime import Runtime

# The lock-free path is PostgreSQL's: on SQLite a writer holds the one write lock anyway.
pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)


@pytest.fixture
def postgres(runtime: Runtime) -> Runtime:
    assert runtime.engine.dialect.name == "postgresql"
    load_people(runtime)
    professional_token(runtime)
    return runtime


def _warm(runtime: Runtime) -> PlanCache:
    """A cache that knows every stored plan, as if each had answered a question already."""
    plans = PlanCache()
    with read_transaction(runtime.engine) as conn:
        stored = select(Plan.id, Plan.updated_at, Plan.responsable, Plan.guarantees, Plan.amc)
        for plan_id, version, responsable, table, amc in conn.execute(stored):
            plans.terms(plan_id, version, responsable, table, amc=amc)
    return plans


@pytest.fixture(params=["cold", "warm"])
def plans(request: pytest.FixtureRequest, postgres: Runtime) -> PlanCache:
    """Cold: the plan is found by the first statement, the answer written by a second one.
    Warm: the answer is prepared ahead and written by the statement that finds the plan."""
    return _warm(postgres) if request.param == "warm" else PlanCache()


def _agree(
    runtime: Runtime, body: dict[str, Any], plans: PlanCache | None = None
) -> EligibilityAnswer | None:
    who = caller(runtime)
    question = EligibilityRequest.model_validate(body)
    note = eligibility_note(runtime.keys.audit_keys().pseudonym, who, question, "json")
    return lock_free.agree(
        runtime.engine, runtime.keyring, question, note, professional_id=who.id,
        plans=plans if plans is not None else PlanCache(),
    )  # fmt: skip


def test_an_agreement_its_lines_and_its_entry_are_written_together(
    postgres: Runtime, plans: PlanCache
) -> None:
    before = counts(postgres)
    answer = _agree(postgres, request(ALICE, mode="agree", lines=[SPECIALIST]), plans)
    assert answer is not None and answer.agreement is not None
    # 60 billed, AMO 30 x 70 % - 2 = 19; the AMC pays the rest but the 2 € deduction.
    assert answer.lines[0].amc == "39.00"
    assert counts(postgres) == (before[0] + 1, before[1] + 1, before[2] + 1)
    entry = last_entry(postgres)
    assert entry.outcome == "positive" and '"agreement":true' in entry.detail.replace(" ", "")
    with read_transaction(postgres.engine) as conn:
        line = conn.execute(select(AgreementLine).order_by(AgreementLine.id.desc())).first()
    assert line is not None
    assert (line.category, line.amc_cents, line.family) == (
        "consultation_specialist",
        3900,
        None,
    )


def test_the_answer_is_the_locking_transactions_own(postgres: Runtime, plans: PlanCache) -> None:
    body = request(ALICE, mode="agree", lines=[SPECIALIST])
    free = _agree(postgres, body, plans)
    question = EligibilityRequest.model_validate(body)
    with postgres.engine.begin() as conn:
        locked = service.decide(
            conn, postgres.keyring, question, professional_id=caller(postgres).id,
            plans=PlanCache(),
        )  # fmt: skip
    assert free is not None and locked.agreement is not None and free.agreement is not None
    assert free.model_dump(exclude={"agreement"}) == locked.model_dump(exclude={"agreement"})


def test_a_split_that_reads_past_agreements_is_left_to_the_locking_path(
    postgres: Runtime, plans: PlanCache
) -> None:
    before = counts(postgres)
    glasses = request(ALICE, mode="agree", day="2025-01-10", lines=[GLASSES])
    assert _agree(postgres, glasses, plans) is None
    assert counts(postgres) == before  # nothing written


def test_a_negative_answer_is_the_single_one_and_is_logged(
    postgres: Runtime, plans: PlanCache
) -> None:
    before = counts(postgres)
    wrong = request(ALICE, mode="agree")
    wrong["card"]["member"] = "NOBODY"
    assert _agree(postgres, wrong, plans) == NOT_ELIGIBLE
    assert counts(postgres) == (before[0], before[1], before[2] + 1)
    assert last_entry(postgres).outcome == "negative"


def test_an_answer_that_pays_nothing_makes_no_agreement_but_is_logged(
    postgres: Runtime, plans: PlanCache
) -> None:
    before = counts(postgres)
    answer = _agree(postgres, request(CAROL, mode="agree", lines=[SPECIALIST]), plans)  # no cover
    assert answer is not None and answer.eligible and answer.agreement is None
    assert answer.lines[0].amc == "0.00"
    assert counts(postgres) == (before[0], before[1], before[2] + 1)


def test_a_failed_write_leaves_neither_agreement_lines_nor_entry(
    postgres: Runtime, plans: PlanCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = counts(postgres)
    # The entry, the statement's last part, is refused (no kind, or no actor when prepared):
    # the agreement and its line, inserted by its first parts, must not stay.
    monkeypatch.setattr(store, "entry_params", lambda event: {**entry_params(event), "kind": None})
    prepared_params = EligibilityNote.agreement_params
    monkeypatch.setattr(
        EligibilityNote,
        "agreement_params",
        lambda note: {**prepared_params(note), "log_actor": None},
    )
    with pytest.raises(psycopg.errors.NotNullViolation):
        _agree(postgres, request(ALICE, mode="agree", lines=[SPECIALIST]), plans)
    assert counts(postgres) == before


def test_estimates_and_cardless_questions_are_not_taken(postgres: Runtime) -> None:
    with pytest.raises(ValueError, match="agree mode"):
        _agree(postgres, request(ALICE, mode="estimate"))
    cardless = request(ALICE, mode="agree")
    del cardless["card"]
    with pytest.raises(ValueError, match="card questions"):
        _agree(postgres, cardless)


def test_the_flow_takes_the_lock_free_path_for_a_plain_agreement(
    postgres: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[bool] = []
    original = lock_free.agree

    def spy(*args: Any, **kwargs: Any) -> EligibilityAnswer | None:
        answer = original(*args, **kwargs)
        taken.append(answer is not None)
        return answer

    monkeypatch.setattr(lock_free, "agree", spy)
    who = caller(postgres)
    for lines in ([SPECIALIST], [GLASSES]):
        body = EligibilityRequest.model_validate(
            request(ALICE, mode="agree", day="2025-01-10", lines=lines)
        )
        answer = flows.check_eligibility(postgres, PlanCache(), who, body)
        assert answer.agreement is not None
    assert taken == [True, False]  # the glasses went through the locking transaction


def test_a_prepared_answer_is_written_by_the_statement_that_finds_the_plan(
    postgres: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def second_statement(*_: Any, **__: Any) -> None:
        raise AssertionError("a prepared answer needs no second statement")

    monkeypatch.setattr(store, "insert_agreement_logged", second_statement)
    monkeypatch.setattr(lock_free, "record", second_statement)
    plans = _warm(postgres)
    before = counts(postgres)
    agreed = _agree(postgres, request(ALICE, mode="agree", lines=[SPECIALIST]), plans)
    assert agreed is not None and agreed.agreement is not None
    nothing = _agree(postgres, request(CAROL, mode="agree", lines=[SPECIALIST]), plans)
    assert nothing is not None and nothing.eligible and nothing.agreement is None
    assert counts(postgres) == (before[0] + 1, before[1] + 1, before[2] + 2)
    with read_transaction(postgres.engine) as conn:
        agreement_id, beneficiary = conn.execute(
            select(Agreement.id, Agreement.beneficiary_id).where(
                Agreement.number == agreed.agreement
            )
        ).one()
        lines = conn.execute(
            select(
                AgreementLine.category, AgreementLine.amc_cents, AgreementLine.beneficiary_id
            ).where(AgreementLine.agreement_id == agreement_id)
        ).all()
    assert [tuple(line) for line in lines] == [("consultation_specialist", 3900, beneficiary)]


def test_a_plan_changed_since_it_was_prepared_is_answered_from_its_new_version(
    postgres: Runtime,
) -> None:
    plans = _warm(postgres)
    with postgres.engine.begin() as conn:
        conn.execute(update(Plan).values(updated_at=func.now()))
    before = counts(postgres)
    answer = _agree(postgres, request(ALICE, mode="agree", lines=[SPECIALIST]), plans)
    assert answer is not None and answer.lines[0].amc == "39.00" and answer.agreement
    assert counts(postgres) == (before[0] + 1, before[1] + 1, before[2] + 1)
    with read_transaction(postgres.engine) as conn:
        current = {pid: version for pid, version in conn.execute(select(Plan.id, Plan.updated_at))}
    amc = request(ALICE)["card"]["amc"]
    # The cache now prepares the version it met, and no longer the old one.
    met = plans.known(amc)[-1]
    assert met.version == current[met.plan_id]
    assert [p.plan_id for p in plans.known(amc)].count(met.plan_id) == 1
