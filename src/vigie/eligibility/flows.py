"""Eligibility as units of work: one transaction per question, committed before the answer, with
its access-log entry (vigie.audit) in the same transaction; no entry, no answer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from vigie.audit.access import cancellation_event, eligibility_note
from vigie.audit.estimates import estimate_engine
from vigie.audit.log import record
from vigie.db.engine import Unit, read_transaction, write_transaction
from vigie.eligibility import lock_free, store
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache, cancel_agreement, decide
from vigie.identity.service import ProfessionalView
from vigie.rights.protected import cardless_message, unseal
from vigie.runtime import Runtime


@dataclass(frozen=True)
class Engines:
    """Where a PostgreSQL question's statements go: ``main``, transactions and single statements
    committed synchronously; ``estimates``, single statements that change only the access log,
    committed asynchronously (vigie.audit.estimates)."""

    main: Engine
    estimates: Engine


def check_eligibility(
    runtime: Runtime,
    plans: PlanCache,
    caller: ProfessionalView,
    request: EligibilityRequest,
    channel: str = "json",
    *,
    unit: Unit = write_transaction,
    engines: Engines | None = None,
) -> EligibilityAnswer:
    """``unit``: where the question's writes go (its own transaction, or a group commit's).
    ``engines``: the runtime's engine and its twins unless given (see vigie.db.loop_engines)."""
    engine = engines.main if engines is not None else runtime.engine
    keyring = runtime.current_keyring()  # before the transaction: a reload needs a connection
    log_key = runtime.keys.audit_keys().pseudonym
    note = eligibility_note(log_key, caller, request, channel)
    cardless = request.card is None
    if engine.dialect.name == "postgresql" and not cardless:
        engines = engines or Engines(engine, estimate_engine(engine))
        if request.mode == "estimate":
            # The cover is read and the entry inserted by one statement, committed on its own
            # (asynchronously: see vigie.audit.estimates): an estimate writes nothing else.
            with read_transaction(engines.estimates) as conn:
                return decide(
                    conn,
                    keyring,
                    request,
                    professional_id=caller.id,
                    plans=plans,
                    log=note.statement_params(),
                )
        answer = lock_free.agree(
            engines.main, keyring, request, note, professional_id=caller.id, plans=plans
        )
        if answer is not None:
            return answer
    with unit(engine) as conn:
        answer = decide(conn, keyring, request, professional_id=caller.id, plans=plans)
        # Card-less, the mutuelle concerned is the one whose member answered.
        amc = store.cardless_amc(conn, keyring, request) if cardless and answer.eligible else None
        agreed = answer.agreement is not None
        record(conn, note.event(eligible=answer.eligible, agreement=agreed, amc=amc))
        return answer


def cancel(runtime: Runtime, caller: ProfessionalView, number: str) -> str:
    keyring = runtime.current_keyring()
    log_key = runtime.keys.audit_keys().pseudonym
    with write_transaction(runtime.engine) as conn:
        outcome = cancel_agreement(conn, number, professional_id=caller.id)
        found = store.agreement_subject(conn, number, caller.id)
        subject = None
        if found is not None:  # the log names the person by the pseudonym of their identity
            amc, key_id, sealed = found
            person = unseal(keyring, amc, key_id, sealed)
            identity = cardless_message(person.nir, person.birth_date, person.birth_rank)
            subject = (identity, amc)
        record(conn, cancellation_event(log_key, caller, outcome, subject))
        return outcome
