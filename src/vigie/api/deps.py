"""Request dependencies: the runtime, and the authenticated caller (every route but health)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from vigie.eligibility.service import PlanCache
from vigie.identity.service import ProfessionalView
from vigie.identity.tokens import TokenCache, verify_token
from vigie.runtime import Runtime

UNAUTHENTICATED = HTTPException(
    401, "authentification requise : jeton Bearer valide attendu", {"WWW-Authenticate": "Bearer"}
)


# Dependencies are async so that FastAPI does not send each one through the thread pool;
# only the token lookup on a cache miss touches the database, in a thread.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_plans(request: Request) -> PlanCache:
    plans: PlanCache = request.app.state.plans
    return plans


async def authenticate(request: Request) -> ProfessionalView:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UNAUTHENTICATED
    token = token.strip()
    cache: TokenCache = request.app.state.tokens
    caller = cache.get(token)
    if caller is None:
        caller = await run_in_threadpool(_verify, request.app.state.runtime, token)
        if caller is None:
            raise UNAUTHENTICATED
        cache.put(token, caller)
    return caller


def _verify(runtime: Runtime, token: str) -> ProfessionalView | None:
    with runtime.engine.connect() as conn:
        return verify_token(conn, token)


CurrentProfessional = Annotated[ProfessionalView, Depends(authenticate)]
CurrentRuntime = Annotated[Runtime, Depends(get_runtime)]
Plans = Annotated[PlanCache, Depends(get_plans)]

__all__ = ["CurrentProfessional", "CurrentRuntime", "Plans"]
