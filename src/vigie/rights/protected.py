"""How a beneficiary's identity is sealed for storage and found again.

Invariant: the same identity always yields the same blind-index message, and a sealed identity
opens only under the tenant (AMC) it was sealed for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from vigie.crypto.keyring import Keyring

SEP = "\x1f"


@dataclass(frozen=True)
class Identity:
    amc: str
    member: str
    nir: str
    birth_date: date
    birth_rank: int
    last_name: str
    first_name: str
    postcode: str


def card_message(amc: str, member: str, nir: str, birth_date: date, birth_rank: int) -> bytes:
    """What a full card lookup proves: both cards' identifiers together."""
    return SEP.join(("card.v1", amc, member, nir, birth_date.isoformat(), str(birth_rank))).encode()


def cardless_message(nir: str, birth_date: date, birth_rank: int) -> bytes:
    return SEP.join(("vitale.v1", nir, birth_date.isoformat(), str(birth_rank))).encode()


def context(amc: str) -> bytes:
    return b"vigie:beneficiary:" + amc.encode()


def seal(keyring: Keyring, person: Identity) -> bytes:
    fields = (
        person.member,
        person.nir,
        person.birth_date.isoformat(),
        str(person.birth_rank),
        person.last_name,
        person.first_name,
        person.postcode,
    )
    return keyring.encrypt(SEP.join(fields).encode(), context(person.amc))


def unseal(keyring: Keyring, amc: str, key_id: str, blob: bytes) -> Identity:
    member, nir, birth, rank, last, first, postcode = (
        keyring.decrypt(key_id, blob, context(amc)).decode().split(SEP)
    )
    return Identity(amc, member, nir, date.fromisoformat(birth), int(rank), last, first, postcode)
