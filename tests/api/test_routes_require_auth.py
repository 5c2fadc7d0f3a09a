"""Every route of the application refuses a caller without valid credentials (a bearer JWT or
an active portal session), except the public ones: /health, sign-in and the OIDC endpoints.

The routes are found by walking the application, not listed here: a route added without
authentication makes this test fail.
"""

from __future__ import annotations

import functools
import re
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient
from hypothesis import find
from hypothesis.errors import NoSuchExample
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.factories import professional_token
from tests.identity.forge import forged_tokens
from vigie.api.app import create_app
from vigie.db.engine import write_transaction
from vigie.identity.principal import Role
from vigie.identity.sessions import COOKIE, SessionIdentity, create_session
from vigie.identity.users import add_user
from vigie.runtime import Runtime

PASSWORD = "Correct-Horse-42-battery"
PENDING_LABEL = "pending session cookie"
PUBLIC = {
    ("/health", "GET"),
    # Sign-in: the login form, and the OIDC endpoints through which credentials are obtained.
    ("/auth/login", "GET"),
    ("/auth/login", "POST"),
    ("/auth/webauthn.js", "GET"),  # the login pages' script
    ("/auth/portal.css", "GET"),  # and their style sheet
    ("/auth/oidc/start", "GET"),
    ("/auth/oidc/callback", "GET"),
    ("/.well-known/openid-configuration", "GET"),
    ("/oauth/jwks", "GET"),
    ("/oauth/token", "POST"),
    ("/oauth/authorize", "GET"),
    ("/oauth/authorize", "POST"),
}
# Routes that take the session a correct password opened, before the second factor.
PENDING = {
    ("/auth/second-factor", "GET"),
    ("/auth/second-factor", "POST"),
    ("/auth/enrol", "GET"),
    ("/auth/enrol", "POST"),
    ("/auth/webauthn/authenticate/options", "POST"),
    ("/auth/webauthn/authenticate", "POST"),
}
KNOWN = (
    PUBLIC
    | PENDING
    | {
        ("/openapi.json", "GET"),
        ("/v1/eligibility", "POST"),
        ("/v1/agreements/{agreement}", "DELETE"),
        ("/fhir/CoverageEligibilityRequest", "POST"),
        ("/fhir/CoverageEligibilityRequest/$submit", "POST"),
        ("/v1/admin/plans", "GET"),
        ("/v1/admin/plans", "POST"),
        ("/v1/admin/rights", "POST"),
        ("/auth/step-up", "POST"),
        ("/auth/logout", "POST"),
        ("/portal", "GET"),
        ("/portal/accesses", "GET"),
        ("/v1/guard/alerts", "GET"),
        ("/v1/guard/suspensions/{suspension}/lift", "POST"),
        ("/v1/audit/tree-head", "GET"),
        ("/v1/audit/proofs/inclusion", "GET"),
        ("/v1/audit/proofs/entries/{entry_id}", "GET"),
        ("/v1/audit/proofs/consistency", "GET"),
        ("/v1/audit/my-accesses", "GET"),
        ("/v1/incidents", "POST"),
        ("/v1/incidents/{incident_id}/notification", "GET"),
        ("/v1/incidents/{incident_id}/notification.pdf", "GET"),
    }
)
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
WEBSOCKET = "WEBSOCKET"
# Characters a path segment may hold without escaping.
SEGMENT_ALPHABET = string.ascii_letters + string.digits + "-_.~"
PARAM_RE = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?}")


@dataclass(frozen=True)
class Probe:
    """One method of one route, and a concrete URL that the route matches."""

    template: str
    method: str
    url: str


# --- Walking the application --------------------------------------------------------------------


def _constraints(route: object, name: str) -> tuple[str | None, int | None, int | None]:
    """The FastAPI pattern, min and max length declared for path parameter ``name``, if any."""
    if not isinstance(route, APIRoute):
        return None, None, None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    for param in route.dependant.path_params:
        if param.name != name:
            continue
        for meta in param.field_info.metadata:
            pattern = getattr(meta, "pattern", None) or pattern
            min_length = getattr(meta, "min_length", None) or min_length
            max_length = getattr(meta, "max_length", None) or max_length
    return pattern, min_length, max_length


