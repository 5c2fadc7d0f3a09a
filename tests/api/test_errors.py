"""Error bodies and logs say nothing the caller sent; unexpected failures stay quiet."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.factories import ALICE, GP_LINE, request
from vigie.api.app import Quiet, create_app
from vigie.runtime import Runtime


def test_an_unexpected_error_is_a_bare_500_logged_by_type_only(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"failure while handling {ALICE.nir}")

    with caplog.at_level(logging.DEBUG), TestClient(Quiet(app)) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": 500, "message": "erreur interne"}
    assert ALICE.nir not in caplog.text and "RuntimeError" in caplog.text


def test_unknown_fields_are_named_without_echoing_the_key(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = request(ALICE)
    body["card"][ALICE.nir] = 1
    response = client.post("/v1/eligibility", json=body, headers=auth)
    assert response.status_code == 422 and ALICE.nir not in response.text
    assert ["card", "(champ inconnu)"] in [d["loc"] for d in response.json()["details"]]


def test_field_errors_are_said_in_french(client: TestClient, auth: dict[str, str]) -> None:
    body = request(ALICE)
    del body["date"]
    body["patient"]["birth_date"] = "hier"
    body["card"]["surprise"] = 1
    details = client.post("/v1/eligibility", json=body, headers=auth).json()["details"]
    said = {tuple(d["loc"]): (d["type"], d["msg"]) for d in details}
    assert said[("date",)] == ("missing", "champ obligatoire")
    assert said[("patient", "birth_date")][1] == "date attendue (AAAA-MM-JJ)"
    assert said[("card", "(champ inconnu)")] == ("extra_forbidden", "champ non autorisé")
    assert "hier" not in str(details)


def test_minus_zero_amounts_come_back_as_zero(client: TestClient, auth: dict[str, str]) -> None:
    line = dict(GP_LINE, billed="-0", br="0", amo_deduction="0")
    answer = client.post("/v1/eligibility", json=request(ALICE, lines=[line]), headers=auth).json()
    assert answer["lines"][0]["billed"] == "0.00" and answer["lines"][0]["patient"] == "0.00"
