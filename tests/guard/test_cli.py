"""vigie guard alerts / lift: an officer reads why, lifts, and the lift is logged."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from vigie.audit.models import LogEntry
from vigie.cli.main import app
from vigie.config import Settings
from vigie.db.engine import read_transaction, write_transaction
from vigie.guard import service, sharing
from vigie.guard.engine import Alert, Guard
from vigie.guard.features import Caller
from vigie.guard.gcra import MemoryQuotaStore
from vigie.guard.memory import MemoryContainment
from vigie.guard.models import GuardSuspension
from vigie.guard.service import StoreContainment, active_suspensions, save_suspension
from vigie.guard.signals import Signal
from vigie.identity.identifiers import Profession
from vigie.runtime import open_runtime


@pytest.fixture
def cli(tmp_path: Path, sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIGIE_KEYS", str(tmp_path / "keys.json"))
    monkeypatch.setenv("VIGIE_DATABASE_URL", sqlite_store)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    return runner


def test_alerts_then_lift(cli: CliRunner) -> None:
    rt = open_runtime(Settings())
    caller = Caller(7, "rpps:10000000007", Profession.nurse, "69", None)
    signal = Signal("negatifs", 3, 0.71, 0.05, "part de réponses négatives")
    with write_transaction(rt.engine) as conn:
        suspension = save_suspension(conn, Alert(caller, time.time(), 7, 7, (signal,)))
    listed = cli.invoke(app, ["guard", "alerts", "--active"])
    assert listed.exit_code == 0, listed.output
    assert "part de réponses négatives" in listed.output and "en cours" in listed.output
    lifted = cli.invoke(
        app, ["guard", "lift", str(suspension), "--officer", "user:rssi", "--reason", "appel"]
    )
    assert lifted.exit_code == 0, lifted.output
    again = cli.invoke(
        app, ["guard", "lift", str(suspension), "--officer", "user:rssi", "--reason", "appel"]
    )
    assert again.exit_code == 1 and "déjà levée" in again.output
    with read_transaction(rt.engine) as conn:
        assert active_suspensions(conn) == set()
        outcomes = set(conn.execute(select(LogEntry.actor, LogEntry.outcome)))
    assert ("user:rssi", "lift") in outcomes and ("rpps:10000000007", "suspend") in outcomes
    rt.engine.dispose()


def test_a_lift_from_the_command_line_reaches_servers_that_share_their_risk_state(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_REDIS_URL", "redis://127.0.0.1:6379/0")
    rt = open_runtime(Settings())
    caller = Caller(7, "rpps:10000000007", Profession.nurse, "69", None)
    server = Guard(MemoryQuotaStore(), MemoryContainment())
    exchange = sharing.for_deployment(rt.keyring, server, "redis://127.0.0.1:6379/0")
    try:
        server.state(caller).throttled(time.time())  # what the servers know of the account
        with write_transaction(rt.engine) as conn:
            suspension = save_suspension(conn, Alert(caller, time.time(), 7, 7, ()))
        lifted = cli.invoke(
            app, ["guard", "lift", str(suspension), "--officer", "user:rssi", "--reason", "appel"]
        )
        assert lifted.exit_code == 0, lifted.output
        assert "oublié par les serveurs" in lifted.output
        assert exchange.exchange() == 1
        assert server.state(caller).throttle_times == []  # forgotten, as after an API lift
        # Lifted already (its note lost, say): the command says so, and publishes it again.
        again = cli.invoke(
            app, ["guard", "lift", str(suspension), "--officer", "user:rssi", "--reason", "appel"]
        )
        assert again.exit_code == 1 and "déjà levée" in again.output
        assert exchange.exchange() == 1
    finally:
        exchange._client.delete(exchange._key)
        rt.engine.dispose()


def test_a_lift_lifts_every_suspension_the_account_has(cli: CliRunner) -> None:
    """Two server processes that suspended the account before either knew of the other's: one
    lift frees it, and says which other suspensions went with it."""
    rt = open_runtime(Settings())
    caller = Caller(7, "rpps:10000000007", Profession.nurse, "69", None)
    other = Caller(8, "rpps:10000000008", Profession.nurse, "69", None)
    signal = Signal("negatifs", 3, 0.71, 0.05, "part de réponses négatives")
    now = time.time()
    with write_transaction(rt.engine) as conn:
        first, second = (save_suspension(conn, Alert(caller, now + i, 7, 7, (signal,)))
                         for i in range(2))  # fmt: skip
        save_suspension(conn, Alert(other, now, 7, 7, (signal,)))
        later = save_suspension(conn, Alert(caller, now + 3_600, 7, 7, (signal,)))
    lifted = cli.invoke(
        app, ["guard", "lift", str(second), "--officer", "user:rssi", "--reason", "appel"]
    )
    assert lifted.exit_code == 0, lifted.output
    with read_transaction(rt.engine) as conn:
        assert active_suspensions(conn) == {7, 8}  # the other account's, and a later incident
    with write_transaction(rt.engine) as conn:
        assert service.lift(conn, later, officer="user:rssi", reason="appel")[0] == "lifted"
    with read_transaction(rt.engine) as conn:
        assert active_suspensions(conn) == {8}
        details = [d for (d,) in conn.execute(select(LogEntry.detail)) if d and "also" in d]
    assert len(details) == 1 and f'"also":"{first}"' in details[0].replace(" ", "")
    again = cli.invoke(
        app, ["guard", "lift", str(first), "--officer", "user:rssi", "--reason", "appel"]
    )
    assert again.exit_code == 1 and "déjà levée" in again.output
    rt.engine.dispose()


def test_a_process_suspends_an_account_once(cli: CliRunner) -> None:
    """A question in flight when its account was suspended here adds no second suspension."""
    rt = open_runtime(Settings())
    containment = StoreContainment(rt.engine)
    caller = Caller(7, "rpps:10000000007", Profession.nurse, "69", None)
    signal = Signal("negatifs", 3, 0.71, 0.05, "part de réponses négatives")
    for _ in range(2):
        containment.suspend(Alert(caller, time.time(), 7, 7, (signal,)))
    assert containment.is_suspended(7, time.time())
    with read_transaction(rt.engine) as conn:
        assert conn.execute(select(func.count()).select_from(GuardSuspension)).scalar_one() == 1
    rt.engine.dispose()