def plausible_value(route: object, name: str, convertor_regex: str) -> str:
    """A value for path parameter ``name`` that the route and its validation both accept.

    Drawn from the parameter's declared pattern if it has one, else from the path convertor's
    regex; the simplest such value (Hypothesis shrinks it), e.g. ``A000000-000000000000``.
    """
    return _sample(convertor_regex, *_constraints(route, name))


@functools.cache
def _sample(
    convertor_regex: str, pattern: str | None, min_length: int | None, max_length: int | None
) -> str:
    def fits(value: str) -> bool:
        return (
            re.fullmatch(convertor_regex, value) is not None
            and (min_length is None or len(value) >= min_length)
            and (max_length is None or len(value) <= max_length)
            and (pattern is None or re.search(pattern, value) is not None)
        )

    strategy = st.from_regex(pattern or convertor_regex, fullmatch=True, alphabet=SEGMENT_ALPHABET)
    # The simplest value that is not empty, if the route allows one ("{path:path}" allows "").
    try:
        value: str = find(strategy, lambda v: fits(v) and v != "")
    except NoSuchExample:
        value = find(strategy, fits)
    return value


def _fill(template: str, values: dict[str, str]) -> str:
    return PARAM_RE.sub(lambda m: values[m.group(1)], template)


def probes(app: FastAPI) -> list[Probe]:
    """Every method of every route with a path (included routers expanded, at any depth).

    A route without methods (a mount) is probed with every method, at one URL below its prefix.
    """
    found: list[Probe] = []
    for context in iter_route_contexts(app.routes):
        path = context.path
        if path is None:
            continue
        original = context.original_route
        template: str = getattr(context, "path_format", None) or path
        convertors: dict[str, Any] = getattr(context, "param_convertors", None) or {}
        values = {
            name: plausible_value(original, name, convertor.regex)
            for name, convertor in convertors.items()
        }
        url = _fill(template, values)
        regex = getattr(context, "path_regex", None)
        assert regex is None or regex.match(url), (template, url)
        if isinstance(original, WebSocketRoute | APIWebSocketRoute):
            methods: tuple[str, ...] = (WEBSOCKET,)
        else:
            methods = tuple(sorted(context.methods or ALL_METHODS))
        found.extend(Probe(template, method, url) for method in methods)
    return found


# --- Callers ------------------------------------------------------------------------------------


def pending_cookie(runtime: Runtime, stage: str) -> str:
    """A session opened by a correct password, waiting for the second factor (or enrolment)."""
    with write_transaction(runtime.engine) as conn:
        email = f"officer-{uuid.uuid4().hex[:8]}@example.org"
        user = add_user(conn, email=email, role="security_officer", password=PASSWORD)
        identity = SessionIdentity(Role.SECURITY_OFFICER, f"user:{user}", user)
        cookie, _csrf = create_session(conn, runtime.settings, identity, stage=stage)
    return cookie


def refused_headers(runtime: Runtime, valid: str) -> dict[str, dict[str, str]]:
    """Anonymous, malformed, forged and stale credentials; none of them may get through."""
    refused = {
        "anonymous": {},
        "empty header": {"Authorization": ""},
        "scheme only": {"Authorization": "Bearer"},
        "blank token": {"Authorization": "Bearer    "},
        "basic": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        "valid token, other scheme": {"Authorization": f"Token {valid}"},
        "valid token, no scheme": {"Authorization": valid},
        "token with a suffix": {"Authorization": f"Bearer {valid}x"},
        "truncated token": {"Authorization": f"Bearer {valid[:-1]}"},
        "oversized token": {"Authorization": "Bearer " + "A" * 9000},
        "not a token": {"Authorization": "Bearer ' OR 1=1 --"},
        "unknown session cookie": {"Cookie": f"{COOKIE}=" + "A" * 43},
        PENDING_LABEL: {"Cookie": f"{COOKIE}={pending_cookie(runtime, 'second_factor')}"},
    }
    for label, token in forged_tokens(runtime).items():
        refused[label] = {"Authorization": f"Bearer {token}"}
    return refused


# --- Sending ------------------------------------------------------------------------------------


def status_of(client: TestClient, probe: Probe, headers: dict[str, str]) -> int:
    """The HTTP status the route answers; a websocket accepted counts as 101."""
    if probe.method == WEBSOCKET:
        try:
            with client.websocket_connect(probe.url, headers=headers):
                return 101
        except WebSocketDenialResponse as denial:
            return denial.status_code
        except WebSocketDisconnect:
            return 403
    body = b"{}" if probe.method in ("POST", "PUT", "PATCH") else None
    sent = {**headers, "content-type": "application/json"} if body else headers
    return client.request(probe.method, probe.url, content=body, headers=sent).status_code


