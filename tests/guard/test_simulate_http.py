"""vigie simulate --http: the scraping attack, live against a real server (uvicorn, a seeded
SQLite store), slowed by the server's own guard and ended by its suspension; without the guard
the same seconds expose far more people (the figures measure something).

The real thresholds contain this scraper after about five minutes of wall clock (a recorded run
is in docs/guard.md); the suspension test lowers the threshold so that it comes within seconds:
it checks how the live mode meets a suspension, the simulator's own tests check the thresholds."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from rich.console import Console
from typer.testing import CliRunner

from vigie.api.app import create_app
from vigie.cli.main import app as cli
from vigie.cli.professionals import minter
from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.db.engine import write_transaction
from vigie.guard import signals
from vigie.guard.engine import Alert
from vigie.guard.features import Caller
from vigie.guard.service import save_suspension
from vigie.guard.simulation import http as live
from vigie.guard.simulation import report
from vigie.guard.simulation.report import EXPOSED_TARGET
from vigie.identity.service import find_professional
from vigie.runtime import Runtime, open_runtime

VIGIE = str(Path(sys.executable).with_name("vigie"))


@pytest.fixture
def seeded(tmp_path: Path, sqlite_store: str) -> tuple[Settings, Path]:
    """A small synthetic population, written and imported by `vigie seed` (SQLite only: the
    live mode sees the server, not its store)."""
    keys = tmp_path / "keys.json"
    keyfile.save(keyfile.generate(), keys)
    chosen = Settings(database_url=sqlite_store, keys=keys, token_cache_seconds=0)
    env = {**os.environ, "VIGIE_KEYS": str(keys), "VIGIE_DATABASE_URL": sqlite_store}
    out = tmp_path / "seed"
    subprocess.run(
        [VIGIE, "seed", "--insured", "3000", "--professionals", "120", "--out", str(out)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return chosen, out


def _serve(seeded: tuple[Settings, Path], guard: bool) -> Iterator[tuple[str, Runtime, Path]]:
    """The application under uvicorn on a free port, the guard on or off."""
    settings, seed_dir = seeded
    runtime = open_runtime(settings.model_copy(update={"guard": guard}), pool_size=2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", runtime, seed_dir
    finally:
        server.should_exit = True
        thread.join(10)
        runtime.engine.dispose()


@pytest.fixture
def guarded(seeded: tuple[Settings, Path]) -> Iterator[tuple[str, Runtime, Path]]:
    yield from _serve(seeded, guard=True)


@pytest.fixture
def unguarded(seeded: tuple[Settings, Path]) -> Iterator[tuple[str, Runtime, Path]]:
    yield from _serve(seeded, guard=False)


def _scrape(
    url: str, runtime: Runtime, seed_dir: Path, seconds: float, rng: int = 5
) -> tuple[live.Outcome, live.Attack]:
    seed = live.Seed.read(seed_dir, date.today())
    chosen = live.attacks(seed, date.today(), random.Random(rng), "a", "test")
    outcomes, _elapsed = live.run(live.Server(url), minter(runtime, 10), chosen, seconds)
    return outcomes[0], chosen[0]


def test_the_live_scraper_is_slowed_by_the_servers_guard(
    guarded: tuple[str, Runtime, Path],
) -> None:
    outcome, _attack = _scrape(*guarded, seconds=30)
    assert outcome.throttled >= 2  # the minute quota, then Retry-After, respected
    assert 1 <= len(outcome.exposed) <= 6 + 30 // 10, outcome.result()
    assert outcome.stopped == "temps écoulé" and not outcome.result()["met"]


def test_without_the_guard_the_same_scraper_goes_on(
    unguarded: tuple[str, Runtime, Path],
) -> None:
    outcome, _attack = _scrape(*unguarded, seconds=3)
    assert outcome.stopped == "temps écoulé" and outcome.contained_after is None
    assert outcome.throttled == 0
    assert len(outcome.exposed) > 10 * EXPOSED_TARGET["a"]


def test_a_suspension_ends_the_attack_and_times_it(
    guarded: tuple[str, Runtime, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signals, "SUSPEND_AT", 4)  # two quota refusals (4 points) suffice
    outcome, _attack = _scrape(*guarded, seconds=120)
    result = outcome.result()
    assert outcome.stopped == "compte suspendu", result
    assert result["contained_accounts"] == 1 and 0 < result["containment_s_max"] < 120
    assert result["met"] and outcome.throttled >= 1


def test_an_account_suspended_before_the_run_is_passed_over(
    guarded: tuple[str, Runtime, Path],
) -> None:
    url, runtime, seed_dir = guarded
    seed = live.Seed.read(seed_dir, date.today())
    first = live.attacks(seed, date.today(), random.Random(5), "a", "test")[0].candidates[0]
    with write_transaction(runtime.engine) as conn:
        found = find_professional(conn, first)
        assert found is not None
        caller = Caller(found.id, f"rpps:{first}", found.profession, "75", None)
        save_suspension(conn, Alert(caller, time.time(), 9, 7, ()))
    outcome, attack = _scrape(url, runtime, seed_dir, seconds=3)
    assert outcome.rpps == attack.candidates[1] != first
    assert outcome.asked >= 1 and outcome.contained_after is None


def test_the_command_refuses_attacks_that_need_the_simulated_clock(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--http", "http://127.0.0.1:9", "--only", "b", "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "horloge simulée" in result.output


def test_a_bad_server_address_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--http", "ftp:/nowhere", "--seed-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "adresse de serveur invalide" in result.output


class Scripted(live.Server):
    """Answers from a script, in order: (status, body, Retry-After)."""

    def __init__(self, answers: list[tuple[int, dict[str, object], float]]) -> None:
        super().__init__("http://127.0.0.1:9")
        self.answers = answers
        self.tokens: list[str] = []

    def connect(self) -> Any:
        return Closable()

    def ask(self, conn: Any, token: str, device: str, body: dict[str, Any]) -> Any:  # type: ignore[override]
        self.tokens.append(token)
        return self.answers.pop(0)


class Closable:
    def close(self) -> None:
        pass


def _attack(candidates: list[str]) -> live.Attack:
    person = live.Person("123456789", "M1", "285047512301164", "1985-04-12", 1)
    return live.Attack(
        "d",
        candidates,
        "sim/test",
        lambda: (person.question(date.today(), cardless=True), person.nir),
        0.0,
    )


def test_a_spent_day_quota_holds_the_attack_past_the_run() -> None:
    minted = iter(f"token-{i}" for i in range(10))
    server = Scripted([
        (200, {"eligible": True}, 0.0),
        (503, {"reason": None}, 0.01),  # the store away a moment: asked again, not fatal
        (401, {"reason": "step_up_required"}, 0.0),
        (200, {"eligible": False}, 0.0),
        (429, {"reason": "quota_exceeded"}, 7_200.0),
    ])  # fmt: skip
    outcome = _attack(["10000000009"]).run(
        server, lambda _rpps: next(minted), time.monotonic() + 60
    )
    result = outcome.result()
    assert result["contained_by"] == "quota" and result["met"] and result["exposed"] == 1
    assert (outcome.asked, outcome.step_ups, outcome.throttled) == (5, 1, 1)
    assert server.tokens == ["token-0"] * 3 + ["token-1"] * 2  # a fresh one after the 401


def test_a_suspended_first_account_is_skipped_and_a_repeated_step_up_is_an_error() -> None:
    server = Scripted([
        (403, {"reason": "account_suspended"}, 0.0),
        (401, {"reason": "step_up_required"}, 0.0),
        (401, {"reason": "step_up_required"}, 0.0),
    ])  # fmt: skip
    with pytest.raises(live.ServerError, match="401 step_up_required"):
        _attack(["1", "2"]).run(server, lambda rpps: f"t{rpps}", time.monotonic() + 60)
    assert server.tokens == ["t1", "t2", "t2"]


def test_every_account_suspended_already_is_a_clear_error() -> None:
    server = Scripted([(403, {"reason": "account_suspended"}, 0.0)] * 2)
    with pytest.raises(live.ServerError, match="déjà suspendus"):
        _attack(["1", "2"]).run(server, lambda rpps: rpps, time.monotonic() + 60)


def test_the_report_names_every_scenario_not_played(tmp_path: Path) -> None:
    outcome = live.Outcome("e", "10000000009", asked=4, contained_after=180.0)
    outcome.contained_by = "quota"
    outcome.exposed.add("285047512301164")  # a NIR the attacker was answered about
    data = live.results([outcome], 180.0, 600.0, 1)
    assert [s["scenario"] for s in data["scenarios"]] == ["e"]
    assert set(data["not_run"]) == {"a", "d", "b", "c", "honest"}
    assert "non demandé" in data["not_run"]["a"] and "horloge simulée" in data["not_run"]["b"]
    json_path, png_path = report.write(data, tmp_path, Console(file=None, quiet=True))
    written = json_path.read_text(encoding="utf-8")
    assert "10000000009" not in written and "285047512301164" not in written  # counts only
    assert data["scenarios"][0]["exposed"] == 1
    assert png_path.read_bytes()[:4] == b"\x89PNG"
