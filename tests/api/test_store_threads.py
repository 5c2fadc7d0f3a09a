"""Store calls in worker threads (VIGIE_STORE_THREADS=1) answer exactly as on the event loop."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import ALICE, load_people, professional_token, request
from vigie.api.app import create_app
from vigie.config import Settings
from vigie.runtime import Runtime, open_runtime


def test_threaded_store_calls_give_the_same_answer(settings: Settings) -> None:
    answers: list[dict[str, object]] = []
    for threads in (False, True):
        runtime = open_runtime(settings.model_copy(update={"store_threads": threads}), pool_size=2)
        if not answers:
            load_people(runtime)
        auth = {"Authorization": f"Bearer {professional_token(runtime)}"}
        with TestClient(create_app(runtime)) as client:
            assert client.app.state.services.inline is not threads  # type: ignore[attr-defined]
            answers.append(client.post("/v1/eligibility", json=request(ALICE), headers=auth).json())
        runtime.engine.dispose()
    assert answers[0] == answers[1] and answers[0]["eligible"] is True


def test_store_calls_default_to_threads_on_postgresql_only(runtime: Runtime) -> None:
    """Unset, PostgreSQL's calls (which wait on the network) go to threads; SQLite's stay."""
    postgres = runtime.engine.dialect.name == "postgresql"
    default = runtime.settings.model_copy(update={"store_threads": None})
    assert default.store_calls_in_threads(runtime.engine.dialect.name) is postgres
    forced = runtime.settings.model_copy(update={"store_threads": not postgres})
    assert forced.store_calls_in_threads(runtime.engine.dialect.name) is not postgres
    with TestClient(create_app(runtime)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.inline is not runtime.settings.store_calls_in_threads(
            runtime.engine.dialect.name
        )
