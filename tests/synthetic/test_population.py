"""The synthetic population follows the v1 formats, its family rules, and is reproducible."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from stdnum.fr import nir as stdnum_nir

from vigie.eligibility.categories import Category
from vigie.identity.identifiers import Profession, is_valid_finess, is_valid_postcode, is_valid_rpps
from vigie.rights.identifiers import canonical_member
from vigie.synthetic.population import (
    PROGRESS_EVERY,
    RIGHTS_HEADER,
    PopulationFiles,
    write_population,
)
from vigie.synthetic.professionals import HEADER as PROFESSIONALS_HEADER
from vigie.synthetic.professionals import PROFESSION_SHARES

INSURED = 2_000
PROFESSIONALS = 600
TODAY = date(2025, 3, 1)
PERS = {"act", "equipment", "ear", "year"}
STRUCTURED = {Profession.pharmacist, Profession.laboratory, Profession.hospital}

Row = dict[str, str]


@dataclass(frozen=True)
class Population:
    files: PopulationFiles
    plans: list[dict[str, Any]]
    rights: list[Row]
    professionals: list[Row]
    progress: list[int]


def _read_csv(path: Path) -> tuple[list[str], list[Row]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    calls: list[int] = []
    files = write_population(
        tmp_path_factory.mktemp("population"),
        insured=INSURED,
        professionals=PROFESSIONALS,
        seed=7,
        today=TODAY,
        progress=calls.append,
    )
    plans = json.loads(files.plans.read_text("utf-8"))["plans"]
    header, rights = _read_csv(files.rights)
    assert tuple(header) == RIGHTS_HEADER
    header, pros = _read_csv(files.professionals)
    assert tuple(header) == PROFESSIONALS_HEADER
    return Population(files, plans, rights, pros, calls)


def _families(rights: list[Row]) -> dict[tuple[str, str], list[Row]]:
    families: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rights:
        families[row["amc"], row["member"]].append(row)
    return families


def _owns(row: Row) -> bool:
    """The NIR was made for this row's person (sex aside): year and month of birth match."""
    born = date.fromisoformat(row["birth_date"])
    return row["nir"][1:5] == f"{born.year % 100:02d}{born.month:02d}"


def test_plans_follow_v1_format(population: Population) -> None:
    plans, categories = population.plans, {str(c) for c in Category}
    for plan in plans:
        assert set(plan) == {"code", "amc", "responsable", "guarantees"}
        assert re.fullmatch(r"\d{9}", str(plan["amc"]))
        assert isinstance(plan["responsable"], bool)
        guarantees = plan["guarantees"]
        assert isinstance(guarantees, dict) and guarantees
        for category, guarantee in guarantees.items():
            assert category in categories
            if "pct_br" in guarantee:
                assert set(guarantee) == {"pct_br"} and guarantee["pct_br"] >= 100
            else:
                assert set(guarantee) == {"flat", "per"} and guarantee["per"] in PERS
                assert isinstance(guarantee["flat"], int) and guarantee["flat"] > 0
    assert len({p["code"] for p in plans}) == len(plans) == population.files.plan_count


def test_plans_range_from_entry_level_to_high_end(population: Population) -> None:
    plans = population.plans
    assert len(plans) >= 10 and len({p["amc"] for p in plans}) >= 5
    non_responsable = [p for p in plans if not p["responsable"]]
    assert 1 <= len(non_responsable) <= len(plans) // 4
    pcts = [max(g.get("pct_br", 0) for g in p["guarantees"].values()) for p in plans]
    assert min(pcts) == 100 and max(pcts) >= 300
    pers = {g["per"] for p in plans for g in p["guarantees"].values() if "per" in g}
    assert {"equipment", "ear", "year"} <= pers


def test_rights_rows_are_valid_v1(population: Population) -> None:
    plan_amc = {p["code"]: p["amc"] for p in population.plans}
    assert len(population.rights) == INSURED == population.files.rights_count
    for row in population.rights:
        assert plan_amc[row["plan"]] == row["amc"]
        assert stdnum_nir.is_valid(row["nir"])
        assert re.fullmatch(r"[A-Z0-9]{8,12}", row["member"])
        assert canonical_member(row["member"]) == row["member"]
        assert row["birth_rank"] in {"1", "2"}
        assert row["last_name"] and row["first_name"]
        assert is_valid_postcode(row["postcode"])
        birth, start = date.fromisoformat(row["birth_date"]), date.fromisoformat(row["start"])
        assert birth <= min(start, TODAY)
        assert not row["end"] or date.fromisoformat(row["end"]) >= start


def test_no_duplicate_identity_key_nor_line(population: Population) -> None:
    keys = [
        (r["amc"], r["member"], r["nir"], r["birth_date"], r["birth_rank"])
        for r in population.rights
    ]
    assert len(set(keys)) == len(keys)
    assert len({tuple(r.values()) for r in population.rights}) == len(keys)


def test_families_share_member_plan_and_period(population: Population) -> None:
    families = _families(population.rights)
    sizes = Counter(len(rows) for rows in families.values())
    assert sizes[1] > 0 and sum(n for size, n in sizes.items() if size >= 3) > 0
    for rows in families.values():
        assert len({r["plan"] for r in rows}) == 1
        assert len({r["end"] for r in rows}) == 1
    # A member number is unique within its AMC: one family, one ouvrant droit.
    assert all(_owns(rows[0]) for rows in families.values())


