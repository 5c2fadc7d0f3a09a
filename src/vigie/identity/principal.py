"""Who is calling, whatever proved it: a role, a subject, and the tenant the role is bound to.

Every route declares the roles it admits (``vigie.api.deps.require_roles``); nothing else grants
access. A professional principal carries its ProfessionalView; a mutuelle admin carries the AMC
numbers it administers; an insured principal carries the blind index that names its own rights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from vigie.identity.service import ProfessionalView


class Role(StrEnum):
    PROFESSIONAL = "professional"
    MUTUELLE_ADMIN = "mutuelle_admin"
    SECURITY_OFFICER = "security_officer"
    DPO = "dpo"
    INSURED = "insured"


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str  # stable account identifier: "rpps:…", "user:…", "insured:…"; never personal data
    professional: ProfessionalView | None = None
    amcs: frozenset[str] = field(default_factory=frozenset)
    insured_index: bytes | None = None  # cardless blind index of the insured person, if insured
    # What a client's access token allows ("eligibility", ...); None: an interactive user.
    scopes: frozenset[str] | None = None
    # When this portal session last re-proved its second factor (POST /auth/step-up); None for
    # bearer tokens and sessions without a step-up. The access guard reads it.
    step_up_at: datetime | None = None
    via: str = "bearer"  # "bearer" (Authorization header) or "session" (portal cookie)
    # step_up_at in epoch seconds, as the guard compares it: computed once per principal (a
    # bearer token's is kept for the token's life), not once per eligibility question.
    step_up_epoch: float | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        proved = self.step_up_at
        object.__setattr__(self, "step_up_epoch", None if proved is None else proved.timestamp())

    @classmethod
    def of_professional(cls, view: ProfessionalView) -> Principal:
        return cls(Role.PROFESSIONAL, f"rpps:{view.rpps}", professional=view)
