"""The v1 plans file: validation with locations, upsert, idempotence, all-or-nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.factories import PLANS
from vigie.db.engine import write_transaction
from vigie.eligibility.categories import Category
from vigie.eligibility.rules import Guarantee
from vigie.rights.errors import ImportRejected
from vigie.rights.models import Plan
from vigie.rights.plans import apply_plans, parse_plans_file, terms_of
from vigie.runtime import Runtime


def apply(rt: Runtime, document: Any) -> tuple[int, int, int]:
    with write_transaction(rt.engine) as conn:
        report = apply_plans(conn, parse_plans_file(json.dumps(document, indent=2)))
    return report.created, report.updated, report.unchanged


def test_plans_are_created_then_unchanged(runtime: Runtime) -> None:
    assert apply(runtime, PLANS) == (2, 0, 0)
    assert apply(runtime, PLANS) == (0, 0, 2)


def test_a_changed_guarantee_updates_the_plan(runtime: Runtime) -> None:
    apply(runtime, PLANS)
    changed = json.loads(json.dumps(PLANS))
    changed["plans"][0]["guarantees"]["consultation_gp"] = {"pct_br": 250}
    assert apply(runtime, changed) == (0, 1, 1)
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(Plan.responsable, Plan.guarantees).where(Plan.code == "CONFORT")
        ).one()
    terms = terms_of(row.responsable, row.guarantees)
    assert terms.guarantees[Category.consultation_gp].pct_br == 250
    assert terms.guarantees[Category.optics_b] == Guarantee(flat=Decimal(250), per="equipment")


def plan(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "P1",
        "amc": "123456789",
        "responsable": True,
        "guarantees": {"consultation_gp": {"pct_br": 100}},
    }
    return {"plans": [{**base, **overrides}]}


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (plan(amc="12345"), "amc"),
        (plan(code=""), "code"),
        (plan(code="bad code!"), "code"),
        (plan(responsable="maybe"), "responsable"),
        (plan(guarantees={"massage": {"pct_br": 100}}), "massage"),
        (plan(guarantees={"consultation_gp": {"pct_br": -5}}), "pct_br"),
        (plan(guarantees={"consultation_gp": {"flat": 10}}), "per"),
        (plan(guarantees={"consultation_gp": {"flat": 10, "per": "month"}}), "per"),
        (plan(guarantees={"consultation_gp": {"pct_br": 100, "flat": 10, "per": "act"}}), "soit"),
        (plan(guarantees={"consultation_gp": {}}), "soit"),
        (plan(extra=1), "extra"),
        ({"plans": [plan()["plans"][0], plan()["plans"][0]]}, "doublon"),
        ({"plan": []}, "plans"),
        ([], "plans"),
    ],
)
def test_bad_plans_are_refused_whole(runtime: Runtime, document: Any, fragment: str) -> None:
    with pytest.raises(ImportRejected) as caught:
        parse_plans_file(json.dumps(document, indent=2))
    assert any(fragment in e.reason for e in caught.value.errors), caught.value.errors
    assert all(e.line >= 1 for e in caught.value.errors)


def test_malformed_json_reports_its_line(runtime: Runtime) -> None:
    with pytest.raises(ImportRejected) as caught:
        parse_plans_file('{\n "plans": [\n  {,}\n ]\n}')
    assert caught.value.errors[0].line == 3


def test_errors_point_at_the_plan_line(runtime: Runtime) -> None:
    document = {"plans": [plan()["plans"][0], plan(code="P2", amc="1")["plans"][0]]}
    text = json.dumps(document, indent=2)
    with pytest.raises(ImportRejected) as caught:
        parse_plans_file(text)
    line = caught.value.errors[0].line
    assert '"code": "P2"' in text.splitlines()[line - 1]


def test_one_bad_plan_leaves_every_plan_untouched(runtime: Runtime) -> None:
    apply(runtime, PLANS)
    document = json.loads(json.dumps(PLANS))
    document["plans"][0]["guarantees"]["consultation_gp"] = {"pct_br": 999}
    document["plans"].append(plan(amc="x")["plans"][0])
    with pytest.raises(ImportRejected):
        apply(runtime, document)
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(Plan.guarantees).where(Plan.code == "CONFORT")).scalar_one()
    assert stored["consultation_gp"] == {"pct_br": "200"}
