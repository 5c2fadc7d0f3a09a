"""vigie user / client / token / demo-request: staff accounts, practice-software clients, the
development identity provider's tokens, and its refusal in production."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from typer.testing import CliRunner

from tests.cli.test_cli import cli, write
from tests.factories import RPPS
from tests.web.conftest import BASE, field
from vigie.api.app import create_app
from vigie.cli.main import app
from vigie.config import Settings
from vigie.identity.identifiers import with_luhn_key
from vigie.runtime import open_runtime

__all__ = ["cli"]
FINESS = with_luhn_key("75000001")


def _professional(cli: CliRunner) -> None:
    added = cli.invoke(
        app,
        [
            "professional",
            "add",
            "--rpps",
            RPPS,
            "--profession",
            "pharmacist",
            "--postcode",
            "75011",
            "--structure-finess",
            FINESS,
            "--structure-name",
            "Pharmacie",
        ],
    )
    assert added.exit_code == 0, added.output


def test_user_add_reads_the_password_from_stdin(cli: CliRunner) -> None:
    args = ["user", "add", "--role", "mutuelle_admin", "--email", "a@m.example", "--amc", "1234"]
    refused = cli.invoke(app, args, input="Correct-Horse-42-battery\n")
    assert refused.exit_code == 1 and "AMC invalide" in refused.output
    args[-1] = "123456789"
    weak = cli.invoke(app, args, input="motdepasse\n")
    assert weak.exit_code == 1 and "trop faible" in weak.output
    done = cli.invoke(app, args, input="Correct-Horse-42-battery\n")
    assert done.exit_code == 0 and "second facteur" in done.output
    assert "Correct-Horse" not in done.output


def test_client_add_and_revoke(cli: CliRunner, tmp_path: Path) -> None:
    _professional(cli)
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    public = write(tmp_path, "client.jwk", json.dumps(key.as_dict(private=False)))
    added = cli.invoke(app, ["client", "add", "--finess", FINESS, "--public-key", str(public)])
    assert added.exit_code == 0, added.output
    client_id = added.stdout.strip()
    assert re.fullmatch(r"cl_[A-Za-z0-9_-]+", client_id)
    private = write(tmp_path, "private.jwk", json.dumps(key.as_dict(private=True)))
    refused = cli.invoke(app, ["client", "add", "--finess", FINESS, "--public-key", str(private)])
    assert refused.exit_code == 1 and "publique" in refused.output
    assert cli.invoke(app, ["client", "revoke", client_id]).exit_code == 0
    assert cli.invoke(app, ["client", "revoke", client_id]).exit_code == 1


def test_token_issue_is_refused_in_production(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    _professional(cli)
    monkeypatch.setenv("VIGIE_ENVIRONMENT", "production")
    refused = cli.invoke(app, ["token", "issue", "--rpps", RPPS])
    assert refused.exit_code == 1 and "production" in refused.output and not refused.stdout
    monkeypatch.setenv("VIGIE_DEV_IDP", "false")
    refused = cli.invoke(app, ["token", "issue", "--rpps", RPPS])
    assert refused.exit_code == 1 and "désactivé" in refused.output


def test_signing_key_rotation_from_the_command_line(cli: CliRunner) -> None:
    _professional(cli)
    before = cli.invoke(app, ["token", "issue", "--rpps", RPPS]).stdout.strip()
    rotated = cli.invoke(app, ["token", "rotate-signing-key"])
    assert rotated.exit_code == 0 and "nouvelle clé" in rotated.output
    after = cli.invoke(app, ["token", "issue", "--rpps", RPPS]).stdout.strip()
    assert before.split(".")[0] != after.split(".")[0]  # another kid in the header


def test_demo_request_prints_how_to_sign_in_as_each_role(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "seed"
    seeded = cli.invoke(
        app, ["seed", "--insured", "200", "--professionals", "20", "--out", str(out)]
    )
    assert seeded.exit_code == 0, seeded.output
    first = cli.invoke(app, ["demo-request", "--seed-dir", str(out)])
    assert first.exit_code == 0, first.output
    for role in ("mutuelle_admin", "security_officer", "dpo", "professionnel", "assuré"):
        assert role in first.output, role
    assert "secret TOTP" in first.output and "/auth/oidc/start" in first.output
    again = cli.invoke(app, ["demo-request", "--seed-dir", str(out)])
    assert again.exit_code == 0  # demo accounts are reset, not duplicated
    passwords = re.findall(r"mot de passe (\S+)", first.output + again.output)
    assert len(passwords) == 6 and len(set(passwords)) == 6


def test_the_demo_credentials_sign_in_each_role(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "seed"
    cli.invoke(app, ["seed", "--insured", "200", "--professionals", "20", "--out", str(out)])
    printed = cli.invoke(app, ["demo-request", "--seed-dir", str(out)]).output
    settings = Settings().model_copy(update={"public_url": BASE})
    runtime = open_runtime(settings, pool_size=2)
    try:
        for role, email, password, secret in re.findall(
            r"(\w+) : (\S+@\S+) / mot de passe (\S+) / secret TOTP (\S+)", printed
        ):
            with TestClient(create_app(runtime), base_url=BASE) as client:
                page = client.get("/auth/login")
                form = {"email": email, "password": password, "csrf": field(page.text, "csrf")}
                assert client.post("/auth/login", data=form).status_code == 200
                page = client.get("/auth/second-factor")
                code = pyotp.TOTP(secret).now()
                home = client.post(
                    "/auth/second-factor", data={"code": code, "csrf": field(page.text, "csrf")}
                )
                assert home.status_code == 200 and "Accueil" in home.text, role
        rpps = re.search(r"onglet professionnel, RPPS (\d{11})", printed)
        insured = re.search(r"NIR (\S+), né\(e\) le (\S+), rang (\d)", printed)
        assert rpps and insured
        for fields in (
            {"kind": "professional", "rpps": rpps.group(1)},
            {
                "kind": "insured",
                "nir": insured.group(1),
                "birth_date": insured.group(2),
                "rank": insured.group(3),
            },
        ):
            with TestClient(create_app(runtime), base_url=BASE) as client:
                start = client.get("/auth/oidc/start", follow_redirects=False)
                query = urllib.parse.urlsplit(start.headers["location"]).query
                params = dict(urllib.parse.parse_qsl(query))
                page = client.get("/oauth/authorize", params=params)
                form = {**params, "csrf": field(page.text, "csrf"), **fields}
                home = client.post("/oauth/authorize", data=form)
                assert home.status_code == 200 and "Accueil" in home.text, fields["kind"]
    finally:
        runtime.engine.dispose()
