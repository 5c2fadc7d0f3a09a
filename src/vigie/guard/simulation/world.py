"""The simulated world: insured people and professionals, built from one seed.

Invariant: every person has a residence and a birth département, a NIR series (sex, birth
month, place) and order number unique within it; every professional a profession, a practice
département, a structure when its profession works in one, a daily volume and a local panel.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field

from vigie.identity.identifiers import Profession as P
from vigie.synthetic.nir import residence_weights
from vigie.synthetic.professionals import PROFESSION_SHARES

# Honest daily volume per account on an ordinary working day (before individual spread).
DAILY_MEAN: dict[P, float] = {
    P.pharmacist: 55,
    P.laboratory: 70,
    P.hospital: 80,
    P.physician: 9,
    P.dentist: 7,
    P.nurse: 5,
    P.physiotherapist: 5,
    P.optician: 5,
    P.audiologist: 1.5,
}
IN_STRUCTURE = {P.pharmacist, P.laboratory, P.hospital, P.optician, P.audiologist}
# Professions whose patients get an estimate (devis) first, an agreement later.
ESTIMATE_FIRST = {P.optician, P.audiologist, P.dentist}
BORN_LOCALLY = 0.55  # share of residents born in their own département
BORN_ABROAD = 0.07


@dataclass
class Population:
    departements: list[str]
    residence: array[int]  # département index per person
    birth: array[int]  # birth département index per person ("99": abroad)
    series: array[int]  # NIR prefix id per person
    order: array[int]  # NIR order number per person
    birth_day: array[int]  # day of month of birth
    covered: bytearray  # 1: a right is open during the simulated month
    by_residence: list[array[int]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.residence)


@dataclass(frozen=True, slots=True)
class Professional:
    account: int
    profession: P
    departement: int
    structure: int | None
    daily: float  # this account's usual volume
    panel: array[int]  # its regular patients (local residents)
    origin: int


def build_population(rng: random.Random, size: int) -> Population:
    weights = residence_weights()
    departements = [*weights, "99"]
    abroad = len(departements) - 1
    residence = array("i", rng.choices(range(abroad), weights=list(weights.values()), k=size))
    birth = array("i", residence)
    for i in range(size):
        draw = rng.random()
        if draw < BORN_ABROAD:
            birth[i] = abroad
        elif draw > BORN_LOCALLY + BORN_ABROAD:
            birth[i] = rng.randrange(abroad)
    # About 30 people per NIR series in the population (a commune and a birth month).
    series = array("i", (rng.randrange(max(1, size // 30)) for _ in range(size)))
    order = array("i", (rng.randrange(1, 1000) for _ in range(size)))
    birth_day = array("b", (rng.randrange(1, 29) for _ in range(size)))
    covered = bytearray(1 if rng.random() < 0.97 else 0 for _ in range(size))
    by_residence: list[array[int]] = [array("i") for _ in departements]
    for i, d in enumerate(residence):
        by_residence[d].append(i)
    return Population(
        departements, residence, birth, series, order, birth_day, covered, by_residence
    )


def build_professionals(
    rng: random.Random, count: int, population: Population, first_account: int = 1
) -> list[Professional]:
    professions = list(PROFESSION_SHARES)
    shares = list(PROFESSION_SHARES.values())
    weights = [len(p) for p in population.by_residence[:-1]]
    pros: list[Professional] = []
    structure, office_origin, left_in_office = 0, 0, 0
    open_structures: dict[P, list[int]] = {}  # profession -> [structure, places left, dept]
    for n in range(count):
        profession = rng.choices(professions, weights=shares)[0]
        departement = rng.choices(range(len(weights)), weights=weights)[0]
        account = first_account + n
        group: int | None = None
        origin = 10_000_000 + account
        if profession in IN_STRUCTURE:
            current = open_structures.get(profession)
            if current is None or current[1] <= 0:
                structure += 1
                current = open_structures[profession] = [structure, rng.randint(1, 4), departement]
            current[1] -= 1
            group, departement = current[0], current[2]
            origin = 20_000_000 + structure  # one connection per structure
        elif rng.random() < 0.1:  # a shared office: 2 or 3 practices behind one address
            if left_in_office <= 0:
                office_origin, left_in_office = 30_000_000 + account, rng.randint(2, 3)
            left_in_office -= 1
            origin = office_origin
        daily = DAILY_MEAN[profession] * rng.lognormvariate(0, 0.45)
        residents = population.by_residence[departement]
        panel_size = min(len(residents), max(20, int(daily * 25)))
        panel = array("i", rng.sample(residents, panel_size)) if residents else array("i")
        pros.append(Professional(account, profession, departement, group, daily, panel, origin))
    return pros
