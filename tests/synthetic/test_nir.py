"""Synthetic NIRs are valid and say what they were made from; postcodes map to their département."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from stdnum.fr import nir as stdnum_nir

from vigie.identity.identifiers import is_valid_postcode
from vigie.synthetic.nir import (
    BORN_ABROAD,
    DEPARTEMENTS,
    FEMALE,
    MALE,
    OVERSEAS_DEPARTEMENTS,
    departement_of_postcode,
    make_nir,
    nir_departement,
    nir_key,
    parse_nir,
    postcodes_of,
    random_nir,
)

PLACES = (*DEPARTEMENTS, BORN_ABROAD)


def _random_birth(rng: random.Random) -> date:
    return date(1900, 1, 1) + timedelta(days=rng.randrange(125 * 365))


def test_many_random_nirs_are_valid_and_consistent() -> None:
    rng = random.Random(42)
    for _ in range(20_000):
        sex, birth, place = rng.choice((MALE, FEMALE)), _random_birth(rng), rng.choice(PLACES)
        nir = random_nir(rng, sex, birth, place)
        assert len(nir) == 15
        assert stdnum_nir.is_valid(nir), nir
        parts = parse_nir(nir)
        assert parts.sex == sex
        assert parts.year == birth.year % 100
        assert parts.month == birth.month
        assert parts.departement == nir_departement(place, birth.year)
        assert 1 <= parts.order <= 999


def test_key_matches_known_values() -> None:
    # Examples from python-stdnum's documentation.
    assert make_nir(2, 1995, 10, BORN_ABROAD, 126, 111) == "295109912611193"
    assert make_nir(2, 1953, 7, "2B", 73, 4) == "253072B07300470"
    assert make_nir(2, 1953, 7, "2A", 73, 4) == "253072A07300443"
    assert nir_key("2951099126111") == "93"


def test_corsica_is_20_before_1976_and_2a_2b_after() -> None:
    rng = random.Random(1)
    assert nir_departement("2A", 1975) == "20"
    assert nir_departement("2B", 1976) == "2B"
    old = random_nir(rng, MALE, date(1960, 3, 4), "2A")
    assert old[5:7] == "20"
    for departement, digits in (("2A", "19"), ("2B", "18")):
        nir = random_nir(rng, FEMALE, date(1990, 6, 1), departement)
        assert nir[5:7] == departement and stdnum_nir.is_valid(nir)
        as_digits = nir[:5] + digits + nir[7:13]
        assert int(nir[13:]) == 97 - int(as_digits) % 97


@pytest.mark.parametrize("departement", OVERSEAS_DEPARTEMENTS)
def test_overseas_have_three_digit_departement_and_two_digit_commune(departement: str) -> None:
    nir = random_nir(random.Random(departement), MALE, date(1985, 12, 24), departement)
    parts = parse_nir(nir)
    assert parts.departement == departement
    assert len(parts.commune) == 2 and parts.commune != "00"
    assert stdnum_nir.is_valid(nir)


def test_born_abroad_carries_a_country_code() -> None:
    parts = parse_nir(random_nir(random.Random(3), FEMALE, date(1970, 1, 1), BORN_ABROAD))
    assert parts.departement == "99" and len(parts.commune) == 3


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((3, 1990, 1, "75", 101, 1), "sex"),
        ((1, 1990, 13, "75", 101, 1), "month"),
        ((1, 1990, 1, "75", 101, 0), "order"),
        ((1, 1990, 1, "20", 0, 1), "commune"),
        ((1, 1990, 1, "971", 100, 1), "commune"),
        ((1, 1990, 1, "96", 1, 1), "département"),
    ],
)
def test_make_nir_rejects_out_of_range(
    args: tuple[int, int, int, str, int, int], reason: str
) -> None:
    with pytest.raises(ValueError):
        make_nir(*args)


@pytest.mark.parametrize(
    ("postcode", "departement"),
    [
        ("01000", "01"),
        ("75116", "75"),
        ("20000", "2A"),
        ("20190", "2A"),
        ("20200", "2B"),
        ("20620", "2B"),
        ("97100", "971"),
        ("97600", "976"),
    ],
)
def test_departement_of_postcode(postcode: str, departement: str) -> None:
    assert departement_of_postcode(postcode) == departement


def test_postcodes_of_every_departement_map_back_to_it() -> None:
    for departement in DEPARTEMENTS:
        codes = postcodes_of(departement)
        assert codes and len(set(codes)) == len(codes)
        for code in codes:
            assert len(code) == 5 and is_valid_postcode(code)
            assert departement_of_postcode(code) == departement


def test_bad_postcode_and_departement_are_refused() -> None:
    with pytest.raises(ValueError):
        departement_of_postcode("7500")
    with pytest.raises(ValueError):
        postcodes_of("20")
