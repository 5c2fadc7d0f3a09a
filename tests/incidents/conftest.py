"""An access log in which one pharmacist account, later declared compromised, checked Alice twice,
Bob and Carol (another mutuelle) and got one negative answer, while an optician checked a twin."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.factories import ALICE, BOB, CAROL, TWIN_1, Person, load_people, request
from vigie.db.engine import write_transaction
from vigie.eligibility.flows import check_eligibility
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.identity.identifiers import with_luhn_key
from vigie.identity.service import ProfessionalView, add_professional
from vigie.runtime import Runtime

STOLEN_RPPS = with_luhn_key("2000000000")
OTHER_RPPS = with_luhn_key("2000000001")


@dataclass(frozen=True)
class Traffic:
    stolen: ProfessionalView
    other: ProfessionalView


def ask(runtime: Runtime, who: ProfessionalView, person: Person, **changes: str) -> None:
    body = request(person)
    body["card"].update(changes)
    check_eligibility(runtime, PlanCache(), who, EligibilityRequest.model_validate(body))


@pytest.fixture
def traffic(runtime: Runtime) -> Traffic:
    load_people(runtime)
    with write_transaction(runtime.engine) as conn:
        stolen = add_professional(
            conn,
            rpps=STOLEN_RPPS,
            profession="pharmacist",
            postcode="75011",
            structure_finess=with_luhn_key("75000001"),
            structure_name="Pharmacie du Canal",
        )
        other = add_professional(conn, rpps=OTHER_RPPS, profession="optician", postcode="69003")
    for person in (ALICE, BOB, ALICE, CAROL):
        ask(runtime, stolen, person)
    ask(runtime, stolen, BOB, member="M4242")  # a negative answer
    ask(runtime, other, TWIN_1)
    return Traffic(stolen, other)
