"""Deterministic synthetic population: plans.json, rights.csv (v1 formats) and professionals.csv.

Invariant: for given counts, seed and reference date the files are identical byte for byte, and no
two rights rows share the identity key (amc, member, nir, birth_date, birth_rank).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import NamedTuple

from vigie.synthetic.names import NamePools, build_pools
from vigie.synthetic.nir import (
    BORN_ABROAD,
    FEMALE,
    MALE,
    random_nir,
    random_postcode,
    residence_weights,
)
from vigie.synthetic.plans import TIER_WEIGHTS, Mutuelle, make_mutuelles, write_plans
from vigie.synthetic.professionals import write_professionals
from vigie.synthetic.sampling import Sampler

RIGHTS_HEADER = (
    "amc",
    "member",
    "nir",
    "birth_date",
    "birth_rank",
    "last_name",
    "first_name",
    "postcode",
    "plan",
    "start",
    "end",
)
PROGRESS_EVERY = 10_000  # rows between two progress calls: often enough for a progress bar

CLOSED_SHARE = 0.11  # families whose rights ended in the past (some cannot close: newborns)
FUTURE_SHARE = 0.025  # families whose rights start on the 1st of one of the next 3 months
FIXED_END_SHARE = 0.05  # open rights that end on 31 December of the current year
TWIN_SHARE = 0.02  # births that are twins
BORN_IN_RESIDENCE = 0.6  # born in the département they live in
BORN_ABROAD_SHARE = 0.1
SAME_NAME_SPOUSE = 0.65  # spouses who use the ouvrant droit's last name
ADULT_CHILD_AWAY = 0.3  # children of 18 or more who live elsewhere (students)
MAX_CHILD_AGE = 24  # children are covered as ayants droit until about 25
YEAR = 365.2425

# Household shapes by age band of the ouvrant droit (single_kids: a single parent).
_SHAPES: dict[str, dict[str, float]] = {
    "young": {"single": 80, "couple": 15, "couple_kids": 5, "single_kids": 0},
    "adult": {"single": 25, "couple": 20, "couple_kids": 42, "single_kids": 13},
    "senior": {"single": 45, "couple": 55, "couple_kids": 0, "single_kids": 0},
}
_CHILDREN = {1: 40, 2: 40, 3: 15, 4: 5}


def _age_weight(age: int) -> float:
    """Relative number of ouvrants droits of this age: fewer very young and very old adults."""
    return 0.5 if age < 25 else 1.0 if age < 70 else 0.6 if age < 85 else 0.2


_AGES = {age: _age_weight(age) for age in range(18, 96)}


@dataclass(frozen=True, slots=True)
class PopulationFiles:
    """What write_population wrote."""

    plans: Path
    rights: Path
    professionals: Path
    amc_count: int
    plan_count: int
    rights_count: int
    professional_count: int


class Person(NamedTuple):
    birth: int  # date ordinal
    rank: int
    nir: str
    last_name: str
    first_name: str
    postcode: str


class _MemberNumbers:
    """Unique member numbers of one AMC, in the AMC's style, with no visible sequence.

    A counter goes through two bijections of the w-digit numbers: an affine map (multiplier
    coprime with 10), digit reversal, then the affine map again; so numbers never repeat.
    """

    def __init__(self, rng: random.Random, style: int) -> None:
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
        # 8 to 12 characters, digits or letters then digits, depending on the AMC.
        self.prefix, self.width = [
            ("", 10),
            (letters[:2], 8),
            ("", 12),
            (letters, 8),
            ("", 9),
            (letters[:1], 9),
        ][style % 6]
        self.space: int = 10**self.width
        self.step = rng.randrange(self.space // 10, self.space) | 1
        self.step += 2 if self.step % 5 == 0 else 0
        self.offset = rng.randrange(self.space)
        self.count = 0

    def _mix(self, n: int) -> int:
        return (self.offset + n * self.step) % self.space

    def next(self) -> str:
        if self.count >= self.space:
            raise OverflowError("no member number left for this AMC")
        reversed_digits = f"{self._mix(self.count):0{self.width}d}"[::-1]
        self.count += 1
        return f"{self.prefix}{self._mix(int(reversed_digits)):0{self.width}d}"


@cache
def _iso(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def _first_of_coming_month(today: date, months: int) -> int:
    """The ordinal of the 1st day of the month `months` (>= 1) after today's."""
    year, month = divmod(today.year * 12 + today.month - 1 + months, 12)
    return date(year, month + 1, 1).toordinal()


