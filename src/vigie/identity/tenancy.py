"""Tenant isolation for mutuelle admins: each reads and imports only for its own AMC numbers.

Invariant: a request that names, or carries data of, an AMC the admin does not hold is refused
as a whole, and the refusal is recorded in the access log (with the AMCs concerned, no content).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from vigie.audit.log import Event, record
from vigie.identity.principal import Principal
from vigie.rights.errors import ImportRejected, ImportReport, LineError
from vigie.rights.models import Plan
from vigie.rights.plans import PlanIn, apply_plans, parse_plans_file


class CrossTenant(Exception):
    """The request touches AMCs the caller does not administer; nothing was done. The caller
    records the refusal (``record_refusal``) in a transaction of its own, which commits."""

    def __init__(self, action: str, foreign: list[str]) -> None:
        super().__init__(action)
        self.action = action
        self.foreign = foreign


def refuse_outside(principal: Principal, action: str, amcs: Iterable[str]) -> None:
    """Raise CrossTenant unless every AMC named is one of the caller's."""
    foreign = sorted(set(amcs) - principal.amcs)
    if foreign:
        raise CrossTenant(action, foreign)


def record_refusal(conn: Connection, principal: Principal, refusal: CrossTenant) -> None:
    """One access-log entry per foreign AMC (at most 20: a file may name many)."""
    for amc in refusal.foreign[:20]:
        amc_field = amc if len(amc) == 9 and amc.isdigit() else None
        detail = {"action": refusal.action}
        record(conn, Event("admin", principal.subject, "refused", amc=amc_field, detail=detail))


def record_import(conn: Connection, principal: Principal, kind: str, amcs: Iterable[str]) -> None:
    for amc in sorted(set(amcs)):
        record(conn, Event("import", principal.subject, "ok", amc=amc, detail={"file": kind}))


def list_plans(conn: Connection, principal: Principal, amc: str | None) -> list[dict[str, Any]]:
    wanted = {amc} if amc else set(principal.amcs)
    refuse_outside(principal, "plans_read", wanted)
    rows = conn.execute(
        select(Plan.amc, Plan.code, Plan.responsable, Plan.updated_at)
        .where(Plan.amc.in_(sorted(wanted)))
        .order_by(Plan.amc, Plan.code)
    )
    return [
        {
            "amc": r.amc,
            "code": r.code,
            "responsable": r.responsable,
            "updated_at": _iso(r.updated_at),
        }
        for r in rows
    ]


def import_plans(conn: Connection, principal: Principal, text: str) -> ImportReport:
    plans: list[PlanIn] = parse_plans_file(text)
    refuse_outside(principal, "plans_import", {p.amc for p in plans})
    report = apply_plans(conn, plans)
    record_import(conn, principal, "plans", {p.amc for p in plans})
    return report


def rights_file_amcs(text: str) -> set[str]:
    """The AMC column of a v1 rights file, read before anything is checked or written."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "amc" not in reader.fieldnames:
        raise ImportRejected([LineError(1, "en-tête v1 attendu (colonne amc)")])
    return {(row.get("amc") or "").strip() for row in reader}


def _iso(moment: datetime) -> str:
    return moment.isoformat()
