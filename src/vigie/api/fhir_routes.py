"""FHIR R4 eligibility routes: CoverageEligibilityRequest in, CoverageEligibilityResponse out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from vigie.api.deps import AppServices, CurrentProfessional
from vigie.api.errors import fhir_error
from vigie.api.fhir_mapping import (
    FhirInputError,
    answer_to_fhir,
    dumps,
    parse_request,
)
from vigie.eligibility import flows

router = APIRouter(prefix="/fhir", tags=["fhir"])

FHIR_JSON = "application/fhir+json"
ACCEPTED = ("application/fhir+json", "application/json")


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise FhirInputError("corps JSON mal formé") from exc


async def _eligibility(
    request: Request, caller: CurrentProfessional, services: AppServices
) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED:
        message = "type de contenu attendu : application/fhir+json ou application/json"
        return fhir_error(415, message)
    try:
        parsed = parse_request(await _body(request))
    except FhirInputError as exc:
        return Response(dumps(exc.to_operation_outcome()), 400, media_type=FHIR_JSON)
    answer = await services.call(
        flows.check_eligibility, services.runtime, services.plans, caller, parsed, "fhir"
    )
    body = answer_to_fhir(
        answer, request=parsed, request_id=request.state.request_id, created=datetime.now(UTC)
    )
    return Response(dumps(body), media_type=FHIR_JSON)


router.add_api_route(
    "/CoverageEligibilityRequest",
    _eligibility,
    methods=["POST"],
    summary="CoverageEligibilityRequest (FHIR R4)",
)
router.add_api_route(
    "/CoverageEligibilityRequest/$submit",
    _eligibility,
    methods=["POST"],
    summary="CoverageEligibilityRequest $submit (FHIR R4)",
)
