"""The JSON eligibility API, end to end on both stores."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    ALICE,
    BOB,
    CAROL,
    GLASSES,
    GP_LINE,
    OTHER_RPPS,
    TWIN_1,
    TWIN_2,
    professional_token,
    request,
)
from vigie.runtime import Runtime


def post(client: TestClient, auth: dict[str, str], body: dict[str, Any]) -> Any:
    return client.post("/v1/eligibility", json=body, headers=auth)


def test_eligible_patient_gets_the_cost_split(client: TestClient, auth: dict[str, str]) -> None:
    response = post(client, auth, request(ALICE))
    assert response.status_code == 200
    # BR 30 × 70 % = 21.00 gross, AMO 21 − 2 = 19.00; 200 % BR = 60 → 60 − 21 = 39 capped by
    # left = 30 − 21 = 9.00; patient 30 − 19 − 9 = 2.00 (the participation forfaitaire).
    assert response.json() == {
        "eligible": True,
        "agreement": None,
        "lines": [
            {
                "category": "consultation_gp",
                "billed": "30.00",
                "amo": "19.00",
                "amc": "9.00",
                "patient": "2.00",
                "covered": True,
                "reason": "pct_br",
            }
        ],
    }
    assert "x-request-id" in response.headers


def test_answer_echoes_nothing_personal(client: TestClient, auth: dict[str, str]) -> None:
    text = post(client, auth, request(ALICE)).text
    for secret in (ALICE.nir, ALICE.last_name, ALICE.first_name, ALICE.member, "1985-04-12"):
        assert secret not in text


def test_twins_are_told_apart_by_birth_rank(client: TestClient, auth: dict[str, str]) -> None:
    assert post(client, auth, request(TWIN_1)).json()["eligible"] is True
    assert post(client, auth, request(TWIN_2)).json()["eligible"] is True
    wrong_rank = request(TWIN_2)
    wrong_rank["patient"]["birth_rank"] = 3
    assert post(client, auth, wrong_rank).json()["eligible"] is False


def _variants() -> list[tuple[str, dict[str, Any]]]:
    base = request(BOB)
    cases = []
    for name, path, value in [
        ("amc", ("card", "amc"), "111111111"),
        ("member", ("card", "member"), "M0002"),
        ("nir", ("patient", "nir"), ALICE.nir),
        ("birth_date", ("patient", "birth_date"), "1983-09-04"),
        ("birth_rank", ("patient", "birth_rank"), 2),
        ("date_before_start", ("date",), "2023-12-31"),
    ]:
        body = copy.deepcopy(base)
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        cases.append((name, body))
    return cases


def test_every_negative_answer_is_identical(client: TestClient, auth: dict[str, str]) -> None:
    answers = []
    for _name, body in _variants():
        response = post(client, auth, body)
        answers.append((response.status_code, response.content))
    closed = request(CAROL, day="2031-01-01")
    response = post(client, auth, closed)
    answers.append((response.status_code, response.content))
    assert len(set(answers)) == 1
    assert answers[0] == (200, b'{"eligible":false,"agreement":null,"lines":[]}')


def test_agree_grants_an_agreement_and_cancel_gives_it_back(
    client: TestClient, auth: dict[str, str]
) -> None:
    line = {"category": "dental_moderate", "billed": "500.00", "br": "107.50", "amo_rate": "0.70"}
    body = request(ALICE, mode="agree", lines=[line])
    first = post(client, auth, body).json()
    # AMO 75.25; left 424.75; flat 300 per year → 300.00.
    assert first["lines"][0]["amc"] == "300.00" and first["agreement"]
    # The year's budget is used up: the next agreement gets nothing.
    second = post(client, auth, body).json()
    assert second["lines"][0]["amc"] == "0.00" and second["agreement"] is None
    cancelled = client.delete(f"/v1/agreements/{first['agreement']}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    again = post(client, auth, body).json()
    assert again["lines"][0]["amc"] == "300.00"
    assert client.delete(f"/v1/agreements/{first['agreement']}", headers=auth).status_code == 409


def test_estimate_consumes_nothing(client: TestClient, auth: dict[str, str]) -> None:
    line = {"category": "dental_moderate", "billed": "500.00", "br": "107.50", "amo_rate": "0.70"}
    for _ in range(3):
        answer = post(client, auth, request(ALICE, mode="estimate", lines=[line])).json()
        assert answer["lines"][0]["amc"] == "300.00" and answer["agreement"] is None


def test_mode_defaults_to_agree(client: TestClient, auth: dict[str, str]) -> None:
    body = request(ALICE)
    del body["mode"]
    assert post(client, auth, body).json()["agreement"] is not None


def test_renewal_period_comes_from_stored_agreements(
    client: TestClient, auth: dict[str, str]
) -> None:
    glasses = GLASSES
    first = post(
        client, auth, request(ALICE, mode="agree", day="2025-01-10", lines=[glasses])
    ).json()
    assert first["lines"][0]["amc"] == "250.00"
    inside = post(client, auth, request(ALICE, mode="estimate", day="2026-06-01", lines=[glasses]))
    assert inside.json()["lines"][0] == {
        **inside.json()["lines"][0],
        "amc": "0.00",
        "reason": "renewal_period",
    }
    changed = dict(glasses, prescription_changed=True)
    answer = post(client, auth, request(ALICE, mode="estimate", day="2026-06-01", lines=[changed]))
    assert answer.json()["lines"][0]["amc"] == "250.00"
    after = post(client, auth, request(ALICE, mode="estimate", day="2027-01-10", lines=[glasses]))
    assert after.json()["lines"][0]["amc"] == "250.00"


def test_another_professional_cannot_cancel(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    number = post(client, auth, request(ALICE, mode="agree")).json()["agreement"]
    other = {"Authorization": f"Bearer {professional_token(runtime, OTHER_RPPS)}"}
    assert client.delete(f"/v1/agreements/{number}", headers=other).status_code == 404
    assert client.delete("/v1/agreements/A260101-000000000000", headers=auth).status_code == 404
    assert client.delete("/v1/agreements/not-a-number", headers=auth).status_code == 422


@pytest.mark.parametrize(
    ("mutation", "status"),
    [
        ({"card": {"amc": "12345678", "member": "M0001"}}, 422),
        ({"patient": {"nir": "285047505601112", "birth_date": "1985-04-12"}}, 422),
        ({"patient": {"nir": ALICE.nir, "birth_date": "1985-13-12"}}, 422),
        ({"date": "yesterday"}, 422),
        ({"mode": "steal"}, 422),
        ({"lines": []}, 422),
        ({"lines": [dict(GP_LINE, category="massage")]}, 422),
        ({"lines": [dict(GP_LINE, amo_rate="1.5")]}, 422),
        ({"lines": [dict(GP_LINE, billed="-1")]}, 422),
        ({"lines": [dict(GP_LINE, billed="30.001")]}, 422),
        ({"lines": [dict(GP_LINE, br="40.00")]}, 422),
        (
            {"lines": [{"category": "optics_b", "billed": "100", "br": "0.09", "amo_rate": "0.6"}]},
            422,
        ),
        ({"extra": 1}, 422),
    ],
)
def test_bad_input_gets_a_clear_error_without_echo(
    client: TestClient, auth: dict[str, str], mutation: dict[str, Any], status: int
) -> None:
    body = {**request(ALICE), **mutation}
    response = post(client, auth, body)
    assert response.status_code == status
    payload = response.json()
    assert payload["error"] == status and payload["message"]
    assert ALICE.nir not in response.text and "285047505601112" not in response.text


def test_malformed_json_is_400(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/v1/eligibility",
        content=b"{not json",
        headers={**auth, "content-type": "application/json"},
    )
    assert response.status_code == 400


def test_oversized_body_is_413(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/v1/eligibility",
        content=b"x" * 70_000,
        headers={**auth, "content-type": "application/json"},
    )
    assert response.status_code == 413


def test_missing_or_bad_token_is_401(client: TestClient) -> None:
    assert client.post("/v1/eligibility", json=request(ALICE)).status_code == 401
    bad = {"Authorization": "Bearer vg_nope"}
    response = client.post("/v1/eligibility", json=request(ALICE), headers=bad)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_token(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_a_backdated_request_cannot_open_a_second_equipment(
    client: TestClient, auth: dict[str, str]
) -> None:
    glasses = GLASSES
    first = post(client, auth, request(ALICE, mode="agree", day="2026-06-01", lines=[glasses]))
    assert first.json()["lines"][0]["amc"] == "250.00"
    earlier = post(client, auth, request(ALICE, mode="agree", day="2026-05-01", lines=[glasses]))
    assert earlier.json()["lines"][0]["reason"] == "renewal_period"
    assert earlier.json()["agreement"] is None
    long_before = post(client, auth, request(ALICE, day="2024-05-31", lines=[glasses]))
    assert long_before.json()["lines"][0]["amc"] == "250.00"
