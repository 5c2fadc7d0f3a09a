"""PostgreSQL agreements that lock nothing: two statements, the second writing the agreement, its
lines and the log entry together; questions whose split reads past agreements are refused."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from tests.factories import ALICE, CAROL, GLASSES, RPPS, load_people, professional_token, request
from vigie.audit.access import eligibility_note
from vigie.audit.log import entry_params
from vigie.audit.models import LogEntry
from vigie.db.engine import read_transaction
from vigie.eligibility import flows, lock_free, service, store
from vigie.eligibility.models import Agreement, AgreementLine
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.identity.service import ProfessionalView, find_professional
from vigie.runtime import Runtime

SPECIALIST = {
    "category": "consultation_specialist",
    "billed": "60.00",
    "br": "30.00",
    "amo_rate": "0.70",
    "amo_deduction": "2.00",
}


# The lock-free path is PostgreSQL's: on SQLite a writer holds the one write lock anyway.
pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)


@pytest.fixture
def postgres(runtime: Runtime) -> Runtime:
    assert runtime.engine.dialect.name == "postgresql"
    load_people(runtime)
    professional_token(runtime)
    return runtime


def _caller(runtime: Runtime) -> ProfessionalView:
    with read_transaction(runtime.engine) as conn:
        found = find_professional(conn, RPPS)
    assert found is not None
    return found


def _counts(runtime: Runtime) -> tuple[int, int, int]:
    with read_transaction(runtime.engine) as conn:
        return (
            int(conn.execute(select(func.count(Agreement.id))).scalar_one()),
            int(conn.execute(select(func.count(AgreementLine.id))).scalar_one()),
            int(conn.execute(select(func.count(LogEntry.id))).scalar_one()),
        )


def _agree(runtime: Runtime, body: dict[str, Any]) -> EligibilityAnswer | None:
    caller = _caller(runtime)
    question = EligibilityRequest.model_validate(body)
    note = eligibility_note(runtime.keys.audit_keys().pseudonym, caller, question, "json")
    return lock_free.agree(
        runtime.engine, runtime.keyring, question, note, professional_id=caller.id,
        plans=PlanCache(),
    )  # fmt: skip


def _last_entry(runtime: Runtime) -> Any:
    with read_transaction(runtime.engine) as conn:
        return conn.execute(select(LogEntry).order_by(LogEntry.id.desc()).limit(1)).one()


def test_an_agreement_its_lines_and_its_entry_are_written_together(postgres: Runtime) -> None:
    before = _counts(postgres)
    answer = _agree(postgres, request(ALICE, mode="agree", lines=[SPECIALIST]))
    assert answer is not None and answer.agreement is not None
    # 60 billed, AMO 30 x 70 % - 2 = 19; the AMC pays the rest but the 2 € deduction.
    assert answer.lines[0].amc == "39.00"
    assert _counts(postgres) == (before[0] + 1, before[1] + 1, before[2] + 1)
    entry = _last_entry(postgres)
    assert entry.outcome == "positive" and '"agreement":true' in entry.detail.replace(" ", "")
    with read_transaction(postgres.engine) as conn:
        line = conn.execute(select(AgreementLine).order_by(AgreementLine.id.desc())).first()
    assert line is not None
    assert (line.category, line.amc_cents, line.family) == (
        "consultation_specialist",
        3900,
        None,
    )


def test_the_answer_is_the_locking_transactions_own(postgres: Runtime) -> None:
    body = request(ALICE, mode="agree", lines=[SPECIALIST])
    free = _agree(postgres, body)
    question = EligibilityRequest.model_validate(body)
    with postgres.engine.begin() as conn:
        locked = service.decide(
            conn, postgres.keyring, question, professional_id=_caller(postgres).id,
            plans=PlanCache(),
        )  # fmt: skip
    assert free is not None and locked.agreement is not None and free.agreement is not None
    assert free.model_dump(exclude={"agreement"}) == locked.model_dump(exclude={"agreement"})


def test_a_split_that_reads_past_agreements_is_left_to_the_locking_path(postgres: Runtime) -> None:
    before = _counts(postgres)
    assert _agree(postgres, request(ALICE, mode="agree", day="2025-01-10", lines=[GLASSES])) is None
    assert _counts(postgres) == before  # nothing written


def test_a_negative_answer_is_the_single_one_and_is_logged(postgres: Runtime) -> None:
    before = _counts(postgres)
    wrong = request(ALICE, mode="agree")
    wrong["card"]["member"] = "NOBODY"
    assert _agree(postgres, wrong) == NOT_ELIGIBLE
    assert _counts(postgres) == (before[0], before[1], before[2] + 1)
    assert _last_entry(postgres).outcome == "negative"


def test_an_answer_that_pays_nothing_makes_no_agreement_but_is_logged(postgres: Runtime) -> None:
    before = _counts(postgres)
    answer = _agree(postgres, request(CAROL, mode="agree", lines=[SPECIALIST]))  # not covered
    assert answer is not None and answer.eligible and answer.agreement is None
    assert answer.lines[0].amc == "0.00"
    assert _counts(postgres) == (before[0], before[1], before[2] + 1)


def test_a_failed_write_leaves_neither_agreement_lines_nor_entry(
    postgres: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts(postgres)
    # The entry, the statement's last part, is refused (no kind): the agreement and its line,
    # inserted by its first parts, must not stay.
    monkeypatch.setattr(store, "entry_params", lambda event: {**entry_params(event), "kind": None})
    with pytest.raises(psycopg.errors.NotNullViolation):
        _agree(postgres, request(ALICE, mode="agree", lines=[SPECIALIST]))
    assert _counts(postgres) == before


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
    caller = _caller(postgres)
    for lines in ([SPECIALIST], [GLASSES]):
        body = EligibilityRequest.model_validate(
            request(ALICE, mode="agree", day="2025-01-10", lines=lines)
        )
        answer = flows.check_eligibility(postgres, PlanCache(), caller, body)
        assert answer.agreement is not None
    assert taken == [True, False]  # the glasses went through the locking transaction
