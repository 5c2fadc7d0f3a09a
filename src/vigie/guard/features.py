"""What the guard reads from one eligibility question, and nothing more.

Invariant: no identifier is kept: the patient becomes a keyed 64-bit digest (per process key),
the NIR only its birth département and a keyed digest of its prefix with the order number.
The digests are Python's own hash (SipHash, its key drawn at random per process) of the parts
with a random salt: they live only in this process's memory, for equality tests, and a keyed
hash function called from C costs a tenth of a blake2b called from Python (three per question).
When PYTHONHASHSEED fixes that key, SipHash-2-4 under this process's random key, of the parts'
text, takes over: a tuple's hash mixes its parts' hashes reversibly, so a known key would leave
only the salt to guess. Server processes that share their risk state (sharing.py) need the
same digests: ``share_digests`` then keys it with a secret derived from the deployment's keys,
the same in every process. SipHash-2-4 is a keyed function made for short inputs (a PRF); its
C twin (_speedups.c) is what runs, ``siphash24`` below the reference.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from vigie.identity.identifiers import Profession

_SALT = secrets.token_bytes(16)
_KEYED = _SALT  # SipHash's key (16 bytes): this process's own until share_digests
_HASH_KEY_RANDOM = os.environ.get("PYTHONHASHSEED", "random") == "random"


@dataclass(frozen=True, slots=True)
class Caller:
    account: int
    subject: str  # "rpps:…": the account, as the audit log names it
    profession: Profession
    departement: str  # of the practice, from its postcode
    structure: int | None


class Question(NamedTuple):
    """One eligibility question as the guard sees it (a tuple: built once per request, cheaply)."""

    patient: int  # keyed digest of (NIR, birth date, birth rank)
    departement: str  # the patient's birth département, from the NIR
    series: int  # keyed digest of the NIR's first ten digits (sex, birth, place)
    order: int  # the NIR's order number (digits 11-13): consecutive ones betray guessing
    cardless: bool
    agree: bool


_new_question = tuple.__new__  # a Question from a tuple, without NamedTuple's Python __new__


def share_digests(key: bytes) -> None:
    """From now on, this process's digests are SipHash-2-4 under a key derived from ``key``:
    equal in every process given the same key."""
    global _HASH_KEY_RANDOM, _KEYED
    _KEYED = hashlib.blake2b(key, digest_size=16, person=b"vigie digests").digest()
    _HASH_KEY_RANDOM = False
    _bind_question()


M64 = (1 << 64) - 1


def _rotate(x: int, bits: int) -> int:
    return (x << bits | x >> (64 - bits)) & M64


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4 (Aumasson and Bernstein, 2012) of ``data`` under a 16-byte key, as an
    unsigned 64-bit int: the reference for the C twin, and the digests where it is not built
    (slowly: some ten microseconds each)."""
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261,
         k1 ^ 0x7465646279746573]  # fmt: skip

    def rounds(n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & M64
            v[1] = _rotate(v[1], 13) ^ v[0]
            v[0] = _rotate(v[0], 32)
            v[2] = (v[2] + v[3]) & M64
            v[3] = _rotate(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & M64
            v[3] = _rotate(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & M64
            v[1] = _rotate(v[1], 17) ^ v[2]
            v[2] = _rotate(v[2], 32)

    end = len(data) - len(data) % 8
    blocks = [int.from_bytes(data[i : i + 8], "little") for i in range(0, end, 8)]
    blocks.append((len(data) & 0xFF) << 56 | int.from_bytes(data[end:], "little"))
    for m in blocks:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def digest(*parts: object) -> int:
    """A keyed 64-bit digest of ``parts`` (strings, dates, integers), valid in this process."""
    if _HASH_KEY_RANDOM:
        return hash((_SALT, *parts))
    return siphash24(_KEYED, "\x1f".join(map(str, parts)).encode())


def nir_departement(nir: str) -> str:
    """Birth département: 2 characters (2A/2B for Corsica), 3 for overseas (97x), 99 abroad."""
    head = nir[5:7]
    return nir[5:8] if head in ("97", "98") else head


def practice_departement(postcode: str) -> str:
    if postcode.startswith("20"):
        return "2A" if postcode < "20200" else "2B"
    return postcode[:3] if postcode[:2] in ("97", "98") else postcode[:2]


def question(
    nir: str, birth_date: date, birth_rank: int, *, account: int, cardless: bool, agree: bool
) -> Question:
    """The question as ``account`` asks it: its digests are that account's own (they are only
    ever compared within one account), so that shared risk notes cannot link one patient's
    visits to several professionals."""
    # digest() and nir_departement() inlined: each Python call on a request's path costs a
    # microsecond or two once the eligibility flow has evicted the guard's code from the caches.
    if _HASH_KEY_RANDOM:
        patient = hash((_SALT, account, nir, birth_date, birth_rank))
        series = hash((_SALT, account, nir[:10]))
    else:  # the Gate runs the C twin (question_of): no need to write digest() out here
        patient, series = digest(account, nir, birth_date, birth_rank), digest(account, nir[:10])
    head, order = nir[5:7], nir[10:13]
    return _new_question(Question, (
        patient, nir[5:8] if head in ("97", "98") else head, series,
        int(order) if order.isdigit() else 0, cardless, agree,
    ))  # fmt: skip


# What the Gate calls for each question: question() above, or its C twin where the package was
# built with it (the same digests and parts; a microsecond and a half less a question, and with
# shared digests about one more saved: it hashes the parts' text written into one buffer).
question_of: Callable[..., Question] = question
try:
    from vigie.guard import _speedups
except ImportError:  # pragma: no cover - an installation without a C compiler
    _speedups = None  # type: ignore[assignment]


def _bind_question() -> None:
    """Tell the C twin the salt and the digests' key in force (share_digests changes them)."""
    if _speedups is not None:
        _speedups.bind_question(Question, _SALT, None if _HASH_KEY_RANDOM else _KEYED)


if _speedups is not None:
    _bind_question()
    question_of = _speedups.question


def first_header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The value of a request's first header named ``name`` (the ASGI scope's pairs)."""
    for key, value in headers:
        if type(key) is bytes and key == name:  # another type never equals bytes
            return value
    return None


# The Gate's, for the user agent of every question: first_header or its C twin where built.
header_of: Callable[[Iterable[tuple[bytes, bytes]], bytes], bytes | None] = first_header
if _speedups is not None:
    header_of = _speedups.first_header


def network_of(host: str) -> str:
    """The network a client address belongs to: IPv4 /24, IPv6 /48 (a home box's address
    changes inside its provider's block; a new network is what matters)."""
    if ":" in host:
        return ":".join(host.split(":")[:3])
    return host.rsplit(".", 1)[0]


def origin_of(client_host: str | None, user_agent: str | None) -> int:
    """The network origin and device of a request, as a keyed digest (never stored)."""
    network = network_of(client_host or "-")
    if _HASH_KEY_RANDOM:
        return hash((_SALT, network, user_agent or "-"))
    return digest(network, user_agent or "-")
