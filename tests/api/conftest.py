from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.factories import load_people, professional_token
from vigie.api.app import create_app
from vigie.runtime import Runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    load_people(runtime)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def auth(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {professional_token(runtime)}"}
