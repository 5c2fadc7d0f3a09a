"""The plan cache: parsed guarantee tables, and the plans remembered per mutuelle for the
PostgreSQL answers prepared ahead (vigie.eligibility.lock_free)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vigie.eligibility.service import PLANS_PER_AMC, PlanCache


def test_the_plans_remembered_per_mutuelle_are_bounded_and_keep_the_latest_version() -> None:
    plans = PlanCache()
    table: dict[str, Any] = {}
    for plan_id in range(PLANS_PER_AMC + 3):
        plans.terms(plan_id, datetime(2026, 1, 1, tzinfo=UTC), False, table, amc="123456789")
    newer = datetime(2026, 6, 1, tzinfo=UTC)
    plans.terms(5, newer, False, table, amc="123456789")
    known = plans.known("123456789")
    assert len(known) == PLANS_PER_AMC
    assert known[-1].plan_id == 5 and known[-1].version == newer
    assert [p.plan_id for p in known].count(5) == 1
    assert plans.known("987654321") == ()
    plans.terms(1, newer, False, table)  # no card: nothing remembered
    assert plans.known("987654321") == ()
