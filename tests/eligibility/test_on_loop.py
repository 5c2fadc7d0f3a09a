"""The commonest PostgreSQL questions as coroutines on psycopg's pools: the same answers and the
same writes as the synchronous flows, and every other question left to them, nothing written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from tests.eligibility.support import SPECIALIST, caller, counts, last_entry
from tests.factories import ALICE, CAROL, GLASSES, load_people, professional_token, request
from vigie.db.loop_engines import LoopEngines
from vigie.eligibility import flows, on_loop
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.runtime import Runtime

T = TypeVar("T")


# The coroutines are PostgreSQL's: SQLite's questions run on the loop as they are.
pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)


@pytest.fixture
def postgres(runtime: Runtime) -> Runtime:
    load_people(runtime)
    professional_token(runtime)
    return runtime


def _on_loop(runtime: Runtime, work: Callable[[LoopEngines], Awaitable[T]]) -> T:
    async def run() -> T:
        loop = LoopEngines(runtime.engine, 2)
        try:
            return await work(loop)
        finally:
            await loop.dispose()

    return asyncio.run(run())


def _ask(
    runtime: Runtime, plans: PlanCache, *bodies: dict[str, Any]
) -> list[EligibilityAnswer | None]:
    who = caller(runtime)
    questions = [EligibilityRequest.model_validate(body) for body in bodies]

    async def work(loop: LoopEngines) -> list[EligibilityAnswer | None]:
        return [
            await on_loop.check_eligibility(runtime, loop, plans, who, q, "json") for q in questions
        ]

    return _on_loop(runtime, work)


def _flow(runtime: Runtime, body: dict[str, Any]) -> EligibilityAnswer:
    question = EligibilityRequest.model_validate(body)
    return flows.check_eligibility(runtime, PlanCache(), caller(runtime), question)


def test_an_estimate_is_the_flows_own_answer_and_one_entry(postgres: Runtime) -> None:
    before = counts(postgres)
    [answer] = _ask(postgres, PlanCache(), request(ALICE))
    assert answer == _flow(postgres, request(ALICE))
    assert answer is not None and answer.eligible and answer.agreement is None
    assert counts(postgres) == (before[0], before[1], before[2] + 2)
    assert last_entry(postgres).outcome == "positive"


def test_a_negative_estimate_is_the_single_answer_and_logged(postgres: Runtime) -> None:
    wrong = request(ALICE)
    wrong["patient"]["birth_rank"] = 2
    before = counts(postgres)
    assert _ask(postgres, PlanCache(), wrong) == [NOT_ELIGIBLE]
    assert counts(postgres) == (before[0], before[1], before[2] + 1)
    assert last_entry(postgres).outcome == "negative"


def test_an_estimate_reads_the_history_its_split_needs(postgres: Runtime) -> None:
    glasses = request(ALICE, mode="agree", day="2025-01-10", lines=[GLASSES])
    assert _flow(postgres, glasses).agreement is not None  # the first pair, agreed
    again = request(ALICE, day="2025-06-10", lines=[GLASSES])
    [answer] = _ask(postgres, PlanCache(), again)
    assert answer is not None and answer.lines[0].reason == "renewal_period"
    assert answer == _flow(postgres, again)


def test_an_agreement_is_prepared_after_its_plan_is_met_then_written_at_once(
    postgres: Runtime,
) -> None:
    plans = PlanCache()
    before = counts(postgres)
    cold, warm = _ask(postgres, plans, request(ALICE, mode="agree"), request(ALICE, mode="agree"))
    assert cold is None  # the plan was not known: nothing written, left to the flows
    assert warm is not None and warm.agreement is not None
    assert counts(postgres) == (before[0] + 1, before[1] + 1, before[2] + 1)
    flow = _flow(postgres, request(ALICE, mode="agree"))
    assert warm.model_dump(exclude={"agreement"}) == flow.model_dump(exclude={"agreement"})


def test_an_agreement_question_without_cover_is_answered_and_logged(postgres: Runtime) -> None:
    wrong = request(ALICE, mode="agree")
    wrong["card"]["member"] = "NOBODY"
    before = counts(postgres)
    assert _ask(postgres, PlanCache(), wrong) == [NOT_ELIGIBLE]
    assert counts(postgres) == (before[0], before[1], before[2] + 1)


def test_an_answer_that_pays_nothing_is_logged_without_agreement(postgres: Runtime) -> None:
    specialist = request(CAROL, mode="agree", lines=[SPECIALIST])  # her plan pays none of it
    plans = PlanCache()
    _ask(postgres, plans, specialist)  # meets the plan
    before = counts(postgres)
    [answer] = _ask(postgres, plans, specialist)
    assert answer is not None and answer.eligible and answer.agreement is None
    assert counts(postgres) == (before[0], before[1], before[2] + 1)


def test_cardless_and_history_questions_are_left_to_the_flows(postgres: Runtime) -> None:
    plans = PlanCache()
    _ask(postgres, plans, request(ALICE, mode="agree"))  # meets the plan
    cardless = request(ALICE, mode="agree")
    del cardless["card"]
    glasses = request(ALICE, mode="agree", day="2025-01-10", lines=[GLASSES])
    before = counts(postgres)
    assert _ask(postgres, plans, cardless, glasses, {**cardless, "mode": "estimate"}) == [
        None,
        None,
        None,
    ]
    assert counts(postgres) == before
