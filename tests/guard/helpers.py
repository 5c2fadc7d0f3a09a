"""Driving the guard as the API does: admit, then the answer, then observe."""

from __future__ import annotations

from vigie.guard.engine import Decision, Guard
from vigie.guard.features import Caller, Question
from vigie.guard.gcra import MemoryQuotaStore
from vigie.guard.memory import MemoryContainment
from vigie.identity.identifiers import Profession

MONDAY_9H = 1_772_409_600.0 + 8 * 3_600  # 2026-03-02 09:00 in France (UTC+1)


def new_guard() -> tuple[Guard, MemoryContainment]:
    containment = MemoryContainment()
    return Guard(MemoryQuotaStore(), containment), containment


def pro(
    account: int = 1,
    profession: Profession = Profession.pharmacist,
    departement: str = "75",
    structure: int | None = None,
) -> Caller:
    return Caller(account, f"rpps:{account}", profession, departement, structure)


def q(
    patient: int,
    departement: str = "75",
    *,
    series: int = 0,
    order: int = 0,
    cardless: bool = False,
    agree: bool = True,
) -> Question:
    return Question(patient, departement, series or patient, order, cardless, agree)


def ask(
    guard: Guard,
    caller: Caller,
    question: Question,
    now: float,
    *,
    positive: bool = True,
    origin: int = 1,
    stepped_up_at: float | None = None,
) -> Decision:
    verdict = guard.admit(caller, question, origin, stepped_up_at, now)
    if verdict.refused:
        return verdict.decision
    return guard.observe(caller, question, origin, positive, now).decision
