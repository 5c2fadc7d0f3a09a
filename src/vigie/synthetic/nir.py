"""Synthetic NIRs and postcodes.

Invariant: every NIR made here passes `stdnum.fr.nir.is_valid` and its sex digit, year, month and
place of birth match the arguments it was made from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from functools import cache

MALE = 1
FEMALE = 2
BORN_ABROAD = "99"
# Corsica was one département (20) until 1976; NIRs of people born there before keep "20".
CORSICA_SPLIT_YEAR = 1976
CORSICA = ("2A", "2B")
METROPOLITAN_DEPARTEMENTS: tuple[str, ...] = (
    tuple(f"{n:02d}" for n in range(1, 96) if n != 20) + CORSICA
)
OVERSEAS_DEPARTEMENTS: tuple[str, ...] = ("971", "972", "973", "974", "975", "976")
DEPARTEMENTS: tuple[str, ...] = METROPOLITAN_DEPARTEMENTS + OVERSEAS_DEPARTEMENTS

# INSEE country codes (the 3 digits after "99") of frequent countries of birth abroad.
BIRTH_COUNTRIES: tuple[str, ...] = (
    "352",  # Algérie
    "350",  # Maroc
    "351",  # Tunisie
    "139",  # Portugal
    "127",  # Italie
    "134",  # Espagne
    "109",  # Allemagne
    "131",  # Belgique
    "132",  # Royaume-Uni
    "140",  # Suisse
    "208",  # Turquie
)

# Number of communes per overseas département (their commune code has 2 digits).
_OVERSEAS_COMMUNES = {"971": 32, "972": 34, "973": 22, "974": 24, "975": 2, "976": 17}
_CORSICA_COMMUNES = {"2A": 362, "2B": 366}
_METROPOLITAN_COMMUNES = 600
_CORSICA_KEY_DIGITS = {"2A": "19", "2B": "18"}
# Births in Paris are recorded by arrondissement (commune codes 101 to 120).
_PARIS_ARRONDISSEMENTS = range(101, 121)
# Big cities whose postcodes are numbered by arrondissement.
_CITY_POSTCODES = {
    "75": (*(f"750{n:02d}" for n in range(1, 21)), "75116"),
    "69": tuple(f"6900{n}" for n in range(1, 10)),
    "13": tuple(f"130{n:02d}" for n in range(1, 17)),
}


@dataclass(frozen=True, slots=True)
class NirParts:
    """The fields of a 15-character NIR."""

    sex: int
    year: int  # 2 digits
    month: int
    departement: str  # 2 characters, or 3 for overseas
    commune: str  # 3 digits, or 2 for overseas; the country code when born abroad
    order: int
    key: str


def nir_key(body: str) -> str:
    """The 2-digit key of a 13-character NIR body: 97 − (body mod 97), Corsica mapped to 19/18."""
    departement = _CORSICA_KEY_DIGITS.get(body[5:7], body[5:7])
    return f"{97 - int(body[:5] + departement + body[7:13]) % 97:02d}"


def make_nir(sex: int, year: int, month: int, departement: str, commune: int, order: int) -> str:
    """A NIR with its key; `commune` is the country code when `departement` is "99"."""
    if sex not in (MALE, FEMALE) or not 1 <= month <= 12 or not 1 <= order <= 999:
        raise ValueError("sex, month or order out of range")
    overseas = len(departement) == 3
    if departement not in DEPARTEMENTS and departement not in ("20", BORN_ABROAD):
        raise ValueError("unknown département")
    if not 1 <= commune <= (99 if overseas else 999):
        raise ValueError("commune out of range")
    place = f"{departement}{commune:02d}" if overseas else f"{departement}{commune:03d}"
    body = f"{sex}{year % 100:02d}{month:02d}{place}{order:03d}"
    return body + nir_key(body)


def parse_nir(nir: str) -> NirParts:
    """Split a 15-character NIR into its fields (no key check)."""
    overseas = nir[5:7] == "97"
    split = 8 if overseas else 7
    return NirParts(
        sex=int(nir[0]),
        year=int(nir[1:3]),
        month=int(nir[3:5]),
        departement=nir[5:split],
        commune=nir[split:10],
        order=int(nir[10:13]),
        key=nir[13:],
    )


def nir_departement(birth_departement: str, birth_year: int) -> str:
    """The département as written in the NIR: Corsica is "20" for births before the split."""
    if birth_departement in CORSICA and birth_year < CORSICA_SPLIT_YEAR:
        return "20"
    return birth_departement


def random_commune(rng: random.Random, departement: str) -> int:
    """A plausible commune number (country code when born abroad) for a département of birth."""
    if departement == BORN_ABROAD:
        return int(rng.choice(BIRTH_COUNTRIES))
    if departement in _OVERSEAS_COMMUNES:
        return rng.randint(1, _OVERSEAS_COMMUNES[departement])
    if departement == "75":
        return rng.choice(_PARIS_ARRONDISSEMENTS)
    return rng.randint(1, _CORSICA_COMMUNES.get(departement, _METROPOLITAN_COMMUNES))


def random_nir(rng: random.Random, sex: int, birth: date, birth_departement: str) -> str:
    """A NIR for someone of this sex, born on this date in this département ("99" abroad)."""
    commune = random_commune(rng, birth_departement)
    departement = nir_departement(birth_departement, birth.year)
    return make_nir(sex, birth.year, birth.month, departement, commune, rng.randint(1, 999))


def departement_of_postcode(postcode: str) -> str:
    """The département of a postcode: 2A/2B for 20xxx, 3 digits for 97xxx."""
    if len(postcode) != 5 or not postcode.isdigit():
        raise ValueError("a postcode has 5 digits")
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    if postcode.startswith("97"):
        return postcode[:3]
    return postcode[:2]


@cache
def postcodes_of(departement: str) -> tuple[str, ...]:
    """Realistic postcodes of a département: its prefix and 3 digits (mostly multiples of 10)."""
    if departement == "2A":
        return tuple(f"20{n:03d}" for n in range(0, 200, 10))
    if departement == "2B":
        return (*(f"20{n:03d}" for n in range(200, 300, 10)), "20600", "20620")
    if departement in OVERSEAS_DEPARTEMENTS:
        return tuple(f"{departement}{n:02d}" for n in range(0, 100, 10))
    if departement not in METROPOLITAN_DEPARTEMENTS:
        raise ValueError("unknown département")
    if departement == "75":
        return _CITY_POSTCODES["75"]
    towns = tuple(f"{departement}{n:03d}" for n in range(0, 1000, 10))
    return tuple(dict.fromkeys((*_CITY_POSTCODES.get(departement, ()), *towns)))


def random_postcode(rng: random.Random, departement: str) -> str:
    return rng.choice(postcodes_of(departement))


# The most populated départements get more residents (a rough shape, not census figures).
_POPULOUS = frozenset(
    {"75", "92", "93", "94", "91", "77", "78", "95", "13", "59", "69", "33"}
    | {"31", "06", "44", "62", "34", "67", "76", "38", "57", "35", "83", "60"}
)


def residence_weights() -> dict[str, float]:
    """Relative number of residents per département."""
    weights = {d: 3.0 if d in _POPULOUS else 1.0 for d in METROPOLITAN_DEPARTEMENTS}
    weights.update({d: 0.5 for d in CORSICA})
    weights.update({d: 1.0 for d in OVERSEAS_DEPARTEMENTS})
    weights["975"] = 0.05
    return weights
