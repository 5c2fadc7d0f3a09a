"""The fast lane of ``POST /v1/eligibility`` answers exactly as the FastAPI route, and hands every
case off the plain path to the route (whose errors are then the only ones)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import ALICE, BOB, request
from vigie.api import fast_lane, guard_gate
from vigie.db.engine import write_transaction
from vigie.identity import issuer_keys
from vigie.identity.token_service import issue_access_token
from vigie.runtime import Runtime


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One entry per question the lane answered itself (the route's are not counted)."""
    calls: list[bool] = []
    real = guard_gate.guarded

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fast_lane, "guarded", counted)  # the name the lane calls
    return calls


def test_the_lane_answers_as_the_route(
    client: TestClient, auth: dict[str, str], lane_calls: list[bool]
) -> None:
    # The first question verifies the token (the route); the next ones take the lane.
    answers = [client.post("/v1/eligibility", json=request(ALICE), headers=auth) for _ in range(2)]
    assert len(lane_calls) == 1
    route, lane = answers
    assert route.status_code == lane.status_code == 200
    assert route.json() == lane.json() and route.json()["eligible"] is True
    for header in ("content-type", "content-length"):
        assert route.headers[header] == lane.headers[header]
    assert lane.headers["x-request-id"] != route.headers["x-request-id"]
    stranger = request(BOB)
    stranger["card"]["member"] = "M9999"  # no such member: the uniform negative answer
    negative = client.post("/v1/eligibility", json=stranger, headers=auth)
    assert len(lane_calls) == 2
    assert negative.status_code == 200 and negative.json()["eligible"] is False


def test_agree_through_the_lane_writes_an_agreement(
    client: TestClient, auth: dict[str, str], lane_calls: list[bool]
) -> None:
    client.post("/v1/eligibility", json=request(ALICE), headers=auth)  # the route: token verified
    agreed = client.post("/v1/eligibility", json=request(ALICE, mode="agree"), headers=auth)
    assert lane_calls and agreed.status_code == 200
    number = agreed.json()["agreement"]
    cancelled = client.delete(f"/v1/agreements/{number}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"card": ', "application/json", 400),  # malformed JSON
        (b'{"date": "2026-03-02"}', "application/json", 422),  # fields missing
        (b'{"date": "2026-03-02"}', "application/json; charset=utf-8", 422),
        (b"not json", "text/plain", None),  # whatever the route says of another type
    ],
)
def test_bodies_off_the_plain_path_get_the_route_s_answer(
    client: TestClient,
    auth: dict[str, str],
    lane_calls: list[bool],
    content: bytes,
    content_type: str,
    status: int | None,
) -> None:
    headers = {**auth, "content-type": content_type}
    first = client.post("/v1/eligibility", content=content, headers=headers)  # token not cached
    second = client.post("/v1/eligibility", content=content, headers=headers)  # token cached
    assert not lane_calls
    assert first.status_code == second.status_code and first.json() == second.json()
    assert status is None or first.status_code == status
    assert first.status_code < 500


def test_callers_who_may_not_ask_get_the_route_s_refusal(
    client: TestClient, runtime: Runtime, lane_calls: list[bool]
) -> None:
    keys = issuer_keys.load_or_create(runtime.settings.issuer_keys_path())
    with write_transaction(runtime.engine) as conn:
        token = issue_access_token(
            conn,
            keys,
            runtime.settings,
            subject="insured:x",
            claims={"vigie_role": "insured", "insured_index": "00" * 32},
            ttl=timedelta(minutes=5),
        )
    insured = {"Authorization": f"Bearer {token}"}
    answers = [
        client.post("/v1/eligibility", json=request(ALICE), headers=insured) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [403, 403] and not lane_calls
    anonymous = client.post("/v1/eligibility", json=request(ALICE))
    forged = client.post(
        "/v1/eligibility", json=request(ALICE), headers={"Authorization": "Bearer x.y.z"}
    )
    assert anonymous.status_code == forged.status_code == 401 and not lane_calls


def test_an_unexpected_error_gets_the_application_s_answer(
    client: TestClient,
    auth: dict[str, str],
    lane_calls: list[bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.post("/v1/eligibility", json=request(ALICE), headers=auth)

    async def broken(*_args: object) -> object:
        raise RuntimeError("personne 1 85 05 78 006 084 36")  # text that must not leak

    monkeypatch.setattr("vigie.api.deps.Services.check_eligibility", broken)
    answer = client.post("/v1/eligibility", json=request(ALICE), headers=auth)
    assert lane_calls and answer.status_code == 500
    assert "personne" not in answer.text and answer.json()["error"] == 500
