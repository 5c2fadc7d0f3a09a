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


def test_a_full_list_keeps_the_plans_in_use() -> None:
    plans = PlanCache()
    version = datetime(2026, 1, 1, tzinfo=UTC)
    for plan_id in range(PLANS_PER_AMC):
        plans.terms(plan_id, version, False, {}, amc="123456789")
    plans.used("123456789", 0)  # the oldest, just used: now the last to go
    plans.terms(99, version, False, {}, amc="123456789")  # a new plan pushes one out
    kept = [p.plan_id for p in plans.known("123456789")]
    assert 0 in kept and 1 not in kept and kept[-1] == 99
    before = plans.known("987654321")
    plans.used("987654321", 5)  # unknown mutuelle, or a list not full: nothing moves
    assert plans.known("987654321") == before == ()
