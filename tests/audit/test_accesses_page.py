"""The insured person's portal page: every check of their rights, in French, naming nobody."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.audit.test_proof_api import DPO, as_role, insured, logged
from tests.factories import ALICE, CAROL
from vigie.runtime import Runtime

__all__ = ["logged"]


def test_an_insured_person_reads_who_checked_their_rights(
    runtime: Runtime, logged: TestClient
) -> None:
    as_role(logged, insured(runtime, ALICE))
    page = logged.get("/portal/accesses")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count("droits confirmés") == 2  # Alice was checked twice, Bob once
    assert page.text.count("inscrite, position") == 2  # both under the signed head
    assert "pharmacien" in page.text
    for value in (ALICE.nir, ALICE.last_name, ALICE.member, ALICE.amc):
        assert value not in page.text
    home = logged.get("/portal")
    assert 'href="/portal/accesses"' in home.text


def test_someone_never_checked_sees_an_empty_history(runtime: Runtime, logged: TestClient) -> None:
    as_role(logged, insured(runtime, CAROL))
    page = logged.get("/portal/accesses")
    assert page.status_code == 200 and 'id="none"' in page.text


def test_only_the_insured_role_has_the_page(logged: TestClient) -> None:
    as_role(logged, DPO)
    assert logged.get("/portal/accesses").status_code == 403
