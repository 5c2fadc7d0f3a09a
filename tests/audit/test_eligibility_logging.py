"""Every eligibility request and cancellation is logged with its answer, naming the patient only
by the log pseudonym; an entry that cannot be written fails the request."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.api.test_fhir_api import fhir_request, post_fhir
from tests.factories import ALICE, CAROL, GLASSES, request
from vigie.audit.categories import DataCategory
from vigie.audit.estimates import estimate_engine
from vigie.audit.log import pseudonym
from vigie.rights.protected import cardless_message
from vigie.runtime import Runtime


def _entries(runtime: Runtime) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT kind, actor, outcome, amc, insured, exposed, detail, structure_id"
                    " FROM access_log ORDER BY id"
                )
            )
        )


def _alias(runtime: Runtime, nir: str, birth: Any, rank: int) -> bytes:
    return pseudonym(runtime.keys.audit_keys().pseudonym, cardless_message(nir, birth, rank))


def test_estimates_and_agreements_are_logged_positive_or_negative(
    runtime: Runtime, client: TestClient, auth: dict[str, str]
) -> None:
    assert client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    unknown = request(ALICE)
    unknown["card"]["member"] = "M9999"
    assert client.post("/v1/eligibility", json=unknown, headers=auth).json()["eligible"] is False
    agreed = client.post(
        "/v1/eligibility", json=request(ALICE, mode="agree", lines=[GLASSES]), headers=auth
    ).json()
    assert agreed["agreement"]
    rows = _entries(runtime)
    assert [(r.kind, r.outcome) for r in rows] == [
        ("eligibility", "positive"),
        ("eligibility", "negative"),
        ("eligibility", "positive"),
    ]
    alice = _alias(runtime, ALICE.nir, ALICE.birth_date, ALICE.birth_rank)
    assert all(bytes(r.insured) == alice for r in rows)
    assert {r.amc for r in rows} == {ALICE.amc}
    assert all(r.actor.startswith("rpps:") for r in rows)
    assert rows[0].exposed == DataCategory.COVERAGE_STATUS | DataCategory.AMOUNTS
    assert rows[1].exposed == DataCategory.COVERAGE_STATUS
    assert rows[2].exposed & DataCategory.AGREEMENT
    assert '"mode":"estimate"' in rows[0].detail and '"channel":"json"' in rows[0].detail
    assert '"care":["optics_b"]' in rows[2].detail and '"agreement":true' in rows[2].detail
    for row in rows:  # nothing personal anywhere in the entry
        flat = repr(tuple(row))
        for value in (ALICE.nir, ALICE.last_name, ALICE.first_name, ALICE.member):
            assert value not in flat


def test_cancellations_are_logged(
    runtime: Runtime, client: TestClient, auth: dict[str, str]
) -> None:
    number = client.post(
        "/v1/eligibility", json=request(ALICE, mode="agree", lines=[GLASSES]), headers=auth
    ).json()["agreement"]
    assert client.delete(f"/v1/agreements/{number}", headers=auth).status_code == 200
    assert client.delete(f"/v1/agreements/{number}", headers=auth).status_code == 409
    rows = _entries(runtime)[1:]
    assert [(r.kind, r.outcome) for r in rows] == [
        ("cancellation", "cancelled"),
        ("cancellation", "already_cancelled"),
    ]
    alice = _alias(runtime, ALICE.nir, ALICE.birth_date, ALICE.birth_rank)
    assert bytes(rows[0].insured) == alice and rows[0].exposed == DataCategory.AGREEMENT


def test_fhir_requests_are_logged(
    runtime: Runtime, client: TestClient, auth: dict[str, str]
) -> None:
    response = post_fhir(client, auth, fhir_request(ALICE))
    assert response.status_code == 200
    bad = post_fhir(client, auth, {"resourceType": "CoverageEligibilityRequest"})
    assert bad.status_code == 400  # refused before any eligibility question is asked
    rows = _entries(runtime)
    assert [(r.kind, r.outcome) for r in rows] == [("eligibility", "positive")]
    assert '"channel":"fhir"' in rows[0].detail


def test_no_entry_no_answer(runtime: Runtime, client: TestClient, auth: dict[str, str]) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("ALTER TABLE access_log RENAME TO access_log_away"))
    try:
        for mode in ("estimate", "agree"):
            response = client.post("/v1/eligibility", json=request(CAROL, mode=mode), headers=auth)
            assert response.status_code in (500, 503)
            assert "eligible" not in response.text
    finally:
        with runtime.engine.begin() as conn:
            conn.execute(text("ALTER TABLE access_log_away RENAME TO access_log"))


def test_only_estimates_commit_asynchronously(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite: one write transaction for both, in the same file")

    with estimate_engine(runtime.engine).connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "off"
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
    assert estimate_engine(runtime.engine) is estimate_engine(runtime.engine)


def test_cardless_questions_name_the_member_s_mutuelle_when_one_answers(
    runtime: Runtime, client: TestClient, auth: dict[str, str]
) -> None:
    cardless = request(ALICE)
    del cardless["card"]
    assert client.post("/v1/eligibility", json=cardless, headers=auth).json()["eligible"] is True
    wrong = request(ALICE)
    del wrong["card"]
    wrong["patient"]["birth_rank"] = 2
    assert client.post("/v1/eligibility", json=wrong, headers=auth).json()["eligible"] is False
    rows = _entries(runtime)
    assert [(r.outcome, r.amc) for r in rows] == [("positive", ALICE.amc), ("negative", None)]
    assert rows[0].insured == _alias(runtime, ALICE.nir, ALICE.birth_date, ALICE.birth_rank)
    assert all('"cardless":true' in r.detail for r in rows)
    assert all(ALICE.nir not in r.detail for r in rows)
