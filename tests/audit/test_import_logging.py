"""Each rights or plans import is one access-log entry, committed with the import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.factories import ALICE, BOB, PLANS, rights_csv
from vigie.cli.main import app
from vigie.crypto import keyfile


def test_each_import_is_one_entry(
    tmp_path: Path, sqlite_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_KEYS", str(tmp_path / "keys.json"))
    monkeypatch.setenv("VIGIE_DATABASE_URL", sqlite_store)
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps(PLANS), encoding="utf-8")
    rights = tmp_path / "rights.csv"
    rights.write_text(rights_csv(ALICE, BOB), encoding="utf-8")
    assert runner.invoke(app, ["import", "plans", str(plans)]).exit_code == 0
    assert runner.invoke(app, ["import", "rights", str(rights)]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("amc\n1\n", encoding="utf-8")
    assert runner.invoke(app, ["import", "rights", str(bad)]).exit_code != 0
    engine = create_engine(sqlite_store)
    with engine.connect() as conn:
        rows = list(conn.execute(text("SELECT kind, outcome, detail FROM access_log ORDER BY id")))
    engine.dispose()
    assert [(r.kind, r.outcome) for r in rows] == [("import", "ok"), ("import", "ok")]
    assert '"file":"plans"' in rows[0].detail and '"file":"rights"' in rows[1].detail
    assert '"created":2' in rows[1].detail and ALICE.nir not in rows[1].detail


def test_keys_init_adds_audit_keys_to_an_old_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.json"
    old = keyfile.generate()
    old.audit = None
    keyfile.save(old, path)
    monkeypatch.setenv("VIGIE_KEYS", str(path))
    assert CliRunner().invoke(app, ["keys", "init"]).exit_code == 0
    loaded = keyfile.load(path)
    assert loaded.audit is not None and loaded.master_keys == old.master_keys
