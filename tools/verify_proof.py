#!/usr/bin/env python3
"""Check a Vigie audit log proof against a published signed tree head, with no Vigie code.

Invariant: prints "OK ..." and exits 0 only if the tree head's Ed25519 signature verifies and the
RFC 9162 proof verifies against it; otherwise prints "FAIL: <reason>" on stderr and exits 1.

Needs only Python 3.11 and the ``cryptography`` package. The hashing and proof checks are copied
from ``vigie.audit.merkle`` and ``vigie.audit.tree_head`` on purpose, so that this file can be read,
audited and run on its own; the project's tests check that both give the same answers.

Usage::

    python verify_proof.py PROOF.json [--public-key BASE64]

``--public-key`` pins the log's key, published out of band; without it the key in the file is
used, which only shows that the file is self-consistent, so the key is printed for comparison.

JSON format. Hashes are 64 lowercase or uppercase hex digits; the public key (raw 32-byte Ed25519),
signatures (64 bytes) and leaf entries are standard base64. A tree head is::

    {"log_id": "vigie-audit", "tree_size": 8, "root_hash": "<hex>",
     "timestamp_ms": 1706486400000, "signature": "<base64>"}

signed over ``b"vigie tree head v1\\x00" | tree_size u64 | root_hash | timestamp_ms u64 |
len(log_id) u8 | log_id`` (big-endian; log_id is 1 to 255 printable ASCII characters, no spaces).

An inclusion proof (exactly one of ``leaf_hash`` and ``leaf_entry``; ``leaf_index`` from 0)::

    {"kind": "inclusion", "public_key": "<base64>", "tree_head": {...},
     "leaf_index": 5, "leaf_hash": "<hex>", "audit_path": ["<hex>", ...]}

A consistency proof (both heads from the same log, ``proof`` from RFC 9162 §2.1.4)::

    {"kind": "consistency", "public_key": "<base64>", "old_tree_head": {...},
     "tree_head": {...}, "proof": ["<hex>", ...]}

Leaf hash: SHA-256(0x00 || entry); node hash: SHA-256(0x01 || left || right).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
MAX_U64 = 2**64 - 1
HEAD_PREFIX = b"vigie tree head v1\x00"
HEAD_FIXED = struct.Struct(">Q32sQB")


class VerificationError(Exception):
    """The document is malformed, a signature does not verify or a proof does not."""


# --- RFC 9162 hashing and proof verification (same as vigie.audit.merkle) ---


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _climb_right_border(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2."""
    if size < 1 or not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise VerificationError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _climb_right_border(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof too short")
    if r != root:
        raise VerificationError("inclusion proof does not lead to the signed root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; equal sizes need an empty proof and equal roots."""
    if not 1 <= old_size <= new_size:
        raise VerificationError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise VerificationError("equal sizes need an empty proof and equal roots")
        return
    if not proof:
        raise VerificationError("empty consistency proof")
    nodes = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise VerificationError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _climb_right_border(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("consistency proof too short")
    if fr != old_root:
        raise VerificationError("consistency proof does not lead to the old signed root")
    if sr != new_root:
        raise VerificationError("consistency proof does not lead to the new signed root")


# --- Signed tree heads (same as vigie.audit.tree_head) ---


@dataclass(frozen=True)
class Head:
    log_id: str
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    signature: bytes

    def encode(self) -> bytes:
        log_id = self.log_id.encode("ascii")
        fixed = HEAD_FIXED.pack(self.tree_size, self.root_hash, self.timestamp_ms, len(log_id))
        return HEAD_PREFIX + fixed + log_id

    def verify(self, key: Ed25519PublicKey) -> None:
        try:
            key.verify(self.signature, self.encode())
        except InvalidSignature as exc:
            raise VerificationError(
                f"tree head of size {self.tree_size} is not signed by the log's key"
            ) from exc


def parse_head(value: object, where: str) -> Head:
    obj = _object(value, where)
    log_id = _string(obj, "log_id", where)
    if not 1 <= len(log_id) <= 255 or not all("!" <= ch <= "~" for ch in log_id):
        raise VerificationError(f"{where}.log_id must be 1 to 255 printable ASCII characters")
    return Head(
        log_id=log_id,
        tree_size=_u64(obj, "tree_size", where),
        root_hash=_hash(obj.get("root_hash"), f"{where}.root_hash"),
        timestamp_ms=_u64(obj, "timestamp_ms", where),
        signature=_b64(obj, "signature", where, size=64),
    )


def parse_public_key(text: str, where: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{where} is not base64") from exc
    if len(raw) != 32:
        raise VerificationError(f"{where} must be a raw 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


# --- The document ---


def verify_document(document: object, pinned_key: str | None = None) -> str:
    """The "OK ..." line for a valid document; VerificationError otherwise."""
    doc = _object(document, "document")
    key_text = _key_text(doc, pinned_key)
    key = parse_public_key(key_text, "public_key")
    kind = doc.get("kind")
    if kind == "inclusion":
        detail = _verify_inclusion_document(doc, key)
    elif kind == "consistency":
        detail = _verify_consistency_document(doc, key)
    else:
        raise VerificationError('"kind" must be "inclusion" or "consistency"')
    origin = "pinned" if pinned_key is not None else "read from the file: compare it to the log's"
    return f"OK {detail}; key {key_text} ({origin})"


def _key_text(doc: dict[str, object], pinned_key: str | None) -> str:
    in_file = doc.get("public_key")
    if pinned_key is None:
        if not isinstance(in_file, str):
            raise VerificationError("public_key must be given, in the file or with --public-key")
        return in_file
    if in_file is not None and in_file != pinned_key:
        raise VerificationError("the file's public_key is not the pinned key")
    return pinned_key


def _verify_inclusion_document(doc: dict[str, object], key: Ed25519PublicKey) -> str:
    head = parse_head(doc.get("tree_head"), "tree_head")
    head.verify(key)
    index = _u64(doc, "leaf_index", "document")
    leaf = _leaf(doc)
    path = _hash_list(doc.get("audit_path"), "audit_path")
    verify_inclusion(index, head.tree_size, leaf, path, head.root_hash)
    return (
        f"inclusion: leaf {index} (hash {leaf.hex()}) is in log {head.log_id} "
        f"at tree size {head.tree_size}, root {head.root_hash.hex()}, signed {_when(head)}"
    )


def _verify_consistency_document(doc: dict[str, object], key: Ed25519PublicKey) -> str:
    old = parse_head(doc.get("old_tree_head"), "old_tree_head")
    new = parse_head(doc.get("tree_head"), "tree_head")
    if old.log_id != new.log_id:
        raise VerificationError(f"the heads are from two logs: {old.log_id}, {new.log_id}")
    old.verify(key)
    new.verify(key)
    proof = _hash_list(doc.get("proof"), "proof")
    verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)
    return (
        f"consistency: log {new.log_id} at tree size {new.tree_size} (signed {_when(new)}) "
        f"extends tree size {old.tree_size} (signed {_when(old)}) without rewriting it"
    )


def _leaf(doc: dict[str, object]) -> bytes:
    has_hash, has_entry = "leaf_hash" in doc, "leaf_entry" in doc
    if has_hash == has_entry:
        raise VerificationError("give exactly one of leaf_hash and leaf_entry")
    if has_hash:
        return _hash(doc["leaf_hash"], "leaf_hash")
    return leaf_hash(_b64(doc, "leaf_entry", "document"))


def _when(head: Head) -> str:
    try:
        moment = datetime.fromtimestamp(head.timestamp_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"at {head.timestamp_ms} ms"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _object(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise VerificationError(f"{where} must be a JSON object")
    return value


def _string(obj: dict[str, object], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise VerificationError(f"{where}.{name} must be a string")
    return value


def _u64(obj: dict[str, object], name: str, where: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_U64:
        raise VerificationError(f"{where}.{name} must be an integer from 0 to 2**64 - 1")
    return value


def _b64(obj: dict[str, object], name: str, where: str, size: int | None = None) -> bytes:
    text = _string(obj, name, where)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{where}.{name} is not base64") from exc
    if size is not None and len(raw) != size:
        raise VerificationError(f"{where}.{name} must be {size} bytes")
    return raw


def _hash(value: object, where: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE:
        raise VerificationError(f"{where} must be {2 * HASH_SIZE} hex digits")
    try:
        return binascii.unhexlify(value)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"{where} must be {2 * HASH_SIZE} hex digits") from exc


def _hash_list(value: object, where: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerificationError(f"{where} must be a list of hashes")
    return [_hash(item, f"{where}[{i}]") for i, item in enumerate(value)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("proof", type=Path, help="the JSON proof document")
    parser.add_argument("--public-key", help="the log's published key (base64), to pin")
    args = parser.parse_args(argv)
    try:
        document = json.loads(args.proof.read_text(encoding="utf-8"))
        print(verify_document(document, args.public_key))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        print(f"FAIL: cannot read {args.proof}: {exc}", file=sys.stderr)
        return 1
    except VerificationError as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
