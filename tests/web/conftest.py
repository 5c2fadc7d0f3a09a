"""A portal client over HTTPS (session cookies are Secure by default) and staff accounts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.db.engine import write_transaction
from vigie.identity.users import add_user
from vigie.runtime import Runtime

PASSWORD = "Correct-Horse-42-battery"
BASE = "https://testserver"


@pytest.fixture
def portal(runtime: Runtime) -> Iterator[TestClient]:
    runtime.settings = runtime.settings.model_copy(update={"public_url": BASE})
    with TestClient(create_app(runtime), base_url=BASE, raise_server_exceptions=False) as client:
        yield client


def add_staff(runtime: Runtime, email: str, role: str, amcs: list[str] | None = None) -> int:
    with write_transaction(runtime.engine) as conn:
        return add_user(conn, email=email, role=role, password=PASSWORD, amcs=amcs)


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> int:
    """Post the login form (with its CSRF token); returns the status (303 when accepted)."""
    page = client.get("/auth/login")
    form = {"email": email, "password": password, "csrf": field(page.text, "csrf")}
    return client.post("/auth/login", data=form, follow_redirects=False).status_code


def enrol(client: TestClient, at: float | None = None) -> tuple[str, list[str]]:
    """First sign-in: read the TOTP secret, confirm it (with the code of time ``at``, default
    now); returns it and the recovery codes."""
    page = client.get("/auth/enrol")
    secret_match = re.search(r'id="secret">([A-Z2-7]+)<', page.text)
    assert secret_match
    secret = secret_match.group(1)
    code = pyotp.TOTP(secret).at(time.time() if at is None else at)
    done = client.post("/auth/enrol", data={"code": code, "csrf": field(page.text, "csrf")})
    assert done.status_code == 200, done.text
    return secret, re.findall(r"<li><code>([0-9a-f-]+)</code></li>", done.text)


def session_csrf(client: TestClient) -> str:
    return field(client.get("/portal").text, "csrf")
