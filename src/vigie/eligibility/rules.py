"""Cost rules v1: how one billed line splits between AMO, AMC and the patient.

Pure code, no I/O. Invariant: every amount is a Decimal rounded half-up to the cent, and for every
line ``amo + amc + patient == billed``; the AMC never pays the AMO deduction.

What the brief leaves open, decided here:
- A responsable plan pays ``left`` on the 100 % Santé categories even when it lists them (the law
  wants the patient to pay nothing there, whatever the guarantee table says).
- Renewal periods are counted from agreements dated before the care date, and also after it
  (an equipment agreed for a later date blocks a backdated one within the period). Within one
  request, optics counts one equipment and hearing one device per ear (two lines); further
  lines of that family get 0.
- A line starts a renewal period when it is agreed with ``amc > 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from vigie.eligibility.categories import (
    AUDIO,
    SANTE_100,
    Category,
    LensClass,
    equipment_family,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

Per = Literal["act", "equipment", "ear", "year"]

OPTICS_B_CEILING = {
    LensClass.simple: Decimal("420.00"),
    LensClass.complex: Decimal("700.00"),
    LensClass.very_complex: Decimal("800.00"),
}
AUDIO_2_CEILING = Decimal("1700.00")

# How many lines of a family one request may cover: one pair of glasses, or one device per ear.
LINES_PER_REQUEST = {"optics": 1, "audio": 2}


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Guarantee:
    """Either ``pct_br`` (a percentage of BR that includes the AMO part) or a ``flat`` amount."""

    pct_br: Decimal | None = None
    flat: Decimal | None = None
    per: Per | None = None


@dataclass(frozen=True)
class PlanTerms:
    responsable: bool
    guarantees: Mapping[Category, Guarantee]


@dataclass(frozen=True)
class Line:
    category: Category
    billed: Decimal
    br: Decimal
    amo_rate: Decimal
    amo_deduction: Decimal = ZERO
    lens_class: LensClass | None = None
    prescription_changed: bool = False


@dataclass(frozen=True)
class History:
    """What earlier agreements of this beneficiary consumed, as seen on the care date."""

    # Equipment family ("optics", "audio") -> care date of the last agreed line with amc > 0.
    last_equipment: Mapping[str, date] = field(default_factory=dict)
    # Family -> the first such line dated after the care date (an agreement for later care).
    next_equipment: Mapping[str, date] = field(default_factory=dict)
    # Category -> AMC already agreed in the calendar year of the care date (per-year guarantees).
    year_consumed: Mapping[Category, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class LineSplit:
    category: Category
    billed: Decimal
    amo: Decimal
    amc: Decimal
    patient: Decimal
    covered: bool
    reason: str
    # True when this line, once agreed, starts a renewal period for its family.
    starts_period: bool = False


def split_lines(
    plan: PlanTerms,
    lines: Sequence[Line],
    *,
    care_date: date,
    birth_date: date,
    history: History,
) -> list[LineSplit]:
    """Split every line of one request; budgets and renewal are shared across its lines."""
    consumed = dict(history.year_consumed)
    family_lines: dict[str, int] = {}
    results = []
    for line in lines:
        family = equipment_family(line.category)
        blocked = False
        if family is not None:
            blocked = _in_renewal_period(line, family, care_date, birth_date, history)
            blocked = blocked or family_lines.get(family, 0) >= LINES_PER_REQUEST[family]
        result = _split_one(plan, line, consumed, blocked)
        if result.amc > 0 and family is not None:
            family_lines[family] = family_lines.get(family, 0) + 1
            result = _with_period(result)
        results.append(result)
    return results


def terms_read(plan: PlanTerms, lines: Sequence[Line]) -> tuple[object, ...]:
    """What ``split_lines`` reads of ``plan`` for ``lines``: two plans equal here split the
    lines alike, for the same history."""
    return (plan.responsable, *(plan.guarantees.get(line.category) for line in lines))


def _split_one(
    plan: PlanTerms, line: Line, consumed: dict[Category, Decimal], blocked: bool
) -> LineSplit:
    amo_gross = money(line.br * line.amo_rate)
    amo = max(ZERO, amo_gross - line.amo_deduction)
    left = max(ZERO, line.billed - amo_gross)
    if blocked:
        return _result(line, amo, ZERO, covered=False, reason="renewal_period")
    guarantee = plan.guarantees.get(line.category)
    if plan.responsable and line.category in SANTE_100:
        amc, reason = left, "sante_100"
    elif guarantee is None:
        return _result(line, amo, ZERO, covered=False, reason="not_in_plan")
    elif guarantee.pct_br is not None:
        amc = min(left, max(ZERO, money(guarantee.pct_br / 100 * line.br) - amo_gross))
        reason = "pct_br"
    elif guarantee.per == "year":
        assert guarantee.flat is not None
        remaining = max(ZERO, guarantee.flat - consumed.get(line.category, ZERO))
        amc = min(left, remaining)
        reason = "flat_year" if remaining > 0 else "year_ceiling_reached"
    else:
        assert guarantee.flat is not None
        amc, reason = min(left, guarantee.flat), "flat"
    if plan.responsable:
        ceiling = _legal_ceiling(line)
        if ceiling is not None and amo_gross + amc > ceiling:
            amc, reason = max(ZERO, ceiling - amo_gross), "legal_ceiling"
    if guarantee is not None and guarantee.per == "year":
        consumed[line.category] = consumed.get(line.category, ZERO) + amc
    return _result(line, amo, amc, covered=True, reason=reason)


def _legal_ceiling(line: Line) -> Decimal | None:
    if line.category == Category.optics_b and line.lens_class is not None:
        return OPTICS_B_CEILING[line.lens_class]
    if line.category == Category.audio_2:
        return AUDIO_2_CEILING
    return None


def _in_renewal_period(
    line: Line, family: str, care_date: date, birth_date: date, history: History
) -> bool:
    if line.prescription_changed:
        return False
    years = 4 if line.category in AUDIO else (1 if age_on(birth_date, care_date) < 16 else 2)
    last = history.last_equipment.get(family)
    later = history.next_equipment.get(family)
    # Both ways: backdating a request before an agreed equipment must not open a second one.
    return (last is not None and care_date < add_years(last, years)) or (
        later is not None and later < add_years(care_date, years)
    )


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def add_years(day: date, years: int) -> date:
    if day.year + years > date.max.year:
        return date.max
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def _result(line: Line, amo: Decimal, amc: Decimal, *, covered: bool, reason: str) -> LineSplit:
    amc = money(amc)
    return LineSplit(
        category=line.category,
        billed=line.billed,
        amo=amo,
        amc=amc,
        patient=line.billed - amo - amc,
        covered=covered,
        reason=reason,
    )


def _with_period(result: LineSplit) -> LineSplit:
    return LineSplit(**{**result.__dict__, "starts_period": True})
