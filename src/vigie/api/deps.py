"""Request dependencies: the application's services, and the authenticated caller.

Dependencies are async so that FastAPI does not send each one through the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from vigie.eligibility.service import PlanCache
from vigie.identity.principal import Principal, Role
from vigie.identity.service import ProfessionalView
from vigie.identity.tokens import TokenCache, verify_token
from vigie.runtime import Runtime

T = TypeVar("T")

UNAUTHENTICATED = HTTPException(
    401, "authentification requise : jeton Bearer valide attendu", {"WWW-Authenticate": "Bearer"}
)


@dataclass
class Services:
    """What routes use, built once per application."""

    runtime: Runtime
    plans: PlanCache = field(default_factory=PlanCache)
    tokens: TokenCache = field(default_factory=lambda: TokenCache(5.0))

    # Store calls run on the event loop: each worker process answers one request at a time,
    # like a classic synchronous worker, and capacity grows with ``--workers``. Measured on both
    # stores, a thread hand-over per request (and the GIL contention it brings) cost more than
    # the overlap it buys. ``VIGIE_STORE_THREADS=1`` sends store calls to worker threads instead.
    inline: bool = True

    async def call(self, func: Callable[..., T], *args: object) -> T:
        """Run a blocking store call where it costs least (see ``inline``)."""
        if self.inline:
            return func(*args)
        return await run_in_threadpool(func, *args)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def authenticate(request: Request) -> ProfessionalView:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UNAUTHENTICATED
    token = token.strip()
    services: Services = request.app.state.services
    caller = services.tokens.get(token)
    if caller is None:
        caller = await services.call(_verify, services.runtime, token)
        if caller is None:
            raise UNAUTHENTICATED
        services.tokens.put(token, caller)
    return caller


def _verify(runtime: Runtime, token: str) -> ProfessionalView | None:
    with runtime.engine.connect() as conn:
        return verify_token(conn, token)


FORBIDDEN = HTTPException(403, "accès refusé : votre rôle ne permet pas cette action")


async def current_principal(request: Request) -> Principal:
    """The authenticated caller, whatever their role (today: professionals' bearer tokens)."""
    return Principal.of_professional(await authenticate(request))


def require_roles(*roles: Role) -> Callable[..., object]:
    """A dependency admitting only callers holding one of ``roles``; declared on each route."""
    admitted = frozenset(roles)

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in admitted:
            raise FORBIDDEN
        return principal

    return dependency


CurrentProfessional = Annotated[ProfessionalView, Depends(authenticate)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AppServices = Annotated[Services, Depends(get_services)]
