"""Professional identifiers: RPPS (11 digits, Luhn key) and FINESS (9 digits, Luhn key)."""

from __future__ import annotations

import re
from enum import StrEnum

from stdnum import luhn


class Profession(StrEnum):
    pharmacist = "pharmacist"
    physician = "physician"
    dentist = "dentist"
    optician = "optician"
    audiologist = "audiologist"
    nurse = "nurse"
    physiotherapist = "physiotherapist"
    laboratory = "laboratory"
    hospital = "hospital"


POSTCODE_RE = re.compile(r"(?:0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}")


def is_valid_rpps(value: str) -> bool:
    return len(value) == 11 and value.isascii() and value.isdigit() and luhn.is_valid(value)


def is_valid_finess(value: str) -> bool:
    return len(value) == 9 and value.isascii() and value.isdigit() and luhn.is_valid(value)


def is_valid_postcode(value: str) -> bool:
    return bool(POSTCODE_RE.fullmatch(value))


def with_luhn_key(digits: str) -> str:
    """Append the Luhn check digit (used to make RPPS and FINESS numbers)."""
    return digits + luhn.calc_check_digit(digits)
