"""The hottest route, ``POST /v1/eligibility``, without FastAPI's per-request machinery.

Practice software asks this one question thousands of times for every other call. Routing,
dependency solving and FastAPI's two-step body parsing cost about a quarter of a request's CPU
(py-spy, SQLite estimate): this lane does what the route does with one direct path.

Invariant: the lane answers only the plain case, exactly as the route would: a bearer token
already verified by this process (``Authenticator.cached``) for a professional allowed to ask,
and a JSON body that validates. Anything else (no token, a new or refused token, a portal
session, a body that does not validate, dependency overrides in tests) goes on to the FastAPI
route with the body replayed, so that every refusal and error is the route's own. Exceptions
raised by the flow go to the application's exception handlers, as they would from the route.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from vigie.api.bodies import read_body, replay
from vigie.api.deps import PRINCIPAL, Services, eligible_professional
from vigie.api.guard_gate import guarded
from vigie.eligibility.schemas import EligibilityRequest

PATH = "/v1/eligibility"


class FastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _candidate(scope)
        if token is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away: nothing to answer
            return
        application = scope["app"]
        services: Services = application.state.services
        principal = services.auth.cached(token)
        caller = eligible_professional(principal) if principal is not None else None
        question = _parse(body) if caller is not None else None
        if principal is None or caller is None or question is None:
            await self.app(scope, replay(body, receive), send)
            return
        request = Request(scope, replay(body, receive))
        request.scope[PRINCIPAL] = principal  # the guard reads its last step-up
        try:
            answer = await guarded(
                services, application.state.guard, request, caller, question, fhir=False
            )
        except Exception as exc:  # handed to the application's own handlers
            response = await _handled(application, request, exc)
        else:
            if isinstance(answer, Response):
                response = answer
            else:
                response = Response(answer.model_dump_json(), media_type="application/json")
        await response(scope, receive, send)


def _candidate(scope: Scope) -> str | None:
    """The bearer token of a JSON ``POST /v1/eligibility``; None for any other request."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
        return None
    if getattr(scope["app"], "dependency_overrides", None):
        return None  # tests replacing the route's dependencies get the route
    token: bytes | None = None
    content_type: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = value
        elif name == b"content-type":
            content_type = value
    if token is None or content_type is None:
        return None
    if content_type.split(b";", 1)[0].strip().lower() != b"application/json":
        return None
    scheme, _, credentials = token.partition(b" ")
    if scheme.lower() != b"bearer" or not credentials.strip():
        return None
    return credentials.strip().decode("latin-1")


def _parse(body: bytes) -> EligibilityRequest | None:
    try:
        return EligibilityRequest.model_validate_json(body)
    except ValidationError:
        return None  # the route says what is wrong, in its own words


async def _handled(application: Any, request: Request, exc: Exception) -> Response:
    """The response the application's exception handlers give for ``exc``, or re-raise."""
    handlers = application.exception_handlers
    for kind in type(exc).__mro__:
        handler = handlers.get(kind)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc
