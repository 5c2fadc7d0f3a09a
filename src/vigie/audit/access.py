"""What the log says about eligibility requests and agreement cancellations.

Invariant: an entry names the patient only by their log pseudonym (vigie.audit.log.pseudonym);
the NIR, names and member number never reach the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigie.audit.categories import DataCategory
from vigie.audit.log import Event, detail_text, now_us, pseudonym
from vigie.eligibility.schemas import EligibilityRequest
from vigie.identity.service import ProfessionalView
from vigie.rights.protected import cardless_message

POSITIVE_EXPOSES = DataCategory.COVERAGE_STATUS | DataCategory.AMOUNTS
NEGATIVE_EXPOSES = DataCategory.COVERAGE_STATUS


def actor_of(caller: ProfessionalView) -> str:
    return f"rpps:{caller.rpps}"


@dataclass(frozen=True)
class EligibilityNote:
    """The entry for one eligibility request, written before its answer is known."""

    actor: str
    structure_id: int | None
    amc: str | None  # the card's AMC; card-less: the matched member's, known after the lookup
    insured: bytes
    detail: dict[str, Any]

    def event(self, *, eligible: bool, agreement: bool, amc: str | None = None) -> Event:
        exposed = POSITIVE_EXPOSES if eligible else NEGATIVE_EXPOSES
        if agreement:
            exposed |= DataCategory.AGREEMENT
        return Event(
            kind="eligibility",
            actor=self.actor,
            outcome="positive" if eligible else "negative",
            structure_id=self.structure_id,
            amc=amc or self.amc,
            insured=self.insured,
            detail={**self.detail, "agreement": agreement},
            exposed=int(exposed),
        )

    def statement_params(self) -> dict[str, Any]:
        """Parameters for an INSERT whose outcome the same statement decides (an estimate on
        PostgreSQL: see vigie.eligibility.store.COVERAGE_LOGGED)."""
        return {
            "log_at_us": now_us(),
            "log_actor": self.actor,
            "log_structure_id": self.structure_id,
            "log_amc": self.amc,
            "log_insured": self.insured,
            "log_exposed_positive": int(POSITIVE_EXPOSES),
            "log_exposed_negative": int(NEGATIVE_EXPOSES),
            "log_detail": detail_text({**self.detail, "agreement": False}),
        }

    def agreement_params(self) -> dict[str, Any]:
        """``statement_params`` and the variant for an answer that makes an agreement (a
        PostgreSQL agreement prepared ahead: see vigie.eligibility.store.AGREEMENT_PREPARED)."""
        return {
            **self.statement_params(),
            "log_exposed_agreed": int(POSITIVE_EXPOSES | DataCategory.AGREEMENT),
            "log_detail_agreed": detail_text({**self.detail, "agreement": True}),
        }


def eligibility_note(
    log_key: bytes, caller: ProfessionalView, request: EligibilityRequest, channel: str
) -> EligibilityNote:
    patient = request.patient
    identity = cardless_message(patient.nir, patient.birth_date, patient.birth_rank)
    return EligibilityNote(
        actor=actor_of(caller),
        structure_id=caller.structure_id,
        amc=request.card.amc if request.card is not None else None,
        insured=pseudonym(log_key, identity),
        detail={
            "mode": request.mode,
            "cardless": request.card is None,
            "channel": channel,
            "profession": str(caller.profession),
            "care": sorted({str(line.category) for line in request.lines}),
        },
    )


def cancellation_event(
    log_key: bytes,
    caller: ProfessionalView,
    outcome: str,
    subject: tuple[bytes, str] | None,
) -> Event:
    """``subject``: the agreement's beneficiary (cardless message, AMC), when it exists."""
    return Event(
        kind="cancellation",
        actor=actor_of(caller),
        outcome=outcome,
        structure_id=caller.structure_id,
        amc=subject[1] if subject else None,
        insured=pseudonym(log_key, subject[0]) if subject else None,
        detail={"profession": str(caller.profession)},
        exposed=int(DataCategory.AGREEMENT) if outcome == "cancelled" else 0,
    )


def import_event(file_kind: str, counts: dict[str, int], amcs: list[str]) -> Event:
    """One entry per import: which file kind, for which mutuelles, how many rows changed."""
    exposed = DataCategory.RIGHTS
    if file_kind == "rights":
        exposed |= DataCategory.IDENTITY
    return Event(
        kind="import",
        actor="operator:cli",
        outcome="ok",
        amc=amcs[0] if len(amcs) == 1 else None,
        detail={"file": file_kind, "amcs": amcs, **counts},
        exposed=int(exposed),
    )
