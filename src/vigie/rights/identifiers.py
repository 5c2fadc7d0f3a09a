"""Identifiers carried by cards: NIR (with its key), AMC number, member number.

Invariant: a value that leaves these functions is in its canonical form, so that the same person
always yields the same blind index.
"""

from __future__ import annotations

import re

from stdnum.fr import nir as stdnum_nir

# 13 digits (2A/2B for Corsica births) and a 2-digit key; ASCII digits only, as stdnum requires.
NIR_RE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}")
AMC_RE = re.compile(r"^[0-9]{9}$")
MEMBER_RE = re.compile(r"^[A-Za-z0-9-]{1,30}$")


class IdentifierError(ValueError):
    """A card or Vitale identifier is malformed; the message is safe to show (no value in it)."""


def canonical_nir(value: str) -> str:
    """15 characters, upper case, no spaces; the key is checked (Corsica 2A/2B handled).

    The same checks as ``stdnum.fr.nir.validate``, with a fast path for the compact form that
    imports carry (its character-by-character cleaning dominated a million-row import).
    """
    compact = value if NIR_RE.fullmatch(value) else re.sub(r"[\s.-]", "", value).upper()
    if not NIR_RE.fullmatch(compact) or stdnum_nir.calc_check_digits(compact) != compact[13:]:
        raise IdentifierError("NIR invalide (format ou clé de contrôle)")
    return compact


def canonical_amc(value: str) -> str:
    value = value.strip()
    if not AMC_RE.fullmatch(value):
        raise IdentifierError("numéro AMC invalide (9 chiffres attendus)")
    return value


def canonical_member(value: str) -> str:
    value = value.strip().upper()
    if not MEMBER_RE.fullmatch(value):
        raise IdentifierError("numéro d'adhérent invalide (1 à 30 lettres, chiffres ou tirets)")
    return value
