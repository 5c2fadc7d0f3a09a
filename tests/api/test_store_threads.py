"""Where store calls run: on the event loop, in worker threads (VIGIE_STORE_THREADS=1), or, by
default on PostgreSQL, waiting on the event loop through asyncio connections; same answers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import ALICE, load_people, professional_token, request
from vigie.api.app import create_app
from vigie.config import Settings
from vigie.runtime import Runtime, open_runtime


def test_threaded_store_calls_give_the_same_answer(settings: Settings) -> None:
    answers: list[dict[str, object]] = []
    for threads in (False, True, None):
        runtime = open_runtime(settings.model_copy(update={"store_threads": threads}), pool_size=2)
        if not answers:
            load_people(runtime)
        auth = {"Authorization": f"Bearer {professional_token(runtime)}"}
        with TestClient(create_app(runtime)) as client:
            services = client.app.state.services  # type: ignore[attr-defined]
            if threads is not None:
                assert services.inline is not threads and services.loop is None
            for mode in ("estimate", "agree"):
                answer = client.post(
                    "/v1/eligibility", json=request(ALICE, mode=mode), headers=auth
                ).json()
                answer["agreement"] = answer["agreement"] is not None  # a new number each time
                answers.append(answer)
        runtime.engine.dispose()
    assert answers[0]["eligible"] is True and answers[1]["agreement"] is True
    assert answers[0:2] == answers[2:4] == answers[4:6]


def test_store_calls_default_to_the_loop_engines_on_postgresql_only(runtime: Runtime) -> None:
    """Unset, PostgreSQL's eligibility questions wait on the event loop (asyncio connections)
    and its rarer calls go to threads; SQLite's calls stay on the loop."""
    postgres = runtime.engine.dialect.name == "postgresql"
    default = runtime.settings.model_copy(update={"store_threads": None})
    assert default.store_calls_in_threads(runtime.engine.dialect.name) is postgres
    forced = runtime.settings.model_copy(update={"store_threads": not postgres})
    assert forced.store_calls_in_threads(runtime.engine.dialect.name) is not postgres
    assert default.loop_engines(runtime.engine.dialect.name) is postgres
    assert not forced.loop_engines(runtime.engine.dialect.name)
    with TestClient(create_app(runtime)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.inline is not runtime.settings.store_calls_in_threads(
            runtime.engine.dialect.name
        )
        assert (services.loop is not None) is runtime.settings.loop_engines(
            runtime.engine.dialect.name
        )
        if services.loop is not None:  # sized for the questions in flight, not the threads
            for engine in (services.loop.main, services.loop.estimates):
                assert engine.pool.size() == runtime.settings.db_loop_pool
