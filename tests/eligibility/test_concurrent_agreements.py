"""Agreements racing for one yearly budget: exactly one wins, on both stores."""

from __future__ import annotations

import threading

from tests.factories import ALICE, RPPS, load_people, professional_token, request
from vigie.db.engine import read_transaction
from vigie.eligibility import flows
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.identity.service import find_professional
from vigie.runtime import Runtime, open_runtime

DENTAL = {"category": "dental_moderate", "billed": "500.00", "br": "107.50", "amo_rate": "0.70"}


def test_parallel_agreements_spend_a_yearly_budget_once(runtime: Runtime) -> None:
    load_people(runtime, ALICE)
    professional_token(runtime)
    with read_transaction(runtime.engine) as conn:
        caller = find_professional(conn, RPPS)
    assert caller is not None
    body = EligibilityRequest.model_validate(request(ALICE, mode="agree", lines=[DENTAL]))
    shared = open_runtime(runtime.settings, pool_size=8)
    answers: list[EligibilityAnswer] = []
    start = threading.Barrier(8)

    def agree() -> None:
        start.wait()
        answers.append(flows.check_eligibility(shared, PlanCache(), caller, body))

    threads = [threading.Thread(target=agree) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    shared.engine.dispose()
    granted = [a for a in answers if a.agreement is not None]
    assert len(answers) == 8 and len(granted) == 1
    assert granted[0].lines[0].amc == "300.00"
    assert all(a.lines[0].amc == "0.00" for a in answers if a.agreement is None)
