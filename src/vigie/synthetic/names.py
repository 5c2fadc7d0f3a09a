"""Pools of synthetic French names, cities and company names drawn once from Faker.

Invariant: the pools depend only on the seed, and every value in them comes from Faker (no real
person's data).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

# Faker per row is far too slow for a million rows: draw these many values once, then sample.
LAST_NAMES = 3000
FIRST_NAMES = 2000
CITIES = 800
COMPANIES = 600
# Share of composed first names (Jean-Marc, Marie-Claire): Faker's fr_FR lists rarely make them.
COMPOSED_FIRST_NAMES = 0.08


@dataclass(frozen=True, slots=True)
class NamePools:
    last: tuple[str, ...]
    male_first: tuple[str, ...]
    female_first: tuple[str, ...]
    cities: tuple[str, ...]
    companies: tuple[str, ...]


def _compose(rng: random.Random, names: list[str]) -> tuple[str, ...]:
    """Join a few names in pairs, keeping the pool's size and frequency of each name."""
    out = [
        f"{name}-{rng.choice(names)}" if rng.random() < COMPOSED_FIRST_NAMES else name
        for name in names
    ]
    return tuple(out)


def build_pools(seed: int) -> NamePools:
    """Draw the pools from Faker fr_FR, seeded, so that a seed always gives the same names."""
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    rng = random.Random(f"names-{seed}")
    return NamePools(
        last=tuple(fake.last_name() for _ in range(LAST_NAMES)),
        male_first=_compose(rng, [fake.first_name_male() for _ in range(FIRST_NAMES)]),
        female_first=_compose(rng, [fake.first_name_female() for _ in range(FIRST_NAMES)]),
        cities=tuple(fake.city() for _ in range(CITIES)),
        companies=tuple(fake.company() for _ in range(COMPANIES)),
    )
