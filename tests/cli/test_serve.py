"""``vigie serve`` runs the access log's sequencer in a process of its own (``vigie audit
follow``) and stops it after its workers; a server application told so leaves the log alone.
Real processes, a real SQLite store."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.factories import ALICE, load_people, professional_token, request
from vigie.api.app import create_app
from vigie.audit.access import import_event
from vigie.audit.log import record
from vigie.config import Settings
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime, open_runtime

VIGIE = str(Path(sys.executable).with_name("vigie"))


@pytest.fixture
def served(sqlite_store: str, tmp_path: Path) -> Iterator[Runtime]:
    keys = tmp_path / "keys.json"
    settings = Settings(database_url=sqlite_store, keys=keys, guard=False)
    subprocess.run([VIGIE, "keys", "init"], env=_env(settings), check=True, capture_output=True)
    rt = open_runtime(settings, pool_size=2)
    load_people(rt)
    yield rt
    rt.engine.dispose()


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "VIGIE_DATABASE_URL": settings.database_url,
        "VIGIE_KEYS": str(settings.keys),
        "VIGIE_GUARD": "false",
        "VIGIE_AUDIT_HEADS_FILE": str(Path(settings.keys).with_name("heads.jsonl")),
    }


def _heads(rt: Runtime) -> list[int]:
    path = Path(rt.settings.keys).with_name("heads.jsonl")
    lines = path.read_text().splitlines() if path.exists() else []
    return [int(json.loads(line)["tree_size"]) for line in lines]


def _wait(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _followers(keys: Path) -> list[str]:
    """Live supervised ``vigie audit follow`` processes of this store (its key file in the
    environment: several test workers may run servers at once)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--supervised" in argv and f"VIGIE_KEYS={keys}".encode() in environ:
            found.append(pid)
    return found


def _log_one(rt: Runtime) -> None:
    with write_transaction(rt.engine) as conn:
        record(conn, import_event("plans", {"created": 0}, []))


def test_serve_runs_the_sequencer_beside_its_workers_and_stops_it_last(
    served: Runtime, tmp_path: Path
) -> None:
    token = professional_token(served)
    port = _free_port()
    server = subprocess.Popen(
        [VIGIE, "serve", "--port", str(port)], env=_env(served.settings), start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _healthy(base))
        assert len(_followers(served.settings.keys)) == 1
        body = json.dumps(request(ALICE, mode="agree")).encode()
        asked = urllib.request.Request(  # noqa: S310 (local http URL)
            f"{base}/v1/eligibility", body, {"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(asked) as answer:  # noqa: S310 (local http URL)
            assert answer.status == 200
        _wait(lambda: bool(_heads(served)))  # signed by the sequencer's process
        os.killpg(server.pid, signal.SIGTERM)  # as a service manager stops a process group
        assert server.wait(30) == 0
        assert not _followers(served.settings.keys)
        # Stopped after the workers: the last head covers every entry they logged.
        with served.engine.connect() as conn:
            logged = conn.exec_driver_sql("SELECT COUNT(*) FROM access_log").scalar()
        assert _heads(served)[-1] == logged
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


def test_follow_runs_a_last_round_when_stopped(served: Runtime) -> None:
    follower = subprocess.Popen([VIGIE, "audit", "follow"], env=_env(served.settings))
    try:
        _log_one(served)
        _wait(lambda: bool(_heads(served)))
        _log_one(served)
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(30) == 0
        assert _heads(served)[-1] == 2  # the entry of just before the stop has its head
    finally:
        if follower.poll() is None:
            follower.kill()


def test_a_supervised_follower_stops_when_its_input_closes_not_on_signals(
    served: Runtime,
) -> None:
    follower = subprocess.Popen(
        [VIGIE, "audit", "follow", "--supervised"],
        env=_env(served.settings),
        stdin=subprocess.PIPE,
    )
    try:
        _log_one(served)
        _wait(lambda: bool(_heads(served)))
        follower.send_signal(signal.SIGTERM)  # meant for the server: ignored
        follower.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert follower.poll() is None
        _log_one(served)
        assert follower.stdin is not None
        follower.stdin.close()  # what the server does once its workers have stopped
        assert follower.wait(30) == 0
        assert _heads(served)[-1] == 2  # the entry of just before the stop has its head
    finally:
        if follower.poll() is None:
            follower.kill()


@pytest.mark.parametrize("where", ["in-process", "external"])
def test_an_application_sequences_only_when_told_to(served: Runtime, where: str) -> None:
    settings = served.settings.model_copy(update={"audit_sequencer": where})
    rt = Runtime(settings=settings, engine=served.engine, keys=served.keys, keyring=served.keyring)
    auth = {"Authorization": f"Bearer {professional_token(rt)}"}
    with TestClient(create_app(rt)) as client:
        assert client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
        time.sleep(3 * settings.audit_sequence_seconds)
    with served.engine.connect() as conn:
        size = conn.exec_driver_sql("SELECT tree_size FROM audit_state").scalar()
    assert (size or 0) > 0 if where == "in-process" else not size


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/health") as answer:  # noqa: S310 (local)
            return bool(answer.status == 200)
    except OSError:
        return False
