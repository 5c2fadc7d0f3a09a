"""Signed tree heads: the log's Ed25519-signed statement that its first ``tree_size`` entries have
the Merkle root ``root_hash``, as of ``timestamp_ms``, for the log named ``log_id``.

Invariant: a signature covers exactly one canonical encoding, and each head has exactly one, so a
head verifies only as it was signed and a signature can never be moved to another head or log.

Canonical encoding (big-endian, no padding), ``ENCODED_PREFIX`` first so that these bytes cannot be
mistaken for anything else the key might sign::

    b"vigie tree head v1\\x00" | tree_size u64 | root_hash 32 bytes | timestamp_ms u64
    | len(log_id) u8 | log_id (printable ASCII, 1 to 255 bytes)
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ENCODED_PREFIX = b"vigie tree head v1\x00"
ROOT_SIZE = 32
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 32
MAX_U64 = 2**64 - 1
_FIXED = struct.Struct(f">Q{ROOT_SIZE}sQB")  # tree_size, root_hash, timestamp_ms, len(log_id)
_Decoder = Callable[[str], bytes]


class TreeHeadError(Exception):
    """A tree head, its encoding, its JSON form or a public key is malformed."""


class SignatureError(TreeHeadError):
    """A tree head's signature does not verify under the given public key."""


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    log_id: str

    def __post_init__(self) -> None:
        _check_u64(self.tree_size, "tree_size")
        _check_u64(self.timestamp_ms, "timestamp_ms")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_SIZE:
            raise TreeHeadError(f"root_hash must be {ROOT_SIZE} bytes")
        _check_log_id(self.log_id)

    def encode(self) -> bytes:
        """The canonical bytes that a signature covers."""
        log_id = self.log_id.encode("ascii")
        fixed = _FIXED.pack(self.tree_size, self.root_hash, self.timestamp_ms, len(log_id))
        return ENCODED_PREFIX + fixed + log_id


def decode_tree_head(data: bytes) -> TreeHead:
    """The head whose canonical encoding is ``data``; anything else raises TreeHeadError."""
    if not data.startswith(ENCODED_PREFIX):
        raise TreeHeadError("not a Vigie tree head encoding")
    body = data[len(ENCODED_PREFIX) :]
    if len(body) < _FIXED.size:
        raise TreeHeadError("tree head encoding is truncated")
    tree_size, root_hash, timestamp_ms, id_length = _FIXED.unpack_from(body)
    log_id = body[_FIXED.size :]
    if len(log_id) != id_length:
        raise TreeHeadError("tree head encoding has a wrong log_id length")
    try:
        text = log_id.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TreeHeadError("log_id must be printable ASCII") from exc
    return TreeHead(tree_size, root_hash, timestamp_ms, text)


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    signature: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise TreeHeadError(f"signature must be {SIGNATURE_SIZE} bytes")

    def to_dict(self) -> dict[str, int | str]:
        """The published JSON form, as ``tools/verify_proof.py`` reads it: hashes in hex,
        the signature in base64."""
        return {
            "log_id": self.head.log_id,
            "tree_size": self.head.tree_size,
            "root_hash": self.head.root_hash.hex(),
            "timestamp_ms": self.head.timestamp_ms,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SignedTreeHead:
        head = TreeHead(
            tree_size=_json_int(data, "tree_size"),
            root_hash=_json_bytes(data, "root_hash", binascii.unhexlify),
            timestamp_ms=_json_int(data, "timestamp_ms"),
            log_id=_json_str(data, "log_id"),
        )
        signature = _json_bytes(data, "signature", _b64decode)
        return cls(head, signature)


def sign_tree_head(head: TreeHead, private_key: Ed25519PrivateKey) -> SignedTreeHead:
    return SignedTreeHead(head, private_key.sign(head.encode()))


def verify_tree_head(signed: SignedTreeHead, public_key: Ed25519PublicKey) -> TreeHead:
    """The head, once its signature verifies under ``public_key``; SignatureError otherwise."""
    try:
        public_key.verify(signed.signature, signed.head.encode())
    except InvalidSignature as exc:
        raise SignatureError(
            f"tree head of size {signed.head.tree_size} for log {signed.head.log_id!r} "
            "is not signed by this key"
        ) from exc
    return signed.head


def encode_public_key(public_key: Ed25519PublicKey) -> str:
    """The raw 32-byte key in base64: how the key is published and pinned by verifiers."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def decode_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = _b64decode(text)
        if len(raw) != PUBLIC_KEY_SIZE:
            raise ValueError(f"{len(raw)} bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise TreeHeadError(f"not a base64 raw {PUBLIC_KEY_SIZE}-byte Ed25519 public key") from exc


def _check_u64(value: int, name: str) -> None:
    # bool is an int to Python, never a size or a time here.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_U64:
        raise TreeHeadError(f"{name} must be an integer from 0 to 2**64 - 1")


def _check_log_id(log_id: str) -> None:
    # Printable ASCII only: one visible string, one encoding (no Unicode look-alikes or forms).
    if (
        not isinstance(log_id, str)
        or not 1 <= len(log_id) <= 255
        or not all("!" <= ch <= "~" for ch in log_id)
    ):
        raise TreeHeadError("log_id must be 1 to 255 printable ASCII characters, no spaces")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _json_int(data: Mapping[str, object], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TreeHeadError(f"{name} must be an integer")
    return value


def _json_str(data: Mapping[str, object], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise TreeHeadError(f"{name} must be a string")
    return value


def _json_bytes(data: Mapping[str, object], name: str, decode: _Decoder) -> bytes:
    text = _json_str(data, name)
    try:
        return decode(text)
    except (binascii.Error, ValueError) as exc:
        raise TreeHeadError(f"{name} is not validly encoded") from exc
