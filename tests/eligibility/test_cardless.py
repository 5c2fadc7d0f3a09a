"""Card-less questions: NIR, birth date and birth rank alone, through the cardless blind index."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_fhir_api import fhir_request
from tests.factories import (
    ALICE,
    AMC,
    BOB,
    CAROL,
    OTHER_AMC,
    TWIN_1,
    TWIN_2,
    Person,
    load_people,
    make_nir,
    professional_token,
    request,
)
from vigie.api.app import create_app
from vigie.runtime import Runtime

# One person, member of two mutuelles: without a card, which one is meant cannot be said.
DUAL_A = Person(AMC, "M0777", make_nir(1, 1970, 5, order=21), ALICE.birth_date, 1, "Ybex", "Dan")
DUAL_B = dataclasses.replace(DUAL_A, amc=OTHER_AMC, member="X99", plan="BASE")


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    load_people(runtime, ALICE, BOB, TWIN_1, TWIN_2, CAROL, DUAL_A, DUAL_B)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def auth(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {professional_token(runtime)}"}


def cardless(person: Person, **changes: Any) -> dict[str, Any]:
    body = request(person)
    del body["card"]
    body["patient"] = {**body["patient"], **changes}
    return body


def ask(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> bytes:
    response = client.post("/v1/eligibility", json=body, headers=auth)
    assert response.status_code == 200, response.text
    return response.content


def test_cardless_answers_like_the_card(client: TestClient, auth: dict[str, str]) -> None:
    with_card = ask(client, auth, request(ALICE))
    assert b'"eligible":true' in with_card
    assert ask(client, auth, cardless(ALICE)) == with_card


def test_cardless_negative_is_the_uniform_negative(
    client: TestClient, auth: dict[str, str]
) -> None:
    negative = ask(client, auth, request(dataclasses.replace(ALICE, member="M0002")))
    assert b'"eligible":false' in negative
    assert ask(client, auth, cardless(ALICE, birth_date="1985-04-13")) == negative
    assert ask(client, auth, cardless(TWIN_1, birth_rank=3)) == negative
    assert ask(client, auth, cardless(DUAL_A)) == negative  # two mutuelles: ambiguous
    assert b'"eligible":true' in ask(client, auth, request(DUAL_A))
    assert b'"eligible":true' in ask(client, auth, request(DUAL_B))


def test_twins_are_told_apart_by_rank(client: TestClient, auth: dict[str, str]) -> None:
    assert TWIN_1.nir == TWIN_2.nir
    assert b'"eligible":true' in ask(client, auth, cardless(TWIN_1))
    assert b'"eligible":true' in ask(client, auth, cardless(TWIN_2))


def test_fhir_without_insurance_is_cardless(client: TestClient, auth: dict[str, str]) -> None:
    body = fhir_request(ALICE)
    del body["insurance"]
    body["contained"] = [r for r in body["contained"] if r["resourceType"] == "Patient"]
    headers = {**auth, "content-type": "application/fhir+json"}
    response = client.post("/fhir/CoverageEligibilityRequest", json=body, headers=headers)
    assert response.status_code == 200, response.text
    resource = response.json()
    assert resource["insurance"][0]["inforce"] is True
    assert AMC not in response.text  # the caller did not send the AMC number: not named
