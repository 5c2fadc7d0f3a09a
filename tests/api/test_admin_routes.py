"""Mutuelle admins: their own plans and rights only; every cross-tenant attempt is refused (403),
changes nothing and is recorded in the access log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import ALICE, AMC, CAROL, OTHER_AMC, PLANS, professional_token, rights_csv
from vigie.api.app import create_app
from vigie.audit.models import LogEntry
from vigie.db.engine import write_transaction
from vigie.identity.principal import Role
from vigie.identity.sessions import COOKIE, SessionIdentity, create_session
from vigie.rights.models import Beneficiary, Plan
from vigie.rights.plans import apply_plans, parse_plans_file
from vigie.runtime import Runtime

BASE = "https://testserver"


@pytest.fixture
def admin(runtime: Runtime) -> Iterator[TestClient]:
    """A signed-in admin of AMC (session opened directly: the sign-in is tested elsewhere)."""
    identity = SessionIdentity(Role.MUTUELLE_ADMIN, "user:7", None, frozenset({AMC}))
    with write_transaction(runtime.engine) as conn:
        cookie, csrf = create_session(conn, runtime.settings, identity, stage="active")
    with TestClient(create_app(runtime), base_url=BASE, raise_server_exceptions=False) as client:
        client.cookies.set(COOKIE, cookie)
        client.headers["X-CSRF-Token"] = csrf
        yield client


def _plans_file(*amcs: str) -> str:
    return json.dumps({"plans": [p for p in PLANS["plans"] if p["amc"] in amcs]})


def _count(runtime: Runtime, what: object) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(what)).scalar_one())  # type: ignore[arg-type]


def _refusals(runtime: Runtime) -> list[tuple[str, str | None, str]]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(LogEntry.actor, LogEntry.amc, LogEntry.detail).where(
                LogEntry.outcome == "refused"
            )
        )
        return [(r.actor, r.amc, r.detail) for r in rows]


def test_an_admin_imports_and_reads_its_own(admin: TestClient, runtime: Runtime) -> None:
    answer = admin.post("/v1/admin/plans", content=_plans_file(AMC))
    assert answer.status_code == 200 and answer.json()["created"] == 1
    answer = admin.post("/v1/admin/rights", content=rights_csv(ALICE))
    assert answer.status_code == 200 and answer.json()["created"] == 1
    listed = admin.get("/v1/admin/plans").json()["plans"]
    assert [(p["amc"], p["code"]) for p in listed] == [(AMC, "CONFORT")]
    assert admin.get("/v1/admin/plans", params={"amc": AMC}).status_code == 200
    assert _refusals(runtime) == []


def test_cross_tenant_read_is_refused_and_recorded(admin: TestClient, runtime: Runtime) -> None:
    answer = admin.get("/v1/admin/plans", params={"amc": OTHER_AMC})
    assert answer.status_code == 403 and OTHER_AMC not in answer.text
    refusals = _refusals(runtime)
    assert len(refusals) == 1 and refusals[0][:2] == ("user:7", OTHER_AMC)
    assert "plans_read" in refusals[0][2]


def test_cross_tenant_imports_are_refused_whole(admin: TestClient, runtime: Runtime) -> None:
    mixed_plans = admin.post("/v1/admin/plans", content=_plans_file(AMC, OTHER_AMC))
    assert mixed_plans.status_code == 403
    assert _count(runtime, Plan) == 0  # not even the admin's own plan of that file
    admin.post("/v1/admin/plans", content=_plans_file(AMC))
    with write_transaction(runtime.engine) as conn:  # the other mutuelle's plan exists
        apply_plans(conn, parse_plans_file(_plans_file(OTHER_AMC)))
    mixed_rights = admin.post("/v1/admin/rights", content=rights_csv(ALICE, CAROL))
    assert mixed_rights.status_code == 403
    assert _count(runtime, Beneficiary) == 0
    refusals = _refusals(runtime)
    assert {(actor, amc) for actor, amc, _ in refusals} == {("user:7", OTHER_AMC)}
    assert len(refusals) == 2
    assert all(CAROL.nir not in body and "Wombat" not in body for *_, body in refusals)


def test_other_roles_cannot_use_admin_routes(runtime: Runtime) -> None:
    token = professional_token(runtime)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/admin/plans", headers=auth).status_code == 403
        answer = client.post("/v1/admin/plans", content=_plans_file(AMC), headers=auth)
        assert answer.status_code == 403
    assert _count(runtime, Plan) == 0


def test_a_bad_file_is_reported_without_echo(admin: TestClient) -> None:
    bad = rights_csv(ALICE).replace(ALICE.nir, ALICE.nir[:-2] + "00")
    answer = admin.post("/v1/admin/plans", content=_plans_file(AMC))
    answer = admin.post("/v1/admin/rights", content=bad)
    assert answer.status_code == 422 and ALICE.nir[:13] not in answer.text
    assert admin.post("/v1/admin/rights", content=b"\xff\xfe").status_code == 400


def test_without_the_csrf_header_a_session_cannot_import(
    admin: TestClient, runtime: Runtime
) -> None:
    del admin.headers["X-CSRF-Token"]
    assert admin.post("/v1/admin/plans", content=_plans_file(AMC)).status_code == 403
    assert admin.get("/v1/admin/plans").status_code == 200  # reads need no token
    assert _count(runtime, Plan) == 0