def _band(age: int) -> str:
    return "young" if age < 25 else "adult" if age < 60 else "senior"


class _Households:
    """Draws households (an ouvrant droit, maybe a spouse and children) and their rights rows."""

    def __init__(
        self, rng: random.Random, pools: NamePools, mutuelles: tuple[Mutuelle, ...], today: date
    ) -> None:
        self.rng, self.pools, self.mutuelles = rng, pools, mutuelles
        self.today_date, self.today = today, today.toordinal()
        self.end_of_year = date(today.year, 12, 31).toordinal()
        self.pick_mutuelle = Sampler({i: float(m.share) for i, m in enumerate(mutuelles)})
        self.pick_plan = [
            Sampler({p.code: float(TIER_WEIGHTS[p.tier]) for p in m.plans}) for m in mutuelles
        ]
        self.members = [_MemberNumbers(rng, i) for i in range(len(mutuelles))]
        self.departements = Sampler(residence_weights())
        self.ages = Sampler(_AGES)
        self.shapes = {band: Sampler(shares) for band, shares in _SHAPES.items()}
        self.children = Sampler({n: float(w) for n, w in _CHILDREN.items()})
        # Each adult gets a NIR no one else has; children carry their ouvrant droit's.
        self.nirs: set[str] = set()

    def rows(self) -> list[tuple[str, ...]]:
        """One household's rights rows: same AMC, member number, plan and contract period."""
        index = self.pick_mutuelle.draw(self.rng)
        amc, member = self.mutuelles[index].amc, self.members[index].next()
        plan = self.pick_plan[index].draw(self.rng)
        people = self._people()
        start, end = self._period(max(p.birth for p in people))
        return [
            (amc, member, p.nir, _iso(p.birth), str(p.rank), p.last_name, p.first_name,
             p.postcode, plan, _iso(max(start, p.birth)), end)
            for p in people
        ]  # fmt: skip

    def _people(self) -> list[Person]:
        rng = self.rng
        departement = self.departements.draw(rng)
        postcode = random_postcode(rng, departement)
        age = self.ages.draw(rng)
        head = self._adult(age, rng.choice((MALE, FEMALE)), departement, postcode, None)
        shape = self.shapes[_band(age)].draw(rng)
        people = [head]
        if shape.startswith("couple"):
            people.append(self._spouse(head, age, departement))
        if shape.endswith("_kids"):
            people.extend(self._children(head, age))
        return people

    def _adult(
        self, age: int, sex: int, departement: str, postcode: str, last_name: str | None
    ) -> Person:
        rng = self.rng
        birth = self.today - int((age + rng.random()) * YEAR)
        nir = self._unique_nir(sex, birth, self._birth_departement(departement))
        first = rng.choice(self.pools.male_first if sex == MALE else self.pools.female_first)
        return Person(birth, 1, nir, last_name or rng.choice(self.pools.last), first, postcode)

    def _spouse(self, head: Person, age: int, departement: str) -> Person:
        rng = self.rng
        sex = int(head.nir[0])
        if rng.random() < 0.95:  # a few same-sex couples
            sex = FEMALE if sex == MALE else MALE
        spouse_age = max(18, age + rng.randint(-5, 5))
        last_name = head.last_name if rng.random() < SAME_NAME_SPOUSE else None
        return self._adult(spouse_age, sex, departement, head.postcode, last_name)

    def _children(self, head: Person, age: int) -> list[Person]:
        """Children with their own birth dates; twins share one and take ranks 1 and 2."""
        rng = self.rng
        youngest, oldest = max(0, age - 45), min(MAX_CHILD_AGE, age - 20)
        if youngest > oldest:
            return []
        births: set[int] = set()
        children: list[Person] = []
        for _ in range(self.children.draw(rng)):
            birth = self.today - int((rng.randint(youngest, oldest) + rng.random()) * YEAR)
            while birth in births:  # siblings other than twins never share a birth date
                birth -= 1
            births.add(birth)
            children.append(self._child(head, birth, 1))
            if rng.random() < TWIN_SHARE:
                children.append(self._child(head, birth, 2))
        return children

    def _child(self, head: Person, birth: int, rank: int) -> Person:
        rng = self.rng
        pool = self.pools.male_first if rng.random() < 0.5 else self.pools.female_first
        postcode = head.postcode
        if self.today - birth >= 18 * YEAR and rng.random() < ADULT_CHILD_AWAY:
            postcode = random_postcode(rng, self.departements.draw(rng))
        return Person(birth, rank, head.nir, head.last_name, rng.choice(pool), postcode)

    def _birth_departement(self, residence: str) -> str:
        draw = self.rng.random()
        if draw < BORN_ABROAD_SHARE:
            return BORN_ABROAD
        if draw < BORN_ABROAD_SHARE + BORN_IN_RESIDENCE:
            return residence
        return self.departements.draw(self.rng)

    def _unique_nir(self, sex: int, birth: int, birth_departement: str) -> str:
        born = date.fromordinal(birth)
        while True:
            nir = random_nir(self.rng, sex, born, birth_departement)
            if nir not in self.nirs:
                self.nirs.add(nir)
                return nir

    def _period(self, latest_birth: int) -> tuple[int, str]:
        """The household's start (1st of a month) and end (ISO date, or empty when open)."""
        rng, today = self.rng, self.today
        if rng.random() < FUTURE_SHARE:
            return _first_of_coming_month(self.today_date, rng.randint(1, 3)), ""
        start = date.fromordinal(today - rng.randint(30, 6 * 365)).replace(day=1).toordinal()
        first_end = max(start, latest_birth) + 30
        if rng.random() < CLOSED_SHARE and first_end < today:
            return start, _iso(rng.randint(first_end, today - 1))
        if rng.random() < FIXED_END_SHARE:
            return start, _iso(self.end_of_year)
        return start, ""


