"""Security officers' routes: read the guard's alerts, lift a suspension (logged)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from vigie.api.deps import AppServices, require_roles
from vigie.api.errors import json_error
from vigie.api.guard_gate import AppGuard
from vigie.db.engine import read_transaction, write_transaction
from vigie.guard import service
from vigie.identity.principal import Principal, Role
from vigie.runtime import Runtime

router = APIRouter(prefix="/v1/guard", tags=["guard"])

officer_only = require_roles(Role.SECURITY_OFFICER)
Officer = Annotated[Principal, Depends(officer_only)]


class LiftRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(min_length=3, max_length=500)


def _alerts(runtime: Runtime, active: bool, limit: int) -> list[dict[str, Any]]:
    with read_transaction(runtime.engine) as conn:
        found = service.list_alerts(conn, active_only=active, limit=limit)
    return [
        {
            "id": a.id,
            "created_at": a.created_at.isoformat(),
            "account": a.subject,
            "score": a.score,
            "threshold": a.threshold,
            "summary": a.summary,
            "signals": a.signals,
            "suspension": a.suspension,
            "lifted_at": a.lifted_at.isoformat() if a.lifted_at else None,
            "lifted_by": a.lifted_by,
        }
        for a in found
    ]


@router.get("/alerts")
async def alerts(
    _officer: Officer,
    services: AppServices,
    active: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The latest alerts, each explaining its suspension; ``active``: not lifted yet."""
    return {"alerts": await services.call(_alerts, services.runtime, active, limit)}


def _lift(runtime: Runtime, suspension: int, officer: str, reason: str) -> tuple[str, int | None]:
    with write_transaction(runtime.engine) as conn:
        return service.lift(conn, suspension, officer=officer, reason=reason)


@router.post("/suspensions/{suspension}/lift")
async def lift(
    suspension: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: LiftRequest,
    officer: Officer,
    services: AppServices,
    guard: AppGuard,
) -> Response:
    """Lift a suspension: the account may ask again, its signals start afresh."""
    outcome, account = await services.call(
        _lift, services.runtime, suspension, officer.subject, body.reason
    )
    if outcome == "not_found":
        return json_error(404, "suspension introuvable")
    if outcome == "already_lifted":
        return json_error(409, "suspension déjà levée")
    if guard is not None and account is not None:
        guard.containment.forget(account)
        guard.guard.forget(account)
    return Response(f'{{"suspension":{suspension},"lifted":true}}', media_type="application/json")
