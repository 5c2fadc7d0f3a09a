"""Synthetic health professionals (RPPS) and their structures (FINESS), written as a CSV.

Invariant: every RPPS is 11 digits with a valid Luhn key and unique, every FINESS is 9 digits with
a valid Luhn key, and the professions follow PROFESSION_SHARES to within one person each.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vigie.identity.identifiers import Profession as P
from vigie.identity.identifiers import with_luhn_key
from vigie.synthetic.names import NamePools
from vigie.synthetic.nir import random_postcode, residence_weights
from vigie.synthetic.sampling import Sampler, exact_counts

HEADER = ("rpps", "profession", "postcode", "structure_finess", "structure_name")

PROFESSION_SHARES: dict[P, float] = {
    P.nurse: 30,
    P.physician: 25,
    P.pharmacist: 15,
    P.physiotherapist: 12,
    P.dentist: 8,
    P.optician: 5,
    P.laboratory: 2,
    P.audiologist: 2,
    P.hospital: 1,
}

# How many professionals share one structure: always for these professions.
STRUCTURE_SIZES: dict[P, tuple[int, int]] = {
    P.pharmacist: (1, 4),
    P.laboratory: (1, 6),
    P.hospital: (2, 12),
    P.optician: (1, 3),
    P.audiologist: (1, 2),
}
# Sometimes for these: a health centre; the rest practise alone, without a structure.
CENTRE_SIZES: dict[P, tuple[int, int]] = {P.physician: (2, 6), P.dentist: (2, 4)}
CENTRE_SHARE = 0.15

_RPPS_SPACE = 10**8  # RPPS numbers are "10" + 8 digits + Luhn key
_RPPS_STEP = 7_919_333  # coprime with 10**8: i -> i * step mod 10**8 never repeats


@dataclass(frozen=True, slots=True)
class Structure:
    finess: str
    name: str
    postcode: str


def _of(place: str) -> str:
    """French "de" before a place name: "de Lyon", "d'Orléans", "du Mans", "des Ulis"."""
    for article, contracted in (("Le ", "du "), ("Les ", "des ")):
        if place.startswith(article):
            return contracted + place.removeprefix(article)
    return f"d'{place}" if place[:1].lower() in "aâeéèêiîoôuy" else f"de {place}"


def _structure_name(rng: random.Random, profession: P, pools: NamePools) -> str:
    last, city = rng.choice(pools.last), _of(rng.choice(pools.cities))
    company = rng.choice(pools.companies)
    names: dict[P, tuple[str, ...]] = {
        P.pharmacist: (
            "Pharmacie du Centre",
            "Pharmacie de la Gare",
            "Pharmacie du Marché",
            f"Pharmacie {last}",
            f"Grande Pharmacie {city}",
        ),
        P.laboratory: (f"Laboratoire {company}", f"Laboratoire de biologie médicale {city}"),
        P.hospital: (f"Centre hospitalier {city}", f"Clinique {company}"),
        P.optician: (f"Optique {last}", f"Optique {city}"),
        P.audiologist: (f"Audition {last}", f"Centre auditif {city}"),
        P.physician: (f"Centre de santé {city}", f"Maison de santé {company}"),
        P.dentist: (f"Centre dentaire {city}",),
    }
    return rng.choice(names[profession])


class _Factory:
    """Draws unique RPPS and FINESS numbers, postcodes and structures."""

    def __init__(self, rng: random.Random, pools: NamePools) -> None:
        self.rng, self.pools = rng, pools
        self.departements = Sampler(residence_weights())
        self.rpps_offset = rng.randrange(_RPPS_SPACE)
        self.rpps_count = 0
        self.finess_seen: set[str] = set()

    def rpps(self) -> str:
        n = (self.rpps_offset + self.rpps_count * _RPPS_STEP) % _RPPS_SPACE
        self.rpps_count += 1
        return with_luhn_key(f"10{n:08d}")

    def postcode(self) -> str:
        return random_postcode(self.rng, self.departements.draw(self.rng))

    def structure(self, profession: P) -> Structure:
        postcode = self.postcode()
        # FINESS starts with the département: 20 for Corsica and 97 overseas keep it all digits.
        prefix = postcode[:2]
        while True:
            finess = with_luhn_key(f"{prefix}{self.rng.randrange(1_000_000):06d}")
            if finess not in self.finess_seen:
                self.finess_seen.add(finess)
                break
        return Structure(finess, _structure_name(self.rng, profession, self.pools), postcode)


def _rows_for(factory: _Factory, profession: P, count: int) -> Iterator[tuple[str, ...]]:
    rng, left = factory.rng, count
    while left > 0:
        sizes = STRUCTURE_SIZES.get(profession)
        if sizes is None and profession in CENTRE_SIZES and rng.random() < CENTRE_SHARE:
            sizes = CENTRE_SIZES[profession]
        if sizes is None:
            left -= 1
            yield (factory.rpps(), profession.value, factory.postcode(), "", "")
            continue
        structure = factory.structure(profession)
        for _ in range(min(left, rng.randint(*sizes))):
            left -= 1
            row = (structure.finess, structure.name)
            yield (factory.rpps(), profession.value, structure.postcode, *row)


def write_professionals(
    path: Path, count: int, rng: random.Random, pools: NamePools
) -> dict[P, int]:
    """Write professionals.csv, `count` rows in random order; return the count per profession."""
    factory = _Factory(rng, pools)
    counts = exact_counts(count, PROFESSION_SHARES)
    rows = [row for p, n in counts.items() for row in _rows_for(factory, p, n)]
    rng.shuffle(rows)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return counts