def _write_rights(
    path: Path, households: _Households, count: int, progress: Callable[[int], None] | None
) -> int:
    written, next_report = 0, PROGRESS_EVERY
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RIGHTS_HEADER)
        while written < count:
            # The last household is cut short so that the row count is exact.
            rows = households.rows()[: count - written]
            writer.writerows(rows)
            written += len(rows)
            if progress is not None and written >= next_report:
                progress(written)
                next_report = written + PROGRESS_EVERY
    if progress is not None:
        progress(written)
    return written


def write_population(
    out_dir: Path,
    *,
    insured: int,
    professionals: int,
    seed: int = 2024,
    today: date | None = None,
    progress: Callable[[int], None] | None = None,
) -> PopulationFiles:
    """Write plans.json, rights.csv (`insured` rows) and professionals.csv into `out_dir`.

    Rights are dated around `today` (default: the current date), so pass it to reproduce a file.
    `progress` gets the number of rights rows written so far, every PROGRESS_EVERY rows and at the
    end.
    """
    if insured < 0 or professionals < 0:
        raise ValueError("counts must not be negative")
    out_dir.mkdir(parents=True, exist_ok=True)
    pools = build_pools(seed)
    # One generator per file, so that changing one count leaves the other files as they were.
    mutuelles = make_mutuelles(random.Random(f"plans-{seed}"))
    files = (out_dir / "plans.json", out_dir / "rights.csv", out_dir / "professionals.csv")
    plan_count = write_plans(files[0], mutuelles)
    households = _Households(
        random.Random(f"rights-{seed}"), pools, mutuelles, today or date.today()
    )
    rights = _write_rights(files[1], households, insured, progress)
    write_professionals(files[2], professionals, random.Random(f"professionals-{seed}"), pools)
    return PopulationFiles(*files, len(mutuelles), plan_count, rights, professionals)
