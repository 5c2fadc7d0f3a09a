"""Declaring an incident through the API (DPO only) and through the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api.conftest import auth, client
from tests.factories import AMC
from tests.incidents.conftest import STOLEN_RPPS, Traffic
from vigie.api.deps import current_principal
from vigie.cli.main import app
from vigie.identity.principal import Principal, Role
from vigie.runtime import Runtime

__all__ = ["auth", "client"]
NOW = datetime.now(UTC)


@pytest.fixture
def dpo(client: TestClient) -> Iterator[TestClient]:
    async def as_dpo() -> Principal:
        return Principal(Role.DPO, "user:dpo")

    client.app.dependency_overrides[current_principal] = as_dpo  # type: ignore[attr-defined]
    yield client
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


BODY: dict[str, object] = {
    "kind": "accounts",
    "description": "Identifiants hameçonnés.",
    "accounts": [STOLEN_RPPS],
    "start": (NOW - timedelta(hours=1)).isoformat(),
    "end": (NOW + timedelta(hours=1)).isoformat(),
    "measures_taken": ["compte suspendu"],
}


def test_the_dpo_declares_and_reads_the_notification(traffic: Traffic, dpo: TestClient) -> None:
    created = dpo.post("/v1/incidents", json=BODY)
    assert created.status_code == 201
    incident = created.json()["incident"]
    assert created.json()["notification"]["nombre_approximatif_de_personnes"] == 3
    again = dpo.get(f"/v1/incidents/{incident}/notification")
    assert again.status_code == 200 and again.json()["incident"] == incident
    pdf = dpo.get(f"/v1/incidents/{incident}/notification.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert dpo.get("/v1/incidents/999/notification").status_code == 404
    bad = dpo.post("/v1/incidents", json={**BODY, "end": BODY["start"]})
    assert bad.status_code == 400 and "fin de la période" in bad.json()["message"]


def test_other_roles_cannot(traffic: Traffic, client: TestClient, auth: dict[str, str]) -> None:
    assert client.post("/v1/incidents", json=BODY, headers=auth).status_code == 403


def test_the_command_line_writes_the_documents(
    runtime: Runtime, traffic: Traffic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_KEYS", str(runtime.settings.keys))
    monkeypatch.setenv("VIGIE_DATABASE_URL", runtime.settings.database_url)
    out = tmp_path / "incident"
    result = CliRunner().invoke(
        app,
        [
            "incident",
            "declare",
            "--kind",
            "accounts",
            "--description",
            "Identifiants hameçonnés.",
            "--account",
            STOLEN_RPPS,
            "--start",
            str(BODY["start"]),
            "--end",
            str(BODY["end"]),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "notification-cnil.pdf").exists() and (out / f"lettres-{AMC}.csv").exists()
    refused = CliRunner().invoke(
        app, ["incident", "declare", "--kind", "accounts", "--description", "x", "--out", str(out)]
    )
    assert refused.exit_code == 1 and "au moins un compte" in refused.output
