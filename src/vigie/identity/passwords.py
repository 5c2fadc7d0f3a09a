"""Staff passwords: argon2id hashes and the CNIL rule (deliberation 2022-100).

Invariant: checking a password costs one argon2 verification whether the account exists or not
(a dummy hash stands in for a missing account), so timing tells nothing.
"""

from __future__ import annotations

import re
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()  # argon2id, RFC 9106 second recommended parameters
_DUMMY = HASHER.hash("vigie: no such account, same cost")
PASSPHRASE_WORDS = 7
WORD_SPLIT = re.compile(r"[\s\-_.,;:]+")


class PasswordRejected(ValueError):
    """The password does not meet the rule; the message says which rule, in French."""


def check_policy(password: str, email: str = "") -> None:
    """At least 12 characters of 4 kinds (upper, lower, digit, special), or 14 of the first 3,
    or a passphrase of 7 words or more; never containing the account's name."""
    kinds = sum(
        (
            any(c.isupper() for c in password),
            any(c.islower() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    words = [w for w in WORD_SPLIT.split(password.strip()) if len(w) >= 2]
    strong = (len(password) >= 12 and kinds == 4) or (len(password) >= 14 and kinds >= 3)
    passphrase = len(words) >= PASSPHRASE_WORDS and len(password) >= 20
    if not (strong or passphrase):
        raise PasswordRejected(
            "mot de passe trop faible : 12 caractères au moins mêlant majuscules, minuscules, "
            "chiffres et caractères spéciaux, ou une phrase de passe de 7 mots"
        )
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        raise PasswordRejected("le mot de passe ne doit pas contenir l'identifiant")
    if len(password) > 256 or any(
        c not in string.printable and not c.isprintable() for c in password
    ):
        raise PasswordRejected("mot de passe trop long ou caractères invalides")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored``; a missing account costs the same (dummy hash)."""
    try:
        return HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