def test_children_carry_a_parents_nir_with_their_own_birth_date(population: Population) -> None:
    children = 0
    for rows in _families(population.rights).values():
        owners = {r["nir"]: r for r in rows if _owns(r)}
        for row in rows:
            if row["nir"] in owners and owners[row["nir"]] is not row:
                children += 1
                parent = owners[row["nir"]]
                assert row["birth_date"] > parent["birth_date"]
                assert row["last_name"] == parent["last_name"]
        # Adults each have their own NIR, and every NIR belongs to an adult of the family.
        assert {r["nir"] for r in rows} == set(owners)
    assert children > INSURED // 10


def test_twins_share_a_birth_date_with_ranks_1_and_2(population: Population) -> None:
    by_key = {
        (r["amc"], r["member"], r["nir"], r["birth_date"], r["birth_rank"])
        for r in population.rights
    }
    twins = [r for r in population.rights if r["birth_rank"] == "2"]
    assert twins
    for r in twins:
        assert (r["amc"], r["member"], r["nir"], r["birth_date"], "1") in by_key


def test_adults_nirs_are_unique_across_families(population: Population) -> None:
    owner_of: dict[str, tuple[str, str]] = {}
    for row in population.rights:
        family = (row["amc"], row["member"])
        assert owner_of.setdefault(row["nir"], family) == family


def test_rights_periods_mix_open_closed_and_future(population: Population) -> None:
    rights, today = population.rights, TODAY.isoformat()
    closed = sum(1 for r in rights if r["end"] and r["end"] < today) / len(rights)
    future = sum(1 for r in rights if r["start"] > today)
    open_ended = sum(1 for r in rights if not r["end"]) / len(rights)
    assert 0.05 < closed < 0.2 and future > 0 and open_ended > 0.7
    assert min(r["start"] for r in rights) >= "2018-01-01"


def test_family_members_mostly_share_a_postcode(population: Population) -> None:
    rows = [r for fam in _families(population.rights).values() for r in fam[1:]]
    heads = {(r["amc"], r["member"]): r["postcode"] for r in population.rights if _owns(r)}
    same = sum(1 for r in rows if r["postcode"] == heads[r["amc"], r["member"]])
    assert same / len(rows) > 0.8


def test_same_seed_same_files_other_seed_other_files(
    population: Population, tmp_path: Path
) -> None:
    again = write_population(
        tmp_path / "again", insured=INSURED, professionals=PROFESSIONALS, seed=7, today=TODAY
    )
    other = write_population(
        tmp_path / "other", insured=INSURED, professionals=PROFESSIONALS, seed=8, today=TODAY
    )
    for name in ("plans", "rights", "professionals"):
        first: Path = getattr(population.files, name)
        assert getattr(again, name).read_bytes() == first.read_bytes()
        assert getattr(other, name).read_bytes() != first.read_bytes()


@pytest.mark.parametrize("insured", [0, 1, 7, 101])
def test_row_count_is_exact_and_progress_ends_with_it(tmp_path: Path, insured: int) -> None:
    calls: list[int] = []
    files = write_population(
        tmp_path, insured=insured, professionals=3, today=TODAY, progress=calls.append
    )
    _, rows = _read_csv(files.rights)
    assert len(rows) == files.rights_count == insured
    assert calls[-1] == insured and calls == sorted(calls)
    assert len(_read_csv(files.professionals)[1]) == 3


def test_progress_is_reported_every_so_many_rows(tmp_path: Path) -> None:
    calls: list[int] = []
    write_population(tmp_path, insured=25_000, professionals=0, today=TODAY, progress=calls.append)
    assert len(calls) == 3 and calls[-1] == 25_000
    assert all(PROGRESS_EVERY <= b - a < PROGRESS_EVERY + 10 for a, b in pairwise(calls[:-1]))
    assert calls[0] >= PROGRESS_EVERY


def test_professionals_are_valid_and_unique(population: Population) -> None:
    pros = population.professionals
    assert len(pros) == PROFESSIONALS == population.files.professional_count
    assert len({p["rpps"] for p in pros}) == len(pros)
    structures: dict[str, tuple[str, str]] = {}
    for p in pros:
        assert is_valid_rpps(p["rpps"])
        assert is_valid_postcode(p["postcode"])
        if Profession(p["profession"]) in STRUCTURED:
            assert p["structure_finess"]
        if p["structure_finess"]:
            assert is_valid_finess(p["structure_finess"]) and p["structure_name"]
            shared = structures.setdefault(
                p["structure_finess"], (p["structure_name"], p["postcode"])
            )
            assert shared == (p["structure_name"], p["postcode"])
        else:
            assert not p["structure_name"]
    per_structure = Counter(p["structure_finess"] for p in pros if p["structure_finess"])
    assert max(per_structure.values()) > 1


def test_profession_shares_are_respected(population: Population) -> None:
    counts = Counter(Profession(p["profession"]) for p in population.professionals)
    total = sum(PROFESSION_SHARES.values())
    for profession, share in PROFESSION_SHARES.items():
        assert abs(counts[profession] - PROFESSIONALS * share / total) <= 1


def test_negative_counts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_population(tmp_path, insured=-1, professionals=0)
