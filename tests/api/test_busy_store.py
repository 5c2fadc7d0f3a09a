"""A store busy elsewhere (a SQLite import holds the write lock): estimates and agreements get a
prompt 503 with Retry-After (each must write its access-log entry), never a hang or a 500."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tests.factories import ALICE, load_people, professional_token, request
from vigie.api.app import create_app
from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.runtime import Runtime, open_runtime


@pytest.fixture
def busy_client(
    tmp_path: Path, sqlite_store: str
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    keys = tmp_path / "keys.json"
    keyfile.save(keyfile.generate(), keys)
    settings = Settings(database_url=sqlite_store, keys=keys, token_cache_seconds=60)
    runtime = open_runtime(settings, pool_size=2, wait_seconds=0.2)
    load_people(runtime)
    auth = {"Authorization": f"Bearer {professional_token(runtime)}"}
    with TestClient(create_app(runtime)) as client:
        yield client, auth, str(make_url(sqlite_store).database)
    runtime.engine.dispose()


def test_requests_get_503_while_the_log_cannot_be_written(
    busy_client: tuple[TestClient, dict[str, str], str],
) -> None:
    client, auth, path = busy_client
    assert client.post("/v1/eligibility", json=request(ALICE), headers=auth).status_code == 200
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, as an import does
    try:
        estimate = client.post("/v1/eligibility", json=request(ALICE), headers=auth)
        assert estimate.status_code == 503 and estimate.headers["retry-after"] == "1"
        agree = client.post("/v1/eligibility", json=request(ALICE, mode="agree"), headers=auth)
        assert agree.status_code == 503 and agree.headers["retry-after"] == "1"
        assert agree.json()["error"] == 503
    finally:
        other.execute("ROLLBACK")
        other.close()
    agree = client.post("/v1/eligibility", json=request(ALICE, mode="agree"), headers=auth)
    assert agree.status_code == 200 and agree.json()["agreement"]


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
@pytest.mark.parametrize("mode", ["estimate", "agree"])
def test_postgresql_out_of_the_loop_s_reach_gets_a_prompt_503(runtime: Runtime, mode: str) -> None:
    load_people(runtime)
    auth = {"Authorization": f"Bearer {professional_token(runtime)}"}
    app = create_app(runtime)
    loop = app.state.services.loop
    assert loop is not None  # PostgreSQL: card questions are the pools' coroutines
    for options in loop._pool_options.values():  # nothing listens there
        options.update(conninfo="postgresql://postgres@127.0.0.1:1/vigie", timeout=0.5)
    body = request(ALICE, mode=mode)
    with TestClient(app) as client:
        client.post("/v1/eligibility", json=body, headers=auth)  # meets the plan (agree)
        started = time.monotonic()
        answer = client.post("/v1/eligibility", json=body, headers=auth)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert time.monotonic() - started < 5
