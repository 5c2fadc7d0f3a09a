"""The vigie command: keys, imports (all-or-nothing), seed, professionals and tokens."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.factories import ALICE, BOB, PLANS, RPPS, rights_csv
from vigie.cli.main import app


@pytest.fixture
def cli(tmp_path: Path, sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIE_KEYS", str(tmp_path / "keys.json"))
    monkeypatch.setenv("VIGIE_DATABASE_URL", sqlite_store)
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    return runner


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_keys_init_creates_a_private_file_once(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert path.stat().st_mode & 0o777 == 0o600
    content = path.read_text()
    result = cli.invoke(app, ["keys", "init"])
    assert result.exit_code == 0 and path.read_text() == content


def test_imports_then_token_then_revoke(cli: CliRunner, tmp_path: Path) -> None:
    plans = write(tmp_path, "plans.json", json.dumps(PLANS))
    rights = write(tmp_path, "rights.csv", rights_csv(ALICE, BOB))
    assert "2 créé(s)" in cli.invoke(app, ["import", "plans", str(plans)]).output
    assert "2 créé(s)" in cli.invoke(app, ["import", "rights", str(rights)]).output
    assert "2 inchangé(s)" in cli.invoke(app, ["import", "rights", str(rights)]).output
    added = cli.invoke(
        app,
        ["professional", "add", "--rpps", RPPS, "--profession", "optician", "--postcode", "69003"],
    )
    assert added.exit_code == 0, added.output
    issued = cli.invoke(app, ["token", "issue", "--rpps", RPPS])
    assert issued.exit_code == 0
    token = issued.stdout.strip()
    assert len(token.split()) == 1 and token.count(".") == 2  # a compact JWT, alone
    assert "1 jeton(s) révoqué(s)" in cli.invoke(app, ["token", "revoke", "--rpps", RPPS]).output


def test_a_bad_rights_file_is_reported_and_changes_nothing(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(app, ["import", "plans", str(write(tmp_path, "plans.json", json.dumps(PLANS)))])
    bad = rights_csv(ALICE, BOB).replace(BOB.nir, BOB.nir[:-2] + "00")
    result = cli.invoke(app, ["import", "rights", str(write(tmp_path, "bad.csv", bad))])
    assert result.exit_code == 1
    assert "ligne 3 : NIR invalide" in result.output and "rien n'a été modifié" in result.output
    assert BOB.nir[:13] not in result.output
    good = cli.invoke(app, ["import", "rights", str(write(tmp_path, "ok.csv", rights_csv(ALICE)))])
    assert "1 créé(s)" in good.output


def test_non_utf8_file_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(app, ["import", "plans", str(write(tmp_path, "plans.json", json.dumps(PLANS)))])
    path = tmp_path / "latin1.csv"
    path.write_bytes(rights_csv(ALICE).replace("Alice", "Aliçe").encode("latin-1"))
    result = cli.invoke(app, ["import", "rights", str(path)])
    assert result.exit_code == 1 and "UTF-8" in result.output


def test_bad_professional_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(
        app,
        [
            "professional",
            "add",
            "--rpps",
            "12345678901",
            "--profession",
            "pharmacist",
            "--postcode",
            "75011",
        ],
    )
    assert result.exit_code == 1 and "RPPS invalide" in result.output
    result = cli.invoke(app, ["token", "issue", "--rpps", RPPS])
    assert result.exit_code == 1 and "inconnu" in result.output


def test_seed_writes_and_imports_a_population(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "seed"
    result = cli.invoke(
        app, ["seed", "--insured", "300", "--professionals", "20", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "300 créé(s)" in result.output and "professionnels : 20" in result.output
    assert {p.name for p in out.iterdir()} == {"plans.json", "rights.csv", "professionals.csv"}


def test_missing_key_file_is_a_clear_error(tmp_path: Path, sqlite_store: str) -> None:
    env = {"VIGIE_KEYS": str(tmp_path / "none.json"), "VIGIE_DATABASE_URL": sqlite_store}
    result = CliRunner().invoke(app, ["token", "issue", "--rpps", RPPS], env={**os.environ, **env})
    assert result.exit_code == 1 and "vigie keys init" in result.output


def test_rotate_from_the_command_line(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(app, ["import", "plans", str(write(tmp_path, "plans.json", json.dumps(PLANS)))])
    cli.invoke(app, ["import", "rights", str(write(tmp_path, "r.csv", rights_csv(ALICE, BOB)))])
    result = cli.invoke(app, ["keys", "rotate"])
    assert result.exit_code == 0 and "2 enregistrements re-chiffrés" in result.output
