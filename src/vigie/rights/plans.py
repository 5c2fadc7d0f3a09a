"""Plans (sets of guarantees) and the v1 plans file.

Invariant: a plans file is applied whole or not at all, and re-applying it changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, insert, select, update

from vigie.eligibility.categories import Category
from vigie.eligibility.rules import Guarantee, PlanTerms
from vigie.rights.errors import ImportRejected, ImportReport, LineError
from vigie.rights.identifiers import AMC_RE
from vigie.rights.models import Plan

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class GuaranteeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pct_br: Annotated[Decimal, Field(ge=0, le=2000, decimal_places=2)] | None = None
    flat: Annotated[Decimal, Field(ge=0, le=100_000, decimal_places=2)] | None = None
    per: Literal["act", "equipment", "ear", "year"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GuaranteeIn:
        if (self.pct_br is None) == (self.flat is None):
            raise ValueError("une garantie est soit pct_br, soit flat (avec per)")
        if self.flat is not None and self.per is None:
            raise ValueError("une garantie flat précise per (act, equipment, ear ou year)")
        if self.pct_br is not None and self.per is not None:
            raise ValueError("per ne s'emploie qu'avec flat")
        return self


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(pattern=CODE_RE.pattern)]
    amc: Annotated[str, Field(pattern=AMC_RE.pattern)]
    responsable: bool
    guarantees: dict[Category, GuaranteeIn]


def terms_of(responsable: bool, guarantees: Mapping[str, Mapping[str, Any]]) -> PlanTerms:
    """The rules' view of a stored plan."""
    table = {}
    for category, raw in guarantees.items():
        pct, flat = raw.get("pct_br"), raw.get("flat")
        table[Category(category)] = Guarantee(
            pct_br=None if pct is None else Decimal(str(pct)),
            flat=None if flat is None else Decimal(str(flat)),
            per=raw.get("per"),
        )
    return PlanTerms(responsable=responsable, guarantees=table)


def parse_plans_file(text: str) -> list[PlanIn]:
    """Validate the whole file first; raise ImportRejected listing every problem."""
    try:
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ImportRejected([LineError(exc.lineno, "JSON mal formé")]) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("plans"), list):
        raise ImportRejected([LineError(1, 'objet {"plans": [...]} attendu')])
    plans: list[PlanIn] = []
    errors: list[LineError] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(raw["plans"]):
        where = _locate(text, item, index)
        try:
            plan = PlanIn.model_validate(item)
        except ValidationError as exc:
            errors.extend(LineError(where, _describe(index, e)) for e in exc.errors())
            continue
        if (plan.amc, plan.code) in seen:
            errors.append(LineError(where, f"plan n°{index + 1} : doublon du code {plan.code}"))
        seen.add((plan.amc, plan.code))
        plans.append(plan)
    if errors:
        raise ImportRejected(errors)
    return plans


def apply_plans(
    conn: Connection, plans: list[PlanIn], *, now: datetime | None = None
) -> ImportReport:
    """Upsert by (AMC, code). The caller owns the transaction."""
    now = now or datetime.now(UTC)
    existing = {
        (row.amc, row.code): row
        for row in conn.execute(
            select(Plan.id, Plan.amc, Plan.code, Plan.responsable, Plan.guarantees)
        )
    }
    report = ImportReport()
    for plan in plans:
        guarantees = _stored(plan)
        row = existing.get((plan.amc, plan.code))
        if row is None:
            conn.execute(
                insert(Plan).values(
                    amc=plan.amc,
                    code=plan.code,
                    responsable=plan.responsable,
                    guarantees=guarantees,
                    updated_at=now,
                )
            )
            report.created += 1
        elif row.responsable != plan.responsable or row.guarantees != guarantees:
            conn.execute(
                update(Plan)
                .where(Plan.id == row.id)
                .values(responsable=plan.responsable, guarantees=guarantees, updated_at=now)
            )
            report.updated += 1
        else:
            report.unchanged += 1
    return report


def _stored(plan: PlanIn) -> dict[str, dict[str, object]]:
    """JSON-safe guarantees: decimals as strings, so nothing goes through a binary float."""
    stored: dict[str, dict[str, object]] = {}
    for category, g in sorted(plan.guarantees.items()):
        entry: dict[str, object] = {}
        if g.pct_br is not None:
            entry["pct_br"] = format(g.pct_br.normalize(), "f")
        if g.flat is not None:
            entry["flat"] = format(g.flat.normalize(), "f")
            entry["per"] = g.per
        stored[category.value] = entry
    return stored


def _describe(index: int, error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    return f"plan n°{index + 1}, {where or 'plan'} : {error['msg']}"


def _locate(text: str, item: object, index: int) -> int:
    """The line where a plan starts, found by its code; falls back to the line of the list."""
    code = item.get("code") if isinstance(item, dict) else None
    if isinstance(code, str):
        match = re.search(r'"code"\s*:\s*' + re.escape(json.dumps(code)), text)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return 1
