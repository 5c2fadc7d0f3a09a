"""JSON eligibility routes: translate HTTP to the eligibility flows and back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from vigie.api.deps import AppServices, CurrentProfessional
from vigie.api.errors import json_error
from vigie.api.guard_gate import AppGuard, guarded
from vigie.eligibility import flows
from vigie.eligibility.schemas import EligibilityAnswer, EligibilityRequest

router = APIRouter(prefix="/v1", tags=["eligibility"])

AgreementNumber = Annotated[str, Path(pattern=r"^A\d{6}-[0-9A-Z]{12}$", max_length=20)]


@router.post("/eligibility", response_model=EligibilityAnswer)
async def eligibility(
    body: EligibilityRequest,
    caller: CurrentProfessional,
    services: AppServices,
    guard: AppGuard,
    request: Request,
) -> Response:
    """Is this patient covered on this date, and how does each billed line split?"""
    answer = await guarded(services, guard, request, caller, body, fhir=False)
    if isinstance(answer, Response):
        return answer
    return Response(answer.model_dump_json(), media_type="application/json")


@router.delete("/agreements/{agreement}")
async def cancel_agreement(
    agreement: AgreementNumber, caller: CurrentProfessional, services: AppServices
) -> Response:
    """Cancel one of the caller's agreements; what it consumed is given back."""
    outcome = await services.call(flows.cancel, services.runtime, caller, agreement)
    if outcome == "not_found":
        return json_error(404, "accord introuvable")
    if outcome == "already_cancelled":
        return json_error(409, "accord déjà annulé")
    return Response(
        f'{{"agreement":"{agreement}","cancelled":true}}', media_type="application/json"
    )
