"""The commonest PostgreSQL questions as coroutines: a card estimate, a card agreement prepared
ahead; each one statement on psycopg's pools (see vigie.db.loop_engines for why).

Invariant: what these write is what the synchronous flows would (vigie.eligibility.flows, whose
tests pin it): the estimate's entry with the read that decides it, an agreement with its lines
and entry. A question they do not finish (card-less, a plan not prepared, a split that reads
past agreements) gets None, nothing written, and goes through ``flows.check_eligibility``.
"""

from __future__ import annotations

from vigie.audit.access import eligibility_note
from vigie.db.loop_engines import LoopEngines
from vigie.eligibility import lock_free, store
from vigie.eligibility.rules import History
from vigie.eligibility.schemas import NOT_ELIGIBLE, EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import (
    Coverage,
    PlanCache,
    answer_of,
    history_of,
    lookup_indexes,
    needs_history,
    split,
)
from vigie.identity.service import ProfessionalView
from vigie.runtime import Runtime


async def check_eligibility(
    runtime: Runtime,
    loop: LoopEngines,
    plans: PlanCache,
    caller: ProfessionalView,
    request: EligibilityRequest,
    channel: str,
) -> EligibilityAnswer | None:
    """The answer, written and logged; None when the question is left to the flows."""
    card = request.card
    if card is None:
        return None
    keyring = runtime.current_keyring()
    note = eligibility_note(runtime.keys.audit_keys().pseudonym, caller, request, channel)
    if request.mode == "agree":
        ready = lock_free.attempt(plans, keyring, request, note, professional_id=caller.id)
        if ready is None:
            return None
        rows = await loop.fetch("main", store.AGREEMENT_PREPARED, ready.params)
        found = store.prepared_cover(rows)
        answer = ready.settle(found)
        if answer is None and found is not None:
            lock_free.learn(plans, request, found)  # prepared for the next question
        return answer
    # An estimate: the cover read and the entry inserted by one statement, committed
    # asynchronously (vigie.audit.estimates); the history, when the split needs it, read after.
    params = {
        **store.cover_params(lookup_indexes(keyring, request), request.date),
        **note.statement_params(),
    }
    rows = await loop.fetch("estimates", store.COVERAGE_LOGGED, params)
    if not rows:
        return NOT_ELIGIBLE
    bid, plan_id, version, responsable, table = rows[0]
    coverage = Coverage(bid, plans.terms(plan_id, version, responsable, table, amc=card.amc))
    past = History()
    if needs_history(request, coverage.plan):
        history = store.history_params(None, bid, request.date)
        lines = await loop.fetch("estimates", store.HISTORY, history)
        past = history_of(store.history_tuples(lines), request.date)
    return answer_of(split(coverage, request, past), None)
