"""Incident routes (DPO only): declare an incident, read its CNIL notification as JSON or PDF.
The letters, which hold identities, are produced by the command line only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from vigie.api.deps import AppServices, require_roles
from vigie.api.errors import json_error
from vigie.identity.principal import Principal, Role
from vigie.incidents import flows, render
from vigie.incidents.service import Declaration, DeclarationError
from vigie.runtime import Runtime

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

Dpo = Annotated[Principal, Depends(require_roles(Role.DPO))]
Sentence = Annotated[str, Field(max_length=2000)]


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["accounts", "database_copy"]
    description: Sentence
    accounts: list[Annotated[str, Field(max_length=80)]] = Field(default=[], max_length=10_000)
    structures: list[int] = Field(default=[], max_length=10_000)
    start: datetime | None = None
    end: datetime | None = None
    detected_at: datetime | None = None
    keys_compromised: bool = False
    measures_taken: list[Sentence] = Field(default=[], max_length=50)
    measures_planned: list[Sentence] = Field(default=[], max_length=50)

    def declaration(self) -> Declaration:
        return Declaration(
            kind=self.kind,
            detected_at=self.detected_at or datetime.now(UTC),
            description=self.description,
            accounts=self.accounts,
            structures=self.structures,
            start=self.start,
            end=self.end,
            keys_compromised=self.keys_compromised,
            measures_taken=self.measures_taken,
            measures_planned=self.measures_planned,
        )


def _declare_and_assess(runtime: Runtime, body: IncidentIn, actor: str) -> dict[str, object]:
    incident_id = flows.declare_incident(runtime, body.declaration(), actor)
    return {
        "incident": incident_id,
        "notification": flows.assess(runtime, incident_id).notification,
    }


@router.post("", status_code=201)
async def declare(body: IncidentIn, caller: Dpo, services: AppServices) -> Response:
    """Declare an incident; the answer carries its CNIL notification (scope computed now)."""
    try:
        result = await services.call(_declare_and_assess, services.runtime, body, caller.subject)
    except DeclarationError as exc:
        return json_error(400, str(exc))
    return Response(orjson.dumps(result), 201, media_type="application/json")


@router.get("/{incident_id}/notification")
async def notification(incident_id: int, caller: Dpo, services: AppServices) -> Response:
    try:
        assessment = await services.call(flows.assess, services.runtime, incident_id)
    except flows.UnknownIncident:
        return json_error(404, "incident introuvable")
    return Response(orjson.dumps(assessment.notification), media_type="application/json")


@router.get("/{incident_id}/notification.pdf")
async def notification_pdf(incident_id: int, caller: Dpo, services: AppServices) -> Response:
    try:
        assessment = await services.call(flows.assess, services.runtime, incident_id)
    except flows.UnknownIncident:
        return json_error(404, "incident introuvable")
    pdf = await services.call(render.notification_pdf, assessment.notification)
    return Response(pdf, media_type="application/pdf")
