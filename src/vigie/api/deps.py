"""Request dependencies: the application's services, and the authenticated caller.

Dependencies are async so that FastAPI does not send each one through the thread pool.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from vigie.db.group_commit import GroupCommit
from vigie.db.loop_engines import LoopEngines
from vigie.eligibility import flows, on_loop
from vigie.eligibility.flows import Engines
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.identity.authentication import Authenticator
from vigie.identity.principal import Principal, Role
from vigie.identity.service import ProfessionalView
from vigie.identity.sessions import COOKIE
from vigie.runtime import Runtime

T = TypeVar("T")

# The request's authenticated caller, kept in its ASGI scope: the guard reads its last step-up
# (a plain dict read; Starlette's request.state wraps it in Python calls).
PRINCIPAL = "vigie.principal"

UNAUTHENTICATED = HTTPException(
    401, "authentification requise : jeton Bearer valide attendu", {"WWW-Authenticate": "Bearer"}
)


@dataclass
class Services:
    """What routes use, built once per application."""

    runtime: Runtime
    auth: Authenticator
    plans: PlanCache = field(default_factory=PlanCache)

    # On SQLite, store calls run on the event loop: each worker process answers one request at
    # a time, like a classic synchronous worker, and capacity grows with ``--workers``; a thread
    # hand-over per request (and the GIL contention it brings) costs more than the overlap it
    # buys, since SQLite's calls only compute. On PostgreSQL, whose calls mostly wait (network,
    # commits), eligibility questions wait on the event loop (``loop``) and rarer calls run in
    # worker threads. ``VIGIE_STORE_THREADS=0|1`` forces every call onto one or the other.
    inline: bool = True

    # On SQLite, on the event loop: the questions of one loop turn share one transaction.
    group: GroupCommit | None = None

    # On PostgreSQL, unless forced: eligibility flows wait for the database on the event loop
    # (vigie.db.loop_engines); other store calls still go to worker threads.
    loop: LoopEngines | None = None

    def __post_init__(self) -> None:
        if self.inline and self.runtime.engine.dialect.name == "sqlite":
            self.group = GroupCommit(self.runtime.engine)

    @property
    def light_inline(self) -> bool:
        """Whether calls that mostly compute (the guard's checks) run on the event loop."""
        return self.inline or self.loop is not None

    async def call(self, func: Callable[..., T], *args: object) -> T:
        """Run a blocking store call where it costs least (see ``inline``)."""
        if self.inline:
            return func(*args)
        return await run_in_threadpool(func, *args)

    async def call_light(self, func: Callable[..., T], *args: object) -> T:
        """``call`` for work that mostly computes and seldom waits: on the event loop unless
        every store call goes to threads."""
        if self.light_inline:
            return func(*args)
        return await run_in_threadpool(func, *args)

    async def check_eligibility(
        self, caller: ProfessionalView, request: EligibilityRequest, channel: str
    ) -> EligibilityAnswer:
        """The eligibility flow, where it costs least: with loop engines, the commonest
        questions as coroutines (vigie.eligibility.on_loop), the others as ``call_grouped``."""
        if self.loop is not None:
            answer = await on_loop.check_eligibility(
                self.runtime, self.loop, self.plans, caller, request, channel
            )
            if answer is not None:
                return answer
        return await self.call_grouped(
            flows.check_eligibility, self.runtime, self.plans, caller, request, channel
        )

    async def call_grouped(self, func: Callable[..., T], *args: object) -> T:
        """``call`` for a function taking ``unit=``: its writes join the group commit if any;
        with loop engines, it takes ``engines=`` and waits on the loop."""
        if self.group is not None:
            return await self.group.run(func, *args)
        if self.loop is not None:
            engines = Engines(self.loop.main, self.loop.estimates)
            return await self.loop.run(func, *args, engines=engines)
        return await self.call(func, *args)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def current_principal(request: Request) -> Principal:
    """The authenticated caller, whatever their role: a bearer JWT in ``Authorization`` (never
    falling back to a cookie when the header is there), else an active portal session, whose
    state-changing requests must carry its CSRF token (``X-CSRF-Token`` or a ``csrf`` field)."""
    services: Services = request.app.state.services
    auth = services.auth
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UNAUTHENTICATED
        principal = auth.cached(token)
        if principal is None:
            principal = await services.call(auth.bearer, token)
            if principal is None:
                raise UNAUTHENTICATED
        request.scope[PRINCIPAL] = principal
        return principal
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise UNAUTHENTICATED
    found = await services.call(auth.session, cookie)
    if found is None:
        raise UNAUTHENTICATED
    principal, session = found
    request.state.session = session
    if request.method not in SAFE_METHODS and not await csrf_matches(request, session.csrf):
        raise CSRF_REFUSED
    request.scope[PRINCIPAL] = principal
    return principal


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = HTTPException(403, "jeton anti-CSRF absent ou invalide")


async def csrf_matches(request: Request, expected: str) -> bool:
    sent = request.headers.get("x-csrf-token")
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get("csrf")
        sent = value if isinstance(value, str) else None
    return bool(sent) and hmac.compare_digest(str(sent), expected)


FORBIDDEN = HTTPException(403, "accès refusé : votre rôle ne permet pas cette action")


async def authenticate(principal: Principal = Depends(current_principal)) -> ProfessionalView:
    """A professional caller whose credentials allow eligibility requests."""
    professional = eligible_professional(principal)
    if professional is None:
        raise FORBIDDEN
    return professional


def eligible_professional(principal: Principal) -> ProfessionalView | None:
    """The professional behind ``principal`` if they may ask eligibility questions."""
    if principal.professional is None or principal.role != Role.PROFESSIONAL:
        return None
    if principal.scopes is not None and "eligibility" not in principal.scopes:
        return None
    return principal.professional


def require_roles(*roles: Role) -> Callable[..., object]:
    """A dependency admitting only callers holding one of ``roles``; declared on each route.

    It depends on ``current_principal`` through FastAPI, so that tests may override that one
    dependency (``app.dependency_overrides[current_principal]``) for every route."""
    admitted = frozenset(roles)

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in admitted:
            raise FORBIDDEN
        return principal

    return dependency


CurrentProfessional = Annotated[ProfessionalView, Depends(authenticate)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AppServices = Annotated[Services, Depends(get_services)]
