"""Other capabilities' route tests stand in for authentication by overriding one dependency,
``current_principal``: every role check and CurrentProfessional must follow the override."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import AMC, OTHER_AMC
from vigie.api.app import create_app
from vigie.api.deps import current_principal
from vigie.identity.principal import Principal, Role
from vigie.runtime import Runtime


def test_overriding_current_principal_reaches_role_checks(runtime: Runtime) -> None:
    app = create_app(runtime)
    admin = Principal(Role.MUTUELLE_ADMIN, "user:9", amcs=frozenset({AMC}))
    app.dependency_overrides[current_principal] = lambda: admin
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/admin/plans").status_code == 200
        assert client.get("/v1/admin/plans", params={"amc": OTHER_AMC}).status_code == 403
        assert client.post("/v1/eligibility", json={}).status_code == 403  # not a professional
    app.dependency_overrides[current_principal] = lambda: Principal(Role.DPO, "user:10")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/admin/plans").status_code == 403
