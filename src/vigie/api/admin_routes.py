"""Mutuelle admins: import and read their own plans and rights (v1 formats), nothing else."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from vigie.api.deps import AppServices, require_roles
from vigie.api.errors import json_error
from vigie.db.engine import read_transaction, write_transaction
from vigie.identity import tenancy
from vigie.identity.principal import Principal, Role
from vigie.rights.errors import ImportRejected, ImportReport
from vigie.rights.importer import import_rights

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(require_roles(Role.MUTUELLE_ADMIN))]
CROSS_TENANT = "accès refusé : cette mutuelle n'est pas la vôtre"
AmcQuery = Annotated[str | None, Query(pattern=r"^[0-9]{9}$")]


@router.get("/plans")
async def plans(admin: Admin, services: AppServices, amc: AmcQuery = None) -> Response:
    """The caller's plans (all its AMCs, or the one asked for)."""
    return await services.call(_plans, services, admin, amc)


def _plans(services: AppServices, admin: Principal, amc: str | None) -> Response:
    try:
        with read_transaction(services.runtime.engine) as conn:
            listed = tenancy.list_plans(conn, admin, amc)
    except tenancy.CrossTenant as refusal:
        return _refused(services, admin, refusal)
    return JSONResponse({"plans": listed})


@router.post("/plans")
async def import_plans(request: Request, admin: Admin, services: AppServices) -> Response:
    """Import a v1 plans file (JSON body), all-or-nothing, for the caller's AMCs only."""
    text = await _text(request)
    if text is None:
        return json_error(400, "le fichier n'est pas en UTF-8")
    return await services.call(_import_plans, services, admin, text)


def _import_plans(services: AppServices, admin: Principal, text: str) -> Response:
    try:
        with write_transaction(services.runtime.engine) as conn:
            report = tenancy.import_plans(conn, admin, text)
    except tenancy.CrossTenant as refusal:
        return _refused(services, admin, refusal)
    except ImportRejected as exc:
        return _rejected(exc)
    return _report(report)


@router.post("/rights")
async def import_rights_file(request: Request, admin: Admin, services: AppServices) -> Response:
    """Import a v1 rights file (CSV body), all-or-nothing, for the caller's AMCs only."""
    text = await _text(request)
    if text is None:
        return json_error(400, "le fichier n'est pas en UTF-8")
    return await services.call(_import_rights, services, admin, text)


def _import_rights(services: AppServices, admin: Principal, text: str) -> Response:
    runtime = services.runtime
    keyring = runtime.current_keyring()
    try:
        amcs = tenancy.rights_file_amcs(text)
        tenancy.refuse_outside(admin, "rights_import", amcs)
        with write_transaction(runtime.engine) as conn:
            report = import_rights(conn, keyring, text.splitlines(keepends=True))
            tenancy.record_import(conn, admin, "rights", amcs)
    except tenancy.CrossTenant as refusal:
        return _refused(services, admin, refusal)
    except ImportRejected as exc:
        return _rejected(exc)
    return _report(report)


def _refused(services: AppServices, admin: Principal, refusal: tenancy.CrossTenant) -> Response:
    """Nothing was done; the refusal is recorded in a transaction of its own."""
    with write_transaction(services.runtime.engine) as conn:
        tenancy.record_refusal(conn, admin, refusal)
    return json_error(403, CROSS_TENANT)


async def _text(request: Request) -> str | None:
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _rejected(exc: ImportRejected) -> Response:
    details: list[Any] = [{"line": e.line, "reason": e.reason} for e in exc.errors[:50]]
    return json_error(422, str(exc), details)


def _report(report: ImportReport) -> Response:
    body = {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}
    return JSONResponse({**body, **report.details})
