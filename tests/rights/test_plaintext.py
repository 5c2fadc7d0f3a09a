"""A stolen copy of the database reveals no NIR, surname or member number (SQLite file, pg_dump)."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from vigie.db.engine import write_transaction
from vigie.rights.importer import import_rights
from vigie.rights.plans import apply_plans, parse_plans_file
from vigie.runtime import Runtime
from vigie.synthetic.population import write_population


def _seed(rt: Runtime, out: Path) -> set[str]:
    files = write_population(out, insured=400, professionals=5, seed=7)
    with write_transaction(rt.engine) as conn:
        apply_plans(conn, parse_plans_file(files.plans.read_text(encoding="utf-8")))
        with files.rights.open(encoding="utf-8", newline="") as stream:
            import_rights(conn, rt.keyring, stream)
    secrets: set[str] = set()
    with files.rights.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            secrets.add(row["nir"])
            secrets.add(row["member"])
            # Short names could occur by chance in ciphertext; six letters or more cannot.
            if len(row["last_name"]) >= 6:
                secrets.add(row["last_name"])
    return secrets


def _dump(rt: Runtime, tmp_path: Path) -> bytes:
    url = make_url(rt.settings.database_url)
    if url.get_backend_name() == "sqlite":
        with rt.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        rt.engine.dispose()
        database = Path(str(url.database))
        return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed for this test (postgresql-client)")
    command = [
        pg_dump,
        "-h",
        str(url.host),
        "-p",
        str(url.port or 5432),
        "-U",
        str(url.username),
        str(url.database),
    ]
    return subprocess.run(command, check=True, capture_output=True).stdout


def test_a_copy_of_the_database_reveals_no_identity(runtime: Runtime, tmp_path: Path) -> None:
    secrets = _seed(runtime, tmp_path / "seed")
    with runtime.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM beneficiaries")).scalar_one() == 400
    dump = _dump(runtime, tmp_path)
    assert len(dump) > 10_000
    leaked = sorted(s for s in secrets if s.encode() in dump)
    assert leaked == [], f"{len(leaked)} identifiers found in clear"


def test_the_check_itself_sees_plaintext(runtime: Runtime, tmp_path: Path) -> None:
    """Guard against a check that cannot fail: a value written in clear is found."""
    with write_transaction(runtime.engine) as conn:
        conn.execute(
            text("INSERT INTO structures (finess, name) VALUES ('010000001', 'Canari-Sentinelle')")
        )
    assert b"Canari-Sentinelle" in _dump(runtime, tmp_path)
