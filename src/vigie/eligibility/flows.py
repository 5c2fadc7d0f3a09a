"""Eligibility as units of work: one transaction per question, committed before the answer."""

from __future__ import annotations

from vigie.db.engine import read_transaction, write_transaction
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache, cancel_agreement, decide
from vigie.identity.service import ProfessionalView
from vigie.runtime import Runtime


def check_eligibility(
    runtime: Runtime, plans: PlanCache, caller: ProfessionalView, request: EligibilityRequest
) -> EligibilityAnswer:
    keyring = runtime.current_keyring()  # before the transaction: a reload needs a connection
    # An estimate writes nothing: on SQLite it reads beside a running import instead of waiting.
    transaction = write_transaction if request.mode == "agree" else read_transaction
    with transaction(runtime.engine) as conn:
        return decide(conn, keyring, request, professional_id=caller.id, plans=plans)


def cancel(runtime: Runtime, caller: ProfessionalView, number: str) -> str:
    with write_transaction(runtime.engine) as conn:
        return cancel_agreement(conn, number, professional_id=caller.id)
