"""The stores under test: a fresh SQLite file and a fresh PostgreSQL database, each with its own
key file, filled through Vigie's own command line (``vigie keys init``, ``vigie import …``)."""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
VIGIE = str(Path(sys.executable).with_name("vigie"))


class StoreError(RuntimeError):
    """A vigie command failed while building a store."""


@dataclass
class Store:
    """One database and its key file; `env` is what every vigie process for it needs."""

    name: str
    url: str
    keys: Path
    timings: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    token: str = ""

    @property
    def env(self) -> dict[str, str]:
        # The HTTP scenarios send thousands of questions a second under one account: exactly
        # what the guard stops. They measure the store without it; bench.guard measures the
        # guard's cost on the same bodies, with and without it, in the same run.
        return {
            **os.environ,
            "VIGIE_KEYS": str(self.keys),
            "VIGIE_DATABASE_URL": self.url,
            "VIGIE_GUARD": "false",
        }

    def vigie(self, *args: str, timing: str | None = None) -> str:
        """Run ``vigie ARGS`` against this store; its standard output, or StoreError.

        With `timing`, the wall clock and the CPU time (user + system) of the command are kept
        under that name.
        """
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [VIGIE, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise StoreError(
                f"{self.name} : 'vigie {' '.join(args)}' a échoué (code {done.returncode}) :\n"
                f"{(done.stderr + done.stdout).strip()[-2000:]}"
            )
        if timing:
            self.timings[timing] = elapsed
            self.cpu[timing] = (after.ru_utime - before.ru_utime) + (
                after.ru_stime - before.ru_stime
            )
        return done.stdout


def sqlite_store(workdir: Path, name: str) -> Store:
    folder = workdir / name
    folder.mkdir(parents=True)
    return Store(name, f"sqlite:///{folder / 'vigie.db'}", folder / "keys.json")


def postgres_store(workdir: Path, name: str, admin_url: str, database: str) -> Store:
    """A PostgreSQL store on `database`, dropped (if present) and created again, empty."""
    reset_database(admin_url, database)
    folder = workdir / name
    folder.mkdir(parents=True)
    url = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    return Store(name, url, folder / "keys.json")


def _libpq(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def reset_database(admin_url: str, database: str) -> None:
    """DROP DATABASE (closing its sessions) and CREATE DATABASE, through the admin connection."""
    if database == make_url(admin_url).database:
        raise StoreError(f"refus de supprimer la base d'administration '{database}'")
    try:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            name = sql.Identifier(database)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.Error as exc:
        raise StoreError(
            f"PostgreSQL ({without_password(admin_url)}) : impossible de recréer "
            f"'{database}' : {exc}"
        ) from exc


def recorded_url(store: Store) -> str:
    """The store's URL as the results keep it: no password, and its bench folder named rather
    than its path on the machine that ran it."""
    return without_password(store.url).replace(str(store.keys.parent.parent), "WORKDIR")


def without_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def server_version(admin_url: str) -> str:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else ""


def sessions(admin_url: str, database: str) -> int | None:
    """Connections ever opened to `database` (pg_stat_database.sessions, PostgreSQL 14+)."""
    try:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s", (database,)
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row and row[0] is not None else None


def generate_population(out: Path, *, insured: int, professionals: int) -> float:
    """``vigie seed --no-load``: the files only; the seconds it took."""
    started = time.perf_counter()
    done = subprocess.run(
        [VIGIE, "seed", "--insured", str(insured), "--professionals", str(professionals),
         "--out", str(out), "--no-load"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise StoreError(f"'vigie seed' a échoué :\n{(done.stderr + done.stdout)[-2000:]}")
    return time.perf_counter() - started


def load_population(store: Store, seed_dir: Path) -> None:
    """Key file, plans, rights and professionals, then a token for one pharmacist."""
    store.vigie("keys", "init", timing="keys_init")
    store.vigie("import", "plans", str(seed_dir / "plans.json"), timing="import_plans")
    store.vigie("import", "rights", str(seed_dir / "rights.csv"), timing="import_rights")
    store.vigie(
        "import", "professionals", str(seed_dir / "professionals.csv"), timing="import_pros"
    )
    rpps = first_professional(seed_dir / "professionals.csv", "pharmacist")
    # The longest a development token lives: a benchmark of every store may last hours.
    store.token = store.vigie(
        "token", "issue", "--rpps", rpps, "--minutes", "720", timing="token_issue"
    ).strip()
    if not store.token:
        raise StoreError(f"{store.name} : 'vigie token issue' n'a rien écrit")


def first_professional(path: Path, profession: str) -> str:
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        if row["profession"] == profession:
            return row["rpps"]
    if rows:
        return rows[0]["rpps"]
    raise StoreError(f"aucun professionnel dans {path}")
