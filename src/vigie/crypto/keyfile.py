"""The key file: master keys (wrap data keys), blind-index keys and the audit log's keys (a
pseudonym key and an Ed25519 signing key), kept outside the database.

Invariant: the file is written atomically with mode 0600, and always holds exactly one active key of
each kind; keys marked "retiring" stay until a rotation has moved every record off them.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from vigie.crypto.secret_file import PrivateFileError, read_private_json, write_private_json

KeyState = Literal["active", "retiring"]


class KeyFileError(Exception):
    """The key file is missing, unreadable, badly formed or too widely readable."""


@dataclass(frozen=True)
class Key:
    id: str
    secret: bytes
    state: KeyState


@dataclass(frozen=True)
class AuditKeys:
    """The access log's keys: ``pseudonym`` (HMAC key naming insured people in entries) and
    ``signing`` (the Ed25519 private key's 32-byte seed, which signs tree heads)."""

    pseudonym: bytes
    signing: bytes


def generate_audit_keys() -> AuditKeys:
    return AuditKeys(pseudonym=secrets.token_bytes(32), signing=secrets.token_bytes(32))


@dataclass
class KeyFile:
    master_keys: list[Key] = field(default_factory=list)
    index_keys: list[Key] = field(default_factory=list)
    # Absent from key files made before the access log; ``vigie keys init`` adds them.
    audit: AuditKeys | None = None

    def audit_keys(self) -> AuditKeys:
        if self.audit is None:
            raise KeyFileError("the key file holds no audit keys: run 'vigie keys init'")
        return self.audit

    def active_master(self) -> Key:
        return _one_active(self.master_keys, "master")

    def active_index(self) -> Key:
        return _one_active(self.index_keys, "index")

    def master(self, key_id: str) -> Key:
        for key in self.master_keys:
            if key.id == key_id:
                return key
        raise KeyFileError(f"master key {key_id} is not in the key file")

    def rotating(self) -> bool:
        return any(k.state == "retiring" for k in self.master_keys + self.index_keys)


def new_key_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def generate() -> KeyFile:
    return KeyFile(
        master_keys=[Key(new_key_id("mk"), secrets.token_bytes(32), "active")],
        index_keys=[Key(new_key_id("ix"), secrets.token_bytes(32), "active")],
        audit=generate_audit_keys(),
    )


def load(path: Path) -> KeyFile:
    try:
        raw = read_private_json(path)
    except PrivateFileError as exc:
        if exc.reason == "missing":
            raise KeyFileError(f"no key file at {path}: run 'vigie keys init'") from exc
        if exc.reason == "open":
            raise KeyFileError(
                f"the key file {path} is readable by others (mode {exc.mode:o}); use 0600"
            ) from exc
        cause = exc.__cause__.__class__.__name__
        raise KeyFileError(f"the key file {path} cannot be read: {cause}") from exc
    try:
        keys = KeyFile(
            master_keys=[_decode(k) for k in raw["master_keys"]],
            index_keys=[_decode(k) for k in raw["index_keys"]],
            audit=_decode_audit(raw["audit"]) if "audit" in raw else None,
        )
        keys.active_master()
        keys.active_index()
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFileError(f"the key file {path} is badly formed") from exc
    return keys


def save(keys: KeyFile, path: Path) -> None:
    """Write atomically: a crash leaves either the old file or the new one, never half of one."""
    payload: dict[str, object] = {
        "format": 1,
        "master_keys": [_encode(k) for k in keys.master_keys],
        "index_keys": [_encode(k) for k in keys.index_keys],
    }
    if keys.audit is not None:
        payload["audit"] = {
            "pseudonym_key": base64.b64encode(keys.audit.pseudonym).decode(),
            "signing_key": base64.b64encode(keys.audit.signing).decode(),
        }
    write_private_json(path, payload)


def _one_active(keys: list[Key], kind: str) -> Key:
    active = [k for k in keys if k.state == "active"]
    if len(active) != 1:
        raise KeyFileError(f"the key file must hold exactly one active {kind} key")
    return active[0]


def _decode(raw: dict[str, str]) -> Key:
    state = raw["state"]
    if state not in ("active", "retiring"):
        raise ValueError("bad key state")
    secret = base64.b64decode(raw["secret"], validate=True)
    if len(secret) != 32:
        raise ValueError("keys are 256 bits")
    return Key(raw["id"], secret, state)  # type: ignore[arg-type]


def _decode_audit(raw: dict[str, str]) -> AuditKeys:
    pseudonym = base64.b64decode(raw["pseudonym_key"], validate=True)
    signing = base64.b64decode(raw["signing_key"], validate=True)
    if len(pseudonym) != 32 or len(signing) != 32:
        raise ValueError("audit keys are 256 bits")
    return AuditKeys(pseudonym, signing)


def _encode(key: Key) -> dict[str, str]:
    return {"id": key.id, "secret": base64.b64encode(key.secret).decode(), "state": key.state}
