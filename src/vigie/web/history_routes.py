"""The insured person's page: every check of their rights, with the proof that it is in the log.

Invariant: the page shows only what the access-history service returns for the signed-in insured
person (kind of professional, structure, answer, time); never an identifier.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from vigie.api.deps import AppServices, require_roles
from vigie.audit import history
from vigie.audit.proofs import ProofRequestError
from vigie.identity.principal import Principal, Role
from vigie.web import pages

router = APIRouter(tags=["portal"])
Insured = Annotated[Principal, Depends(require_roles(Role.INSURED))]


@router.get("/portal/accesses")
async def accesses(request: Request, caller: Insured, services: AppServices) -> Response:
    """Who checked my rights, when, and with which answer."""
    try:
        document = await services.call(history.access_history, services.runtime, caller)
    except ProofRequestError as exc:
        return pages.render(request, "accesses.html", {"error": str(exc)}, status=400)
    head = document["tree_head"]
    context = {
        "error": None,
        "accesses": document["accesses"],
        "complete": document["complete"],
        "tree_size": head["tree_size"] if head else 0,
        "root_hash": head["root_hash"] if head else None,
        "public_key": document["public_key"],
    }
    return pages.render(request, "accesses.html", context)
