"""Request dependencies: the runtime, and the authenticated caller (every route but health)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from vigie.db.engine import write_transaction
from vigie.eligibility.service import PlanCache
from vigie.identity.service import ProfessionalView
from vigie.identity.tokens import TokenCache, verify_token
from vigie.runtime import Runtime

UNAUTHENTICATED = HTTPException(
    401, "authentification requise : jeton Bearer valide attendu", {"WWW-Authenticate": "Bearer"}
)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_plans(request: Request) -> PlanCache:
    plans: PlanCache = request.app.state.plans
    return plans


def authenticate(request: Request) -> ProfessionalView:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise UNAUTHENTICATED
    token = token.strip()
    cache: TokenCache = request.app.state.tokens
    caller = cache.get(token)
    if caller is None:
        runtime = get_runtime(request)
        with runtime.engine.connect() as conn:
            caller = verify_token(conn, token)
        if caller is None:
            raise UNAUTHENTICATED
        cache.put(token, caller)
    return caller


CurrentProfessional = Annotated[ProfessionalView, Depends(authenticate)]
CurrentRuntime = Annotated[Runtime, Depends(get_runtime)]
Plans = Annotated[PlanCache, Depends(get_plans)]

__all__ = ["CurrentProfessional", "CurrentRuntime", "Plans", "write_transaction"]
