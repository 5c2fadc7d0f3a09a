"""Identifiers carried by cards: NIR (with its key), AMC number, member number.

Invariant: a value that leaves these functions is in its canonical form, so that the same person
always yields the same blind index.
"""

from __future__ import annotations

import re

from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir

AMC_RE = re.compile(r"^\d{9}$")
MEMBER_RE = re.compile(r"^[A-Za-z0-9-]{1,30}$")


class IdentifierError(ValueError):
    """A card or Vitale identifier is malformed; the message is safe to show (no value in it)."""


def canonical_nir(value: str) -> str:
    """15 characters, upper case, no spaces; the key is checked (Corsica 2A/2B handled)."""
    compact = re.sub(r"[\s.-]", "", value).upper()
    try:
        return str(stdnum_nir.validate(compact))
    except ValidationError as exc:
        raise IdentifierError("NIR invalide (format ou clé de contrôle)") from exc


def canonical_amc(value: str) -> str:
    value = value.strip()
    if not AMC_RE.match(value):
        raise IdentifierError("numéro AMC invalide (9 chiffres attendus)")
    return value


def canonical_member(value: str) -> str:
    value = value.strip().upper()
    if not MEMBER_RE.match(value):
        raise IdentifierError("numéro d'adhérent invalide (1 à 30 lettres, chiffres ou tirets)")
    return value
