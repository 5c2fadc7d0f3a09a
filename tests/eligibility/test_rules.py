"""Tests for the cost rules v1 (``vigie.eligibility.rules``), written from the brief.

Every expected value below was worked out by hand from the brief's "Cost rules v1"; the arithmetic
is in the comment next to it. Notation: ``gross`` = amo_gross = round(br x amo_rate),
``amo`` = max(0, gross - deduction), ``left`` = max(0, billed - gross),
``patient`` = billed - amo - amc. round() is half-up to the cent.

Where the brief is silent the tests follow the decisions listed in the rules module's docstring;
the few places where a test pins a convention that is *not* in that docstring say so.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigie.eligibility.categories import AUDIO, OPTICS, SANTE_100, Category, LensClass
from vigie.eligibility.rules import (
    Guarantee,
    History,
    Line,
    LineSplit,
    Per,
    PlanTerms,
    split_lines,
)

C = Category
CARE = date(2025, 6, 15)
ADULT = date(1980, 3, 1)
NO_HISTORY = History()


# --------------------------------------------------------------------------- helpers


def D(text: str) -> Decimal:
    return Decimal(text)


def plan(responsable: bool, **guarantees: Guarantee) -> PlanTerms:
    return PlanTerms(
        responsable=responsable, guarantees={C(name): g for name, g in guarantees.items()}
    )


def pct(p: str) -> Guarantee:
    return Guarantee(pct_br=D(p))


def flat(amount: str, per: Per) -> Guarantee:
    return Guarantee(flat=D(amount), per=per)


def line(
    category: Category,
    billed: str,
    br: str,
    rate: str,
    deduction: str = "0.00",
    *,
    lens: LensClass | None = None,
    changed: bool = False,
) -> Line:
    return Line(
        category=category,
        billed=D(billed),
        br=D(br),
        amo_rate=D(rate),
        amo_deduction=D(deduction),
        lens_class=lens,
        prescription_changed=changed,
    )


def split(
    terms: PlanTerms,
    lines: Sequence[Line],
    *,
    care_date: date = CARE,
    birth_date: date = ADULT,
    history: History = NO_HISTORY,
) -> list[LineSplit]:
    results = split_lines(terms, lines, care_date=care_date, birth_date=birth_date, history=history)
    assert len(results) == len(lines)
    for result, source in zip(results, lines, strict=True):
        assert_well_formed(result, source)
    return results


def one(
    terms: PlanTerms,
    single: Line,
    *,
    care_date: date = CARE,
    birth_date: date = ADULT,
    history: History = NO_HISTORY,
) -> LineSplit:
    return split(terms, [single], care_date=care_date, birth_date=birth_date, history=history)[0]


def is_cents(value: object) -> bool:
    """A Decimal (never a float) written with exactly two decimals."""
    return type(value) is Decimal and value.as_tuple().exponent == -2


def assert_well_formed(result: LineSplit, source: Line) -> None:
    assert result.category == source.category
    assert result.billed == source.billed
    for amount in (result.amo, result.amc, result.patient):
        assert is_cents(amount), amount
    assert result.amo + result.amc + result.patient == result.billed
    assert result.amo >= 0
    assert result.amc >= 0


def expect(result: LineSplit, amo: str, amc: str, patient: str) -> None:
    assert (result.amo, result.amc, result.patient) == (D(amo), D(amc), D(patient))
    # Decimal equality ignores the exponent; the text must be the cent form as well.
    assert (str(result.amo), str(result.amc), str(result.patient)) == (amo, amc, patient)


# --------------------------------------------------------------------------- AMO and rounding

EMPTY_PLAN = plan(False)


@pytest.mark.parametrize(
    ("br", "rate", "amo", "patient"),
    [
        ("26.50", "0.70", "18.55", "7.95"),  # 26.50 x 0.70 = 18.55 exactly; 26.50 - 18.55 = 7.95
        ("10.05", "0.50", "5.03", "5.02"),  # 5.025 -> 5.03 half-up (half-even: 5.02)
        ("1.15", "0.30", "0.35", "0.80"),  # 0.345 -> 0.35 (a binary float gives 0.34)
        ("2.50", "0.65", "1.63", "0.87"),  # 1.625 -> 1.63; 2.50 - 1.63 = 0.87
        ("12.34", "0.15", "1.85", "10.49"),  # 1.851 -> 1.85; 12.34 - 1.85 = 10.49
        ("16.13", "0.60", "9.68", "6.45"),  # 9.678 -> 9.68; 16.13 - 9.68 = 6.45
        ("0.01", "0.50", "0.01", "0.00"),  # 0.005 -> 0.01
        ("0.01", "0.49", "0.00", "0.01"),  # 0.0049 -> 0.00
        ("3.33", "0.30", "1.00", "2.33"),  # 0.999 -> 1.00
        ("100.00", "0.00", "0.00", "100.00"),  # rate 0: AMO pays nothing
        ("100.00", "1.00", "100.00", "0.00"),  # rate 1: AMO pays all of BR
    ],
)
def test_amo_gross_is_rounded_half_up_to_the_cent(
    br: str, rate: str, amo: str, patient: str
) -> None:
    # billed = br, category not in the plan (amc 0): patient = br - amo.
    result = one(EMPTY_PLAN, line(C.lab, br, br, rate))
    expect(result, amo, "0.00", patient)


def test_inputs_without_cents_still_give_cent_amounts() -> None:
    # gross = 25 x 0.7 = 17.5 -> 17.50; amo = 17.50 - 2 = 15.50; left = 30 - 17.50 = 12.50;
    # pct 100: round(25) - 17.50 = 7.50 -> amc 7.50; patient = 30 - 15.50 - 7.50 = 7.00.
    terms = plan(True, consultation_gp=Guarantee(pct_br=D("100")))
    single = Line(C.consultation_gp, D("30"), D("25"), D("0.7"), amo_deduction=D("2"))
    expect(one(terms, single), "15.50", "7.50", "7.00")


@pytest.mark.parametrize(
    ("category", "billed", "br", "rate", "deduction", "amo", "amc", "patient"),
    [
        # Participation forfaitaire 2 EUR: gross 26.50 x 0.70 = 18.55, amo 18.55 - 2 = 16.55;
        # left 26.50 - 18.55 = 7.95, pct 100: 26.50 - 18.55 = 7.95 -> amc 7.95;
        # patient 26.50 - 16.55 - 7.95 = 2.00 (exactly the deduction).
        (C.consultation_gp, "26.50", "26.50", "0.70", "2.00", "16.55", "7.95", "2.00"),
        # Franchise 1 EUR larger than the AMO: gross 4.00 x 0.15 = 0.60, amo max(0, -0.40) = 0;
        # left 4.00 - 0.60 = 3.40, pct 100: 4.00 - 0.60 = 3.40 -> amc 3.40;
        # patient 4.00 - 0.00 - 3.40 = 0.60 (the part of the franchise actually deducted).
        (C.pharmacy_15, "4.00", "4.00", "0.15", "1.00", "0.00", "3.40", "0.60"),
        # Franchise equal to the AMO: gross 3.33 x 0.30 = 0.999 -> 1.00, amo 1.00 - 1.00 = 0;
        # left 2.33, pct 100: 3.33 - 1.00 = 2.33 -> amc 2.33; patient 3.33 - 0 - 2.33 = 1.00.
        (C.pharmacy_30, "3.33", "3.33", "0.30", "1.00", "0.00", "2.33", "1.00"),
        # Deduction 2 EUR on a 100 % drug: gross 10.00, amo 8.00; pct 100: 10 - 10 = 0 -> amc 0;
        # patient 10.00 - 8.00 - 0 = 2.00.
        (C.pharmacy_100, "10.00", "10.00", "1.00", "2.00", "8.00", "0.00", "2.00"),
    ],
)
def test_deduction_is_taken_from_the_amo_and_left_to_the_patient(
    category: Category,
    billed: str,
    br: str,
    rate: str,
    deduction: str,
    amo: str,
    amc: str,
    patient: str,
) -> None:
    terms = plan(True, **{category.value: pct("100")})
    expect(one(terms, line(category, billed, br, rate, deduction)), amo, amc, patient)


def test_rich_plan_covers_the_whole_overrun_but_never_the_deduction() -> None:
    # gross 30.00 x 0.70 = 21.00, amo 21.00 - 2.00 = 19.00; left 60.00 - 21.00 = 39.00;
    # pct 300: round(3 x 30.00) - 21.00 = 69.00 -> amc min(39.00, 69.00) = 39.00;
    # patient 60.00 - 19.00 - 39.00 = 2.00 = the participation forfaitaire.
    terms = plan(True, consultation_specialist=pct("300"))
    result = one(terms, line(C.consultation_specialist, "60.00", "30.00", "0.70", "2.00"))
    expect(result, "19.00", "39.00", "2.00")


def test_sante_100_pays_left_but_not_the_deduction() -> None:
    # gross 120.00 x 0.60 = 72.00, amo 72.00 - 2.00 = 70.00; left 500.00 - 72.00 = 428.00;
    # responsable + dental_100s -> amc = left = 428.00; patient 500 - 70 - 428 = 2.00.
    result = one(plan(True), line(C.dental_100s, "500.00", "120.00", "0.60", "2.00"))
    expect(result, "70.00", "428.00", "2.00")


# --------------------------------------------------------------------------- pct_br


@pytest.mark.parametrize(
    ("p", "billed", "br", "amo", "amc", "patient"),
    [
        # 100 %, no overrun: gross 31.50 x 0.70 = 22.05; 31.50 - 22.05 = 9.45 = left -> amc 9.45;
        # patient 31.50 - 22.05 - 9.45 = 0.00 (ticket modérateur covered).
        ("100", "31.50", "31.50", "22.05", "9.45", "0.00"),
        # 100 % with overrun: left 50.00 - 22.05 = 27.95; amc min(27.95, 9.45) = 9.45;
        # patient 50.00 - 22.05 - 9.45 = 18.50 (the dépassement).
        ("100", "50.00", "31.50", "22.05", "9.45", "18.50"),
        # 200 %, overrun within it: round(2 x 31.50) - 22.05 = 63.00 - 22.05 = 40.95;
        # left 27.95 -> amc 27.95; patient 0.00.
        ("200", "50.00", "31.50", "22.05", "27.95", "0.00"),
        # 200 %, overrun beyond it: left 80.00 - 22.05 = 57.95 -> amc 40.95;
        # patient 80.00 - 22.05 - 40.95 = 17.00 (= 80.00 - 2 x 31.50).
        ("200", "80.00", "31.50", "22.05", "40.95", "17.00"),
        # 300 % with dépassement: gross 30.00 x 0.70 = 21.00; round(90.00) - 21.00 = 69.00;
        # left 120.00 - 21.00 = 99.00 -> amc 69.00; patient 120.00 - 21.00 - 69.00 = 30.00.
        ("300", "120.00", "30.00", "21.00", "69.00", "30.00"),
        # P below the AMO rate: round(0.5 x 30.00) - 21.00 = 15.00 - 21.00 < 0 -> amc 0;
        # patient 40.00 - 21.00 = 19.00.
        ("50", "40.00", "30.00", "21.00", "0.00", "19.00"),
        # P equal to the AMO rate: 21.00 - 21.00 = 0 -> amc 0; patient 19.00.
        ("70", "40.00", "30.00", "21.00", "0.00", "19.00"),
        # P = 0: max(0, 0 - 21.00) = 0 -> amc 0.
        ("0", "40.00", "30.00", "21.00", "0.00", "19.00"),
        # billed = gross: left = 21.00 - 21.00 = 0 -> amc min(0, 60.00 - 21.00) = 0; patient 0.
        ("200", "21.00", "30.00", "21.00", "0.00", "0.00"),
    ],
)
def test_pct_br(p: str, billed: str, br: str, amo: str, amc: str, patient: str) -> None:
    terms = plan(True, consultation_specialist=pct(p))
    result = one(terms, line(C.consultation_specialist, billed, br, "0.70"))
    expect(result, amo, amc, patient)
    assert result.covered


def test_pct_br_target_is_rounded_half_up() -> None:
    # gross 10.03 x 0.60 = 6.018 -> 6.02; round(1.5 x 10.03) = round(15.045) = 15.05;
    # 15.05 - 6.02 = 9.03; left 20.00 - 6.02 = 13.98 -> amc 9.03;
    # patient 20.00 - 6.02 - 9.03 = 4.95.
    terms = plan(False, physiotherapy=pct("150"))
    expect(one(terms, line(C.physiotherapy, "20.00", "10.03", "0.60")), "6.02", "9.03", "4.95")


def test_pct_br_with_a_fractional_percentage() -> None:
    # gross 20.00 x 0.60 = 12.00; round(1.255 x 20.00) = 25.10; 25.10 - 12.00 = 13.10;
    # left 30.00 - 12.00 = 18.00 -> amc 13.10; patient 30.00 - 12.00 - 13.10 = 4.90.
    terms = plan(False, nursing=pct("125.5"))
    expect(one(terms, line(C.nursing, "30.00", "20.00", "0.60")), "12.00", "13.10", "4.90")


def test_billed_below_amo_gross_leaves_a_negative_patient_share() -> None:
    # BRIEF GAP (not a disagreement: code and brief agree). billed 20.00 < gross 30.00 x 0.70
    # = 21.00: left = max(0, -1.00) = 0 -> amc 0; amo = 21.00; the brief's formula gives
    # patient = 20.00 - 21.00 - 0 = -1.00. The brief does not say whether the AMO should be
    # limited to what was billed; this pins the literal formula.
    terms = plan(True, consultation_specialist=pct("200"))
    result = one(terms, line(C.consultation_specialist, "20.00", "30.00", "0.70"))
    expect(result, "21.00", "0.00", "-1.00")


# --------------------------------------------------------------------------- flat amounts


@pytest.mark.parametrize(
    ("amount", "amc", "patient"),
    [
        # gross 16.13 x 0.60 = 9.678 -> 9.68; left 40.00 - 9.68 = 30.32.
        ("25", "25.00", "5.32"),  # min(30.32, 25) = 25.00; 40.00 - 9.68 - 25.00 = 5.32
        ("50", "30.32", "0.00"),  # min(30.32, 50) = 30.32; patient 0.00
        ("30.32", "30.32", "0.00"),  # exactly left
        ("0", "0.00", "30.32"),  # a zero flat pays nothing
    ],
)
def test_flat_per_act(amount: str, amc: str, patient: str) -> None:
    terms = plan(True, physiotherapy=flat(amount, "act"))
    expect(one(terms, line(C.physiotherapy, "40.00", "16.13", "0.60")), "9.68", amc, patient)


@pytest.mark.parametrize(
    ("amount", "amc", "patient"),
    [
        # gross 9.00 x 0.60 = 5.40; left 350.00 - 5.40 = 344.60 (non-responsable: no ceiling).
        ("250", "250.00", "94.60"),  # 350.00 - 5.40 - 250.00 = 94.60
        ("400", "344.60", "0.00"),  # min(344.60, 400) = 344.60
    ],
)
def test_flat_per_equipment(amount: str, amc: str, patient: str) -> None:
    terms = plan(False, optics_b=flat(amount, "equipment"))
    single = line(C.optics_b, "350.00", "9.00", "0.60", lens=LensClass.simple)
    expect(one(terms, single), "5.40", amc, patient)


@pytest.mark.parametrize(
    ("amount", "amc", "patient"),
    [
        # gross 400.00 x 0.60 = 240.00; left 1500.00 - 240.00 = 1260.00; ceiling 1700 not hit.
        ("800", "800.00", "460.00"),  # 1500.00 - 240.00 - 800.00 = 460.00
        ("1500", "1260.00", "0.00"),  # min(1260, 1500) = 1260; 240 + 1260 = 1500 <= 1700
    ],
)
def test_flat_per_ear(amount: str, amc: str, patient: str) -> None:
    terms = plan(True, audio_2=flat(amount, "ear"))
    expect(one(terms, line(C.audio_2, "1500.00", "400.00", "0.60")), "240.00", amc, patient)


def test_flat_per_ear_pays_each_ear() -> None:
    # Two lines = two ears, each: min(1260.00, 800) = 800.00, patient 460.00.
    terms = plan(True, audio_2=flat("800", "ear"))
    ear = line(C.audio_2, "1500.00", "400.00", "0.60")
    left, right = split(terms, [ear, ear])
    expect(left, "240.00", "800.00", "460.00")
    expect(right, "240.00", "800.00", "460.00")


# --------------------------------------------------------------------------- flat per year


def test_flat_per_year_uses_what_history_left_and_is_consumed_line_by_line() -> None:
    # F = 300, already consumed 120.00 this year -> 180.00 remains. br 0, rate 0: gross 0.
    # line 1: min(100.00, 180.00) = 100.00, remains 80.00; patient 0.00
    # line 2: min(100.00, 80.00) = 80.00, remains 0; patient 100.00 - 80.00 = 20.00
    # line 3: remains 0 -> amc 0.00 (year_ceiling_reached); patient 50.00
    terms = plan(True, dental_free=flat("300", "year"))
    history = History(year_consumed={C.dental_free: D("120.00")})
    results = split(
        terms,
        [
            line(C.dental_free, "100.00", "0.00", "0.00"),
            line(C.dental_free, "100.00", "0.00", "0.00"),
            line(C.dental_free, "50.00", "0.00", "0.00"),
        ],
        history=history,
    )
    expect(results[0], "0.00", "100.00", "0.00")
    expect(results[1], "0.00", "80.00", "20.00")
    expect(results[2], "0.00", "0.00", "50.00")
    assert [r.reason for r in results] == ["flat_year", "flat_year", "year_ceiling_reached"]


def test_flat_per_year_with_amo_over_several_lines() -> None:
    # F = 100. Each line: gross 16.13 x 0.60 = 9.678 -> 9.68; left 40.00 - 9.68 = 30.32.
    # remains 100.00 -> 30.32 (69.68 left) -> 30.32 (39.36) -> 30.32 (9.04) -> 9.04 (0) -> 0.
    # patient on line 4: 40.00 - 9.68 - 9.04 = 21.28; line 5: 40.00 - 9.68 = 30.32.
    terms = plan(False, physiotherapy=flat("100", "year"))
    session = line(C.physiotherapy, "40.00", "16.13", "0.60")
    results = split(terms, [session] * 5)
    assert [str(r.amc) for r in results] == ["30.32", "30.32", "30.32", "9.04", "0.00"]
    assert [str(r.patient) for r in results] == ["0.00", "0.00", "0.00", "21.28", "30.32"]
    assert sum((r.amc for r in results), D("0")) == D("100.00")
    assert results[4].reason == "year_ceiling_reached"


@pytest.mark.parametrize("consumed", ["300.00", "350.00"])
def test_flat_per_year_exhausted_by_history(consumed: str) -> None:
    # remains max(0, 300 - consumed) = 0 -> amc 0.00; patient = billed = 80.00.
    terms = plan(True, dental_free=flat("300", "year"))
    history = History(year_consumed={C.dental_free: D(consumed)})
    result = one(terms, line(C.dental_free, "80.00", "0.00", "0.00"), history=history)
    expect(result, "0.00", "0.00", "80.00")
    assert result.reason == "year_ceiling_reached"


def test_flat_per_year_budgets_are_per_category() -> None:
    # dental_free's budget is spent; dental_care has its own 200 budget, untouched by it.
    # dental_care: gross 30.00 x 0.60 = 18.00; left 150.00 - 18.00 = 132.00;
    # min(132.00, 200) = 132.00, patient 0.00. Then dental_free: 0.00, patient 40.00.
    terms = plan(True, dental_free=flat("300", "year"), dental_care=flat("200", "year"))
    history = History(year_consumed={C.dental_free: D("300.00")})
    care, free = split(
        terms,
        [line(C.dental_care, "150.00", "30.00", "0.60"), line(C.dental_free, "40.00", "0", "0")],
        history=history,
    )
    expect(care, "18.00", "132.00", "0.00")
    expect(free, "0.00", "0.00", "40.00")


def test_split_lines_is_pure() -> None:
    # Budgets consumed inside one call do not leak into the next or into the history.
    terms = plan(True, dental_free=flat("300", "year"))
    consumed = {C.dental_free: D("250.00")}
    history = History(year_consumed=consumed)
    item = line(C.dental_free, "100.00", "0.00", "0.00")
    first = split(terms, [item], history=history)
    second = split(terms, [item], history=history)
    assert first == second
    assert str(first[0].amc) == "50.00"  # min(100.00, 300 - 250.00) = 50.00
    assert consumed == {C.dental_free: D("250.00")}
    assert split(terms, []) == []


# --------------------------------------------------------------------------- plan coverage


def test_category_not_in_the_plan_gets_nothing() -> None:
    # gross 20.00 x 0.60 = 12.00; amc 0; patient 20.00 - 12.00 = 8.00.
    terms = plan(True, consultation_gp=pct("100"))
    result = one(terms, line(C.lab, "20.00", "20.00", "0.60"))
    expect(result, "12.00", "0.00", "8.00")
    assert not result.covered
    assert result.reason == "not_in_plan"


# (category, billed, br): gross = br x 0.60; left = billed - gross.
SANTE_LINES = [
    # gross 50.00 x 0.60 = 30.00; left 105.00 - 30.00 = 75.00
    (C.optics_a, "105.00", "50.00", "30.00", "75.00"),
    # gross 120.00 x 0.60 = 72.00; left 500.00 - 72.00 = 428.00
    (C.dental_100s, "500.00", "120.00", "72.00", "428.00"),
    # gross 400.00 x 0.60 = 240.00; left 950.00 - 240.00 = 710.00
    (C.audio_1, "950.00", "400.00", "240.00", "710.00"),
]


@pytest.mark.parametrize(("category", "billed", "br", "amo", "left"), SANTE_LINES)
def test_responsable_plan_covers_sante_100_even_unlisted(
    category: Category, billed: str, br: str, amo: str, left: str
) -> None:
    # amc = left; patient = billed - gross - left = 0.00.
    result = one(plan(True), line(category, billed, br, "0.60"))
    expect(result, amo, left, "0.00")
    assert result.covered


@pytest.mark.parametrize(("category", "billed", "br", "amo", "left"), SANTE_LINES)
def test_responsable_plan_covers_sante_100_even_when_listed_lower(
    category: Category, billed: str, br: str, amo: str, left: str
) -> None:
    # Documented decision: the listed guarantee (flat 20, or pct 100) is ignored, amc = left.
    terms = plan(True, **{category.value: flat("20", "equipment")})
    expect(one(terms, line(category, billed, br, "0.60")), amo, left, "0.00")
    terms = plan(True, **{category.value: pct("100")})
    expect(one(terms, line(category, billed, br, "0.60")), amo, left, "0.00")


@pytest.mark.parametrize(("category", "billed", "br", "amo", "left"), SANTE_LINES)
def test_non_responsable_plan_has_no_sante_100_rule(
    category: Category, billed: str, br: str, amo: str, left: str
) -> None:
    # unlisted: amc 0, patient = left.
    result = one(plan(False), line(category, billed, br, "0.60"))
    expect(result, amo, "0.00", left)
    assert result.reason == "not_in_plan"
    # listed flat 20: amc = min(left, 20) = 20.00, patient = left - 20.00.
    terms = plan(False, **{category.value: flat("20", "equipment")})
    patient = str(D(left) - D("20.00"))  # 55.00, 408.00, 690.00
    expect(one(terms, line(category, billed, br, "0.60")), amo, "20.00", patient)


def test_non_responsable_pct_br_on_dental_100s() -> None:
    # gross 72.00; pct 100: round(120.00) - 72.00 = 48.00; left 428.00 -> amc 48.00;
    # patient 500.00 - 72.00 - 48.00 = 380.00.
    terms = plan(False, dental_100s=pct("100"))
    expect(one(terms, line(C.dental_100s, "500.00", "120.00", "0.60")), "72.00", "48.00", "380.00")


# --------------------------------------------------------------------------- legal ceilings


@pytest.mark.parametrize(
    ("lens", "billed", "amount", "resp_amc", "resp_patient", "free_amc", "free_patient"),
    [
        # gross 10.00 x 0.60 = 6.00 on every row.
        # simple: left 594.00, min(594, 500) = 500; 6 + 500 = 506 > 420 -> 420 - 6 = 414.00;
        # patient 600 - 6 - 414 = 180.00. Not responsable: 500.00, 600 - 6 - 500 = 94.00.
        (LensClass.simple, "600.00", "500", "414.00", "180.00", "500.00", "94.00"),
        # complex: left 894.00, 800; 806 > 700 -> 694.00; patient 900 - 6 - 694 = 200.00.
        # Not responsable: 800.00, 900 - 6 - 800 = 94.00.
        (LensClass.complex, "900.00", "800", "694.00", "200.00", "800.00", "94.00"),
        # very complex: left 994.00, 900; 906 > 800 -> 794.00; patient 1000 - 6 - 794 = 200.00.
        # Not responsable: 900.00, 1000 - 6 - 900 = 94.00.
        (LensClass.very_complex, "1000.00", "900", "794.00", "200.00", "900.00", "94.00"),
        # simple under the ceiling: 6 + 300 = 306 <= 420 -> 300.00; 600 - 6 - 300 = 294.00.
        (LensClass.simple, "600.00", "300", "300.00", "294.00", "300.00", "294.00"),
        # simple at the ceiling: 6 + 414 = 420, not above -> 414.00.
        (LensClass.simple, "600.00", "414", "414.00", "180.00", "414.00", "180.00"),
    ],
)
def test_optics_b_legal_ceiling(
    lens: LensClass,
    billed: str,
    amount: str,
    resp_amc: str,
    resp_patient: str,
    free_amc: str,
    free_patient: str,
) -> None:
    glasses = line(C.optics_b, billed, "10.00", "0.60", lens=lens)
    responsable = one(plan(True, optics_b=flat(amount, "equipment")), glasses)
    expect(responsable, "6.00", resp_amc, resp_patient)
    # amo = gross here (no deduction): gross + amc within the legal ceiling.
    assert responsable.amo + responsable.amc <= to_money(CEILING_CENTS[lens])
    not_responsable = one(plan(False, optics_b=flat(amount, "equipment")), glasses)
    expect(not_responsable, "6.00", free_amc, free_patient)


def test_optics_b_ceiling_applies_to_pct_br_too() -> None:
    # pct 10000: round(100 x 10.00) - 6.00 = 994.00; left 594.00 -> 594.00;
    # 6 + 594 = 600 > 420 -> 414.00; patient 600 - 6 - 414 = 180.00.
    terms = plan(True, optics_b=pct("10000"))
    glasses = line(C.optics_b, "600.00", "10.00", "0.60", lens=LensClass.simple)
    result = one(terms, glasses)
    expect(result, "6.00", "414.00", "180.00")
    assert result.reason == "legal_ceiling"


def test_optics_b_ceiling_is_on_amo_gross_not_on_amo() -> None:
    # gross 6.00, deduction 2.00 -> amo 4.00; ceiling on gross + amc: 420 - 6.00 = 414.00;
    # patient 600.00 - 4.00 - 414.00 = 182.00.
    terms = plan(True, optics_b=flat("500", "equipment"))
    glasses = line(C.optics_b, "600.00", "10.00", "0.60", "2.00", lens=LensClass.simple)
    expect(one(terms, glasses), "4.00", "414.00", "182.00")


def test_audio_2_legal_ceiling_per_ear() -> None:
    # gross 400.00 x 0.60 = 240.00; left 2000.00 - 240.00 = 1760.00; flat 2000 -> 1760.00;
    # responsable: 240 + 1760 = 2000 > 1700 -> 1700 - 240 = 1460.00; patient 2000-240-1460 = 300.
    # not responsable: 1760.00, patient 0.00. Two ears: each line capped on its own.
    ear = line(C.audio_2, "2000.00", "400.00", "0.60")
    for result in split(plan(True, audio_2=flat("2000", "ear")), [ear, ear]):
        expect(result, "240.00", "1460.00", "300.00")
    for result in split(plan(False, audio_2=flat("2000", "ear")), [ear, ear]):
        expect(result, "240.00", "1760.00", "0.00")


def test_sante_100_categories_have_no_v1_ceiling() -> None:
    # The v1 ceilings name only optics_b and audio_2. audio_1, responsable: gross 240.00;
    # amc = left = 2000.00 - 240.00 = 1760.00 (240 + 1760 = 2000 > 1700 but no ceiling applies).
    result = one(plan(True), line(C.audio_1, "2000.00", "400.00", "0.60"))
    expect(result, "240.00", "1760.00", "0.00")


# --------------------------------------------------------------------------- renewal

# Optics line for renewal tests, non-responsable flat 200 per equipment:
# gross 10.00 x 0.60 = 6.00; left 300.00 - 6.00 = 294.00; open -> amc 200.00, patient 94.00;
# inside the period -> amc 0.00, patient 294.00.
OPTICS_PLAN = plan(False, optics_b=flat("200", "equipment"))
# Hearing line, non-responsable flat 800 per ear: gross 240.00; left 1260.00;
# open -> amc 800.00, patient 460.00; inside the period -> amc 0.00, patient 1260.00.
AUDIO_PLAN = plan(False, audio_2=flat("800", "ear"))


def glasses(*, changed: bool = False) -> Line:
    return line(C.optics_b, "300.00", "10.00", "0.60", lens=LensClass.simple, changed=changed)


def hearing_aid(*, changed: bool = False) -> Line:
    return line(C.audio_2, "1500.00", "400.00", "0.60", changed=changed)


def optics_after(last: date, care: date, birth: date = ADULT, changed: bool = False) -> LineSplit:
    history = History(last_equipment={"optics": last})
    return one(OPTICS_PLAN, glasses(changed=changed), care_date=care, birth_date=birth,
               history=history)  # fmt: skip


def audio_after(last: date, care: date, birth: date = ADULT) -> LineSplit:
    history = History(last_equipment={"audio": last})
    return one(AUDIO_PLAN, hearing_aid(), care_date=care, birth_date=birth, history=history)


def assert_open_optics(result: LineSplit) -> None:
    expect(result, "6.00", "200.00", "94.00")


def assert_blocked_optics(result: LineSplit) -> None:
    expect(result, "6.00", "0.00", "294.00")
    assert result.reason == "renewal_period"
    assert not result.starts_period


def test_optics_without_history_is_open() -> None:
    assert_open_optics(one(OPTICS_PLAN, glasses()))


@pytest.mark.parametrize(
    ("care", "is_open"),
    [
        (date(2024, 6, 15), False),  # one year after
        (date(2025, 6, 14), False),  # the day before the 2nd anniversary
        (date(2025, 6, 15), True),  # on the 2nd anniversary the new period is open
        (date(2025, 6, 16), True),
    ],
)
def test_optics_adult_two_years(care: date, is_open: bool) -> None:
    result = optics_after(date(2023, 6, 15), care)
    (assert_open_optics if is_open else assert_blocked_optics)(result)


def test_prescription_change_opens_a_new_period() -> None:
    # Last equipment 6 months ago, but the prescription changed: open.
    result = optics_after(date(2024, 12, 15), CARE, changed=True)
    assert_open_optics(result)
    assert result.starts_period


@pytest.mark.parametrize(
    ("last", "care", "is_open"),
    [
        # Child born 2010-03-20, last equipment 2025-03-01.
        # 2026-03-19: age 15 -> 1 year -> period ends 2026-03-01 -> open.
        (date(2025, 3, 1), date(2026, 3, 19), True),
        # 2026-03-20, the 16th birthday: age 16 -> 2 years -> ends 2027-03-01 -> blocked.
        (date(2025, 3, 1), date(2026, 3, 20), False),
        # Under 16, exactly on the 1st anniversary: open.
        (date(2025, 3, 19), date(2026, 3, 19), True),
        # Under 16, the day before the 1st anniversary: blocked.
        (date(2025, 3, 20), date(2026, 3, 19), False),
        # On the 16th birthday, exactly 2 years after: open; 2 years minus a day: blocked.
        (date(2024, 3, 20), date(2026, 3, 20), True),
        (date(2024, 3, 21), date(2026, 3, 20), False),
        # Age 14, 1 year and 1 day: open.
        (date(2023, 6, 14), date(2024, 6, 15), True),
    ],
)
def test_optics_under_16_one_year(last: date, care: date, is_open: bool) -> None:
    result = optics_after(last, care, birth=date(2010, 3, 20))
    (assert_open_optics if is_open else assert_blocked_optics)(result)


@pytest.mark.parametrize(
    ("care", "is_open"),
    [
        # Born 2008-02-29, last equipment 2023-02-20. 16th birthday is 2024-02-29 (a leap year).
        (date(2024, 2, 28), True),  # age 15: period ends 2024-02-20 -> open
        (date(2024, 2, 29), False),  # age 16: period ends 2025-02-20 -> blocked
    ],
)
def test_optics_16th_birthday_on_29_february(care: date, is_open: bool) -> None:
    result = optics_after(date(2023, 2, 20), care, birth=date(2008, 2, 29))
    (assert_open_optics if is_open else assert_blocked_optics)(result)


@pytest.mark.parametrize(
    ("care", "is_open"),
    [
        (date(2025, 2, 28), False),
        (date(2026, 2, 27), False),  # before any reading of "2 years after 2024-02-29"
        (date(2026, 3, 1), True),  # after any reading of it
    ],
)
def test_optics_last_equipment_on_29_february(care: date, is_open: bool) -> None:
    result = optics_after(date(2024, 2, 29), care)
    (assert_open_optics if is_open else assert_blocked_optics)(result)


def test_optics_29_february_anniversary_falls_on_28_february() -> None:
    # NOT IN THE BRIEF NOR IN THE DOCSTRING: "2 years after 2024-02-29" could be 2026-02-28 or
    # 2026-03-01. rules.add_years takes 28 February, so the new period opens on 2026-02-28.
    assert_open_optics(optics_after(date(2024, 2, 29), date(2026, 2, 28)))
    # Same convention under 16 (1 year): born 2012-01-01, 2025-02-28 is open.
    assert_open_optics(optics_after(date(2024, 2, 29), date(2025, 2, 28), birth=date(2012, 1, 1)))


def assert_open_audio(result: LineSplit) -> None:
    expect(result, "240.00", "800.00", "460.00")


def assert_blocked_audio(result: LineSplit) -> None:
    expect(result, "240.00", "0.00", "1260.00")
    assert result.reason == "renewal_period"


@pytest.mark.parametrize(
    ("last", "care", "birth", "is_open"),
    [
        (date(2021, 9, 10), date(2025, 9, 9), ADULT, False),  # 4 years minus a day
        (date(2021, 9, 10), date(2025, 9, 10), ADULT, True),  # the 4th anniversary
        (date(2022, 9, 10), date(2025, 9, 10), ADULT, False),  # 3 years: still blocked
        # A child gets no shorter period for hearing aids: born 2012-05-01, age 13, 2 years.
        (date(2023, 5, 1), date(2025, 5, 1), date(2012, 5, 1), False),
        (date(2023, 5, 1), date(2027, 5, 1), date(2012, 5, 1), True),  # age 15, 4 years
        # 29 February into a leap year: 2024-02-29 + 4 years = 2028-02-29.
        (date(2024, 2, 29), date(2028, 2, 28), ADULT, False),
        (date(2024, 2, 29), date(2028, 2, 29), ADULT, True),
    ],
)
def test_audio_four_years(last: date, care: date, birth: date, is_open: bool) -> None:
    result = audio_after(last, care, birth)
    (assert_open_audio if is_open else assert_blocked_audio)(result)


def test_audio_prescription_change_opens_a_new_period() -> None:
    history = History(last_equipment={"audio": date(2024, 1, 1)})
    assert_open_audio(one(AUDIO_PLAN, hearing_aid(changed=True), history=history))


def test_families_have_separate_periods() -> None:
    # Optics bought a month ago does not block hearing, and the reverse; nor other categories.
    # consultation_gp pct 100: gross 26.50 x 0.70 = 18.55, amc 7.95, patient 0.00.
    terms = plan(
        False,
        optics_b=flat("200", "equipment"),
        audio_2=flat("800", "ear"),
        consultation_gp=pct("100"),
    )
    gp = line(C.consultation_gp, "26.50", "26.50", "0.70")
    recent = date(2025, 5, 15)
    only_optics = History(last_equipment={"optics": recent})
    blocked, aid, visit = split(terms, [glasses(), hearing_aid(), gp], history=only_optics)
    assert_blocked_optics(blocked)
    assert_open_audio(aid)
    expect(visit, "18.55", "7.95", "0.00")
    only_audio = History(last_equipment={"audio": recent})
    fresh, blocked_aid = split(terms, [glasses(), hearing_aid()], history=only_audio)
    assert_open_optics(fresh)
    assert_blocked_audio(blocked_aid)


def test_renewal_period_applies_to_sante_100_too() -> None:
    # optics_a, responsable: would be amc = left = 105.00 - 30.00 = 75.00, but inside the
    # period -> amc 0.00, patient 75.00.
    history = History(last_equipment={"optics": date(2024, 6, 15)})
    result = one(plan(True), line(C.optics_a, "105.00", "50.00", "0.60"), history=history)
    expect(result, "30.00", "0.00", "75.00")
    assert result.reason == "renewal_period"


# --------------------------------------------------------------------------- within one request


def test_one_optics_equipment_per_request() -> None:
    # Responsable plan, optics_b flat 200: gross 6.00, 6 + 200 = 206 <= 420 -> 200.00, patient
    # 94.00, starts a period. Then optics_a (would be 75.00 by 100 % Santé): blocked, 0.00,
    # patient 105.00 - 30.00 = 75.00.
    terms = plan(True, optics_b=flat("200", "equipment"))
    first, second = split(terms, [glasses(), line(C.optics_a, "105.00", "50.00", "0.60")])
    expect(first, "6.00", "200.00", "94.00")
    expect(second, "30.00", "0.00", "75.00")
    assert (first.starts_period, second.starts_period) == (True, False)
    assert second.reason == "renewal_period"


def test_prescription_change_does_not_allow_a_second_equipment_in_one_request() -> None:
    first, second = split(OPTICS_PLAN, [glasses(), glasses(changed=True)])
    assert_open_optics(first)
    assert_blocked_optics(second)


def test_uncovered_optics_line_does_not_use_the_request_slot() -> None:
    # optics_a is not in this non-responsable plan: 0.00, patient 75.00, starts nothing.
    # The optics_b line after it is then the request's equipment: 200.00.
    unlisted, covered = split(OPTICS_PLAN, [line(C.optics_a, "105.00", "50.00", "0.60"), glasses()])
    expect(unlisted, "30.00", "0.00", "75.00")
    assert not unlisted.starts_period
    assert_open_optics(covered)
    assert covered.starts_period


def test_at_most_two_audio_lines_per_request() -> None:
    results = split(AUDIO_PLAN, [hearing_aid(), hearing_aid(), hearing_aid()])
    assert_open_audio(results[0])
    assert_open_audio(results[1])
    assert_blocked_audio(results[2])
    assert [r.starts_period for r in results] == [True, True, False]


def test_audio_1_and_audio_2_share_the_two_ears() -> None:
    # responsable: audio_1 unlisted -> amc = left = 950.00 - 240.00 = 710.00 (one ear);
    # audio_2 flat 800 -> 800.00 (other ear); the third line, audio_1 again, is blocked:
    # 0.00, patient 710.00.
    terms = plan(True, audio_2=flat("800", "ear"))
    class_1 = line(C.audio_1, "950.00", "400.00", "0.60")
    first, second, third = split(terms, [class_1, hearing_aid(), class_1])
    expect(first, "240.00", "710.00", "0.00")
    expect(second, "240.00", "800.00", "460.00")
    expect(third, "240.00", "0.00", "710.00")
    assert [r.starts_period for r in (first, second, third)] == [True, True, False]


def test_audio_history_blocks_both_ears() -> None:
    history = History(last_equipment={"audio": date(2023, 1, 1)})
    for result in split(AUDIO_PLAN, [hearing_aid(), hearing_aid()], history=history):
        assert_blocked_audio(result)
        assert not result.starts_period


def test_starts_period_only_for_equipment_with_amc() -> None:
    # optics 200.00 -> starts; audio 800.00 -> starts; consultation -> never.
    # optics_b whose billed equals gross (left 0 -> amc 0) starts nothing.
    terms = plan(
        False,
        optics_b=flat("200", "equipment"),
        audio_2=flat("800", "ear"),
        consultation_gp=pct("100"),
    )
    results = split(
        terms,
        [glasses(), hearing_aid(), line(C.consultation_gp, "26.50", "26.50", "0.70")],
    )
    assert [r.starts_period for r in results] == [True, True, False]
    no_overrun = line(C.optics_b, "6.00", "10.00", "0.60", lens=LensClass.simple)
    result = one(terms, no_overrun)
    expect(result, "6.00", "0.00", "0.00")  # gross 6.00 = billed: left 0
    assert not result.starts_period


def test_prescription_change_in_request_with_history() -> None:
    # History blocks optics; the first line's prescription changed: open and starts a period;
    # the second optics line is then over the one-equipment limit.
    history = History(last_equipment={"optics": date(2025, 1, 1)})
    first, second = split(OPTICS_PLAN, [glasses(changed=True), glasses()], history=history)
    assert_open_optics(first)
    assert first.starts_period
    assert_blocked_optics(second)


# --------------------------------------------------------------------------- types


def test_every_amount_is_a_decimal_never_a_float() -> None:
    terms = plan(True, consultation_gp=pct("200"), optics_b=flat("150", "equipment"))
    results = split(
        terms,
        [line(C.consultation_gp, "30.00", "26.50", "0.70", "2.00"), glasses(), glasses()],
    )
    for result in results:
        for name in ("billed", "amo", "amc", "patient"):
            value = getattr(result, name)
            assert isinstance(value, Decimal)
            assert not isinstance(value, float)
        assert {f.name for f in fields(result)} >= {"amo", "amc", "patient", "billed"}


# --------------------------------------------------------------------------- property test
# An independent oracle in integer cents, written from the brief plus the documented decisions.
# It never uses Decimal.quantize: half-up division of non-negative integers does the rounding.

PERS: tuple[Per, ...] = ("act", "equipment", "ear")
CEILING_CENTS = {
    LensClass.simple: 42_000,
    LensClass.complex: 70_000,
    LensClass.very_complex: 80_000,
}


def half_up(numerator: int, denominator: int) -> int:
    assert numerator >= 0
    return (2 * numerator + denominator) // (2 * denominator)


def cents(value: Decimal) -> int:
    scaled = value * 100
    assert scaled == scaled.to_integral_value()
    return int(scaled)


def to_money(amount: int) -> Decimal:
    return Decimal(amount).scaleb(-2)


def family_of(category: Category) -> str | None:
    return "optics" if category in OPTICS else "audio" if category in AUDIO else None


def years_later(day: date, years: int) -> date:
    if day.month == 2 and day.day == 29 and not calendar.isleap(day.year + years):
        return date(day.year + years, 2, 28)
    return date(day.year + years, day.month, day.day)


def age(birth: date, day: date) -> int:
    had_birthday = (day.month, day.day) >= (birth.month, birth.day)
    return day.year - birth.year - (0 if had_birthday else 1)


@dataclass(frozen=True)
class Expected:
    amo: int
    amc: int
    patient: int
    starts_period: bool


def oracle(
    terms: PlanTerms,
    lines: Sequence[Line],
    care: date,
    birth: date,
    last_equipment: Mapping[str, date],
    year_consumed: Mapping[Category, Decimal],
) -> list[Expected]:
    used = {category: cents(amount) for category, amount in year_consumed.items()}
    granted = {"optics": 0, "audio": 0}
    out = []
    for item in lines:
        billed, br = cents(item.billed), cents(item.br)
        gross = half_up(br * cents(item.amo_rate), 100)
        amo = max(0, gross - cents(item.amo_deduction))
        left = max(0, billed - gross)
        family = family_of(item.category)
        blocked = False
        if family is not None:
            over_limit = granted[family] >= (1 if family == "optics" else 2)
            last = last_equipment.get(family)
            period = 4 if family == "audio" else (1 if age(birth, care) < 16 else 2)
            in_period = (
                last is not None
                and not item.prescription_changed
                and care < years_later(last, period)
            )
            blocked = over_limit or in_period
        g = terms.guarantees.get(item.category)
        amc = 0
        if not blocked:
            if terms.responsable and item.category in SANTE_100:
                amc = left
            elif g is None:
                amc = 0
            elif g.pct_br is not None:
                target = half_up(cents(g.pct_br) * br, 10_000)  # P% of br, in cents
                amc = min(left, max(0, target - gross))
            elif g.per == "year":
                assert g.flat is not None
                amc = min(left, max(0, cents(g.flat) - used.get(item.category, 0)))
            else:
                assert g.flat is not None
                amc = min(left, cents(g.flat))
            if terms.responsable:
                ceiling = None
                if item.category == C.optics_b and item.lens_class is not None:
                    ceiling = CEILING_CENTS[item.lens_class]
                elif item.category == C.audio_2:
                    ceiling = 170_000
                if ceiling is not None:
                    amc = min(amc, max(0, ceiling - gross))
            if g is not None and g.per == "year":
                used[item.category] = used.get(item.category, 0) + amc
        starts = family is not None and amc > 0
        if starts:
            assert family is not None
            granted[family] += 1
        out.append(Expected(amo, amc, billed - amo - amc, starts))
    return out


def money_st(max_cents: int) -> st.SearchStrategy[Decimal]:
    # Hypothesis favours small integers; the second branch makes large amounts common too.
    small_or_any = st.integers(0, max_cents)
    large = st.integers(max_cents // 4, max_cents)
    return (small_or_any | large).map(to_money)


@st.composite
def guarantees(draw: st.DrawFn) -> Guarantee:
    kind = draw(st.sampled_from(["pct", "flat", "year"]))
    if kind == "pct":
        return Guarantee(pct_br=Decimal(draw(st.integers(0, 50_000))).scaleb(-2))
    if kind == "flat":
        return Guarantee(flat=draw(money_st(300_000)), per=draw(st.sampled_from(PERS)))
    return Guarantee(flat=draw(money_st(100_000)), per="year")


@st.composite
def plans(draw: st.DrawFn) -> PlanTerms:
    # Each category listed two times out of three.
    listed = [category for category in Category if draw(st.integers(0, 2))]
    return PlanTerms(
        responsable=draw(st.booleans()),
        guarantees={category: draw(guarantees()) for category in listed},
    )


# Equipment categories drawn more often, so that renewal, request limits and ceilings are hit.
CATEGORIES = list(Category) + [C.optics_a, C.optics_b, C.audio_1, C.audio_2] * 3


@st.composite
def lines_st(draw: st.DrawFn) -> Line:
    category = draw(st.sampled_from(CATEGORIES))
    br = draw(money_st(100_000))
    # Mostly billed >= br (with a dépassement); sometimes unrelated, even below the AMO.
    overrun = draw(money_st(300_000))
    billed = br + overrun if draw(st.integers(0, 3)) else overrun
    return Line(
        category=category,
        billed=billed,
        br=br,
        amo_rate=draw(st.integers(0, 100).map(to_money)),
        amo_deduction=draw(st.sampled_from([0, 50, 100, 200, 400]).map(to_money)),
        lens_class=draw(st.none() | st.sampled_from(list(LensClass))),
        prescription_changed=draw(st.booleans()),
    )


@st.composite
def histories(draw: st.DrawFn, care: date) -> History:
    last: dict[str, date] = {}
    for family in ("optics", "audio"):
        if draw(st.booleans()):
            last[family] = care - timedelta(days=draw(st.integers(0, 6 * 366)))
    consumed = draw(st.dictionaries(st.sampled_from(list(Category)), money_st(120_000), max_size=4))
    return History(last_equipment=last, year_consumed=consumed)


@st.composite
def requests(draw: st.DrawFn) -> tuple[PlanTerms, list[Line], date, date, History]:
    care = draw(st.dates(date(2020, 1, 1), date(2030, 12, 31)))
    birth = draw(st.dates(date(1940, 1, 1), care))
    return draw(plans()), draw(st.lists(lines_st(), max_size=6)), care, birth, draw(histories(care))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_property_split_matches_the_brief(
    drawn: tuple[PlanTerms, list[Line], date, date, History],
) -> None:
    terms, lines, care, birth, history = drawn
    results = split(terms, lines, care_date=care, birth_date=birth, history=history)
    expected = oracle(terms, lines, care, birth, history.last_equipment, history.year_consumed)
    for result, item, exp in zip(results, lines, expected, strict=True):
        # split() already checked: Decimals, 2 decimals, amo + amc + patient == billed.
        assert (result.amo, result.amc, result.patient) == (
            to_money(exp.amo),
            to_money(exp.amc),
            to_money(exp.patient),
        )
        assert result.starts_period == exp.starts_period
        gross = half_up(cents(item.br) * cents(item.amo_rate), 100)
        # The AMC never pays more than billed - gross, so never the deduction.
        assert cents(result.amc) <= max(0, cents(item.billed) - gross)
        if cents(item.billed) >= gross:
            assert cents(result.patient) >= gross - cents(result.amo)
    # At most one optics and two hearing lines paid per request.
    paid = [r.category for r in results if r.amc > 0]
    assert sum(c in OPTICS for c in paid) <= 1
    assert sum(c in AUDIO for c in paid) <= 2


def test_add_years_never_overflows_the_calendar() -> None:
    from vigie.eligibility.rules import add_years

    assert add_years(date(9998, 6, 1), 2) == date.max
    assert add_years(date(2024, 2, 29), 2) == date(2026, 2, 28)


def test_an_equipment_agreed_for_later_blocks_an_earlier_one() -> None:
    plan = PlanTerms(
        responsable=True, guarantees={Category.audio_2: Guarantee(flat=Decimal("800"), per="ear")}
    )
    aid = Line(Category.audio_2, Decimal("1500.00"), Decimal("400.00"), Decimal("0.60"))
    # Four years before 2027-01-01 is still open; a day later, the period would reach it.
    later = History(next_equipment={"audio": date(2027, 1, 1)})
    born = date(1950, 1, 1)
    open_day = split_lines(plan, [aid], care_date=date(2023, 1, 1), birth_date=born, history=later)
    assert open_day[0].amc > 0
    blocked = split_lines(plan, [aid], care_date=date(2023, 1, 2), birth_date=born, history=later)
    assert blocked[0].reason == "renewal_period"
