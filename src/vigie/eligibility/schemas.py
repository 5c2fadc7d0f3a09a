"""The eligibility API's request and answer, shared by the JSON and FHIR front ends.

Invariant: an answer carries nothing personal; "not eligible" is a single constant value.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from vigie.eligibility.categories import Category, LensClass
from vigie.rights.identifiers import canonical_amc, canonical_member, canonical_nir

# copy_abs turns a "-0" that passed ge=0 into 0, so no answer ever shows "-0.00".
Money = Annotated[
    Decimal, Field(ge=0, le=100_000, decimal_places=2), AfterValidator(Decimal.copy_abs)
]
Rate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


AmcNumber = Annotated[str, AfterValidator(canonical_amc)]
MemberNumber = Annotated[str, AfterValidator(canonical_member)]
Nir = Annotated[str, AfterValidator(canonical_nir)]


class Card(Strict):
    amc: AmcNumber
    member: MemberNumber


class Patient(Strict):
    nir: Nir
    birth_date: date
    birth_rank: int = Field(1, ge=1, le=9)


class LineIn(Strict):
    category: Category
    billed: Money
    br: Money
    amo_rate: Rate
    amo_deduction: Money = Decimal("0")
    lens_class: LensClass | None = None
    prescription_changed: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> LineIn:
        if self.br > self.billed:
            raise ValueError("la base de remboursement (br) dépasse le montant facturé (billed)")
        if self.category == Category.optics_b and self.lens_class is None:
            raise ValueError("lens_class est obligatoire pour optics_b")
        return self


# Care dates a practice can plausibly bill; beyond, a typo rather than a care.
CareDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]


class EligibilityRequest(Strict):
    # Without the mutuelle card (forgotten), the NIR, birth date and birth rank alone name the
    # beneficiary: a card-less lookup, which the guard budgets far more tightly.
    card: Card | None = None
    patient: Patient
    date: CareDate
    mode: Literal["estimate", "agree"] = "agree"
    lines: list[LineIn] = Field(min_length=1, max_length=30)


class LineOut(Strict):
    category: Category
    billed: str
    amo: str
    amc: str
    patient: str
    covered: bool
    reason: str


class EligibilityAnswer(Strict):
    eligible: bool
    agreement: str | None = None
    lines: list[LineOut] = Field(default_factory=list)


NOT_ELIGIBLE = EligibilityAnswer(eligible=False, agreement=None, lines=[])
