"""Questions answered concurrently by one server process (on SQLite they share a group commit,
on PostgreSQL their database waits overlap on the event loop): every one answered and logged,
and two agreements racing for one equipment cannot both consume it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select
from starlette.types import ASGIApp, Message

from tests.factories import ALICE, BOB, GLASSES, load_people, professional_token, request
from vigie.api.app import create_app
from vigie.audit.models import LogEntry
from vigie.db.engine import read_transaction
from vigie.eligibility.models import Agreement
from vigie.runtime import Runtime


def _count(runtime: Runtime, column: Any) -> int:
    with read_transaction(runtime.engine) as conn:
        return int(conn.execute(select(func.count(column))).scalar_one())


@dataclass
class Answer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _post(app: ASGIApp, body: dict[str, Any], token: str) -> Answer:
    """One POST /v1/eligibility straight through the ASGI application."""
    content = json.dumps(body).encode()
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/eligibility", "raw_path": b"/v1/eligibility",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("vigie", 80),
    }  # fmt: skip
    sent = False
    status, chunks = 0, []

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # no disconnect while the answer is on its way
        sent = True
        return {"type": "http.request", "body": content, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Answer(status, b"".join(chunks))


async def _ask_together(
    runtime: Runtime,
    bodies: list[dict[str, Any]],
    in_use: list[int] | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> list[Answer]:
    """``in_use``: on PostgreSQL, filled with the loop's connections in use over time (its
    pools' statements, and its engines' checkouts)."""
    app = create_app(runtime)
    loop = app.state.services.loop
    if loop is not None and in_use is not None and monkeypatch is not None:
        count = [0]

        def moved(step: int) -> Any:
            def listener(*_args: Any) -> None:
                count[0] += step
                in_use.append(count[0])

            return listener

        for engine in (loop.main, loop.estimates):
            event.listen(engine, "checkout", moved(1))
            event.listen(engine, "checkin", moved(-1))
        fetch = loop.fetch

        async def counted(*args: Any) -> Any:
            moved(1)()
            try:
                return await fetch(*args)
            finally:
                moved(-1)()

        monkeypatch.setattr(loop, "fetch", counted)
    token = professional_token(runtime)
    try:
        # The first question verifies the token; the others then take the fast lane together.
        first = await _post(app, request(ALICE), token)
        assert first.status_code == 200
        return list(await asyncio.gather(*(_post(app, b, token) for b in bodies)))
    finally:  # no lifespan here: the loop's connections are closed on the loop that opened them
        if loop is not None:
            await loop.dispose()


def test_concurrent_questions_are_all_answered_and_logged(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_people(runtime)
    bodies = [request(p, mode=m) for p in (ALICE, BOB) for m in ("estimate", "agree")] * 6
    logged = _count(runtime, LogEntry.id)
    commits: list[int] = []
    event.listen(runtime.engine, "commit", lambda _conn: commits.append(1))
    in_use: list[int] = []
    answers = asyncio.run(_ask_together(runtime, bodies, in_use, monkeypatch))
    assert [a.status_code for a in answers] == [200] * len(bodies)
    numbers = [a.json()["agreement"] for a in answers if a.json()["agreement"]]
    assert len(numbers) == len(set(numbers)) == 12  # each agreement its own number
    assert _count(runtime, Agreement.id) == 12
    assert _count(runtime, LogEntry.id) == logged + 1 + len(bodies)
    if runtime.engine.dialect.name == "sqlite":  # questions of one loop turn: one COMMIT
        assert len(commits) < len(bodies) / 2, commits
    else:  # each waits for PostgreSQL on its own connection while the others go on
        assert max(in_use) > 1, in_use


def test_two_racing_agreements_for_one_equipment_pay_it_once(runtime: Runtime) -> None:
    load_people(runtime)
    glasses = request(ALICE, mode="agree", day="2025-01-10", lines=[GLASSES])
    answers = asyncio.run(_ask_together(runtime, [glasses, glasses, glasses]))
    paid = [a.json()["lines"][0]["amc"] for a in answers]
    assert sorted(paid) == ["0.00", "0.00", "250.00"], paid  # one equipment per period
    reasons = {a.json()["lines"][0]["reason"] for a in answers if a.json()["agreement"] is None}
    assert reasons == {"renewal_period"}