Leak = tuple[Probe, str, int]


def let_through(
    client: TestClient, found: list[Probe], headers: dict[str, dict[str, str]]
) -> Iterator[Leak]:
    """Each (route, credentials, status) that is not a 401; public routes must just not fail
    (they answer their own errors: a form shown again, an OAuth error), /health is 200."""
    for probe in found:
        for label, sent in headers.items():
            status = status_of(client, probe, sent)
            key = (probe.template, probe.method)
            if key in PENDING and label == PENDING_LABEL:
                continue  # what those routes are for (checked below as valid credentials)
            if key == ("/health", "GET"):
                leaked = status != 200
            elif key in PUBLIC:
                leaked = status >= 500
            else:
                leaked = status != 401
            if leaked:
                yield probe, label, status


# --- Tests --------------------------------------------------------------------------------------


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


def test_walk_finds_every_known_route(app: FastAPI) -> None:
    found = probes(app)
    walked = {(p.template, p.method) for p in found}
    assert walked >= KNOWN, KNOWN - walked
    cancel = next(p for p in found if p.template == "/v1/agreements/{agreement}")
    assert re.fullmatch(r"A\d{6}-[0-9A-Z]{12}", cancel.url.rsplit("/", 1)[1])


def test_every_route_refuses_an_unauthenticated_caller(app: FastAPI, runtime: Runtime) -> None:
    found = probes(app)
    assert len({(p.template, p.method) for p in found}) >= len(KNOWN)
    valid = professional_token(runtime)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert list(let_through(client, found, refused_headers(runtime, valid))) == []
        for probe in found:
            # The same request with valid credentials gets past authentication, and past routing:
            # so the 401 above came from the missing credentials, not from a wrong URL or method.
            if (probe.template, probe.method) in PENDING:
                stage = "enrol" if probe.template == "/auth/enrol" else "second_factor"
                good = {"Cookie": f"{COOKIE}={pending_cookie(runtime, stage)}"}
            else:
                good = {"Authorization": f"Bearer {valid}"}
            status = status_of(client, probe, good)
            if (probe.template, probe.method) not in PUBLIC:
                assert status not in (401, 405), (probe, status)
            if probe.template == "/v1/agreements/{agreement}":
                assert status == 404  # a well-formed number, just not one of this caller's


def test_401_says_how_to_authenticate(app: FastAPI) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        for probe in probes(app):
            if (probe.template, probe.method) in PUBLIC or probe.method in (WEBSOCKET, "HEAD"):
                continue
            response = client.request(probe.method, probe.url)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()  # a body (JSON or OperationOutcome), never empty


def test_the_walk_catches_a_route_added_without_authentication(app: FastAPI) -> None:
    """The check itself: routes added in every way the framework allows are found and flagged."""
    router = APIRouter(prefix="/v2")

    @router.get("/things/{thing_id:int}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @router.put("/codes/{code}")
    def code(code: str) -> dict[str, str]:
        return {"code": code}

    async def raw(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("raw")

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    before = {(p.template, p.method) for p in probes(app)}
    nested = APIRouter(prefix="/outer")
    nested.include_router(router)
    app.include_router(nested)
    app.add_route("/raw", raw, methods=["GET", "POST"])
    app.add_api_websocket_route("/ws", socket)
    app.mount("/static", FastAPI())

    found = probes(app)
    added = {(p.template, p.method) for p in found} - before
    expected = {
        ("/outer/v2/things/{thing_id}", "GET"),
        ("/outer/v2/codes/{code}", "PUT"),
        ("/raw", "GET"),
        ("/raw", "HEAD"),  # Starlette adds HEAD to a GET route
        ("/raw", "POST"),
        ("/ws", WEBSOCKET),
    } | {("/static/{path}", method) for method in ALL_METHODS}
    assert added == expected
    thing_probe = next(p for p in found if p.template == "/outer/v2/things/{thing_id}")
    assert re.fullmatch(r"/outer/v2/things/[0-9]+", thing_probe.url)
    with TestClient(app, raise_server_exceptions=False) as client:
        leaks = list(let_through(client, found, {"anonymous": {}}))
    assert {(probe.template, probe.method) for probe, _label, _status in leaks} == expected, leaks
