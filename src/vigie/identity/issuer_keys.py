"""The token service's own key file: Ed25519 signing keys (JWKS) and a secret that seals TOTP
secrets; kept outside the database, like the data keys.

Invariant: the file is written atomically with mode 0600; the first signing key signs, the others
(previous keys after a rotation) still verify until the tokens they signed have expired.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import KeySet, OKPKey

from vigie.crypto.secret_file import PrivateFileError, read_private_json, write_private_json

SIGNING_ALG = "Ed25519"  # RFC 9864 (fully specified; "EdDSA" is deprecated)
KEPT_SIGNING_KEYS = 3
_CREATE_LOCK = threading.Lock()


class IssuerKeyError(Exception):
    """The issuer key file is unreadable, badly formed or too widely readable."""


@dataclass(frozen=True)
class IssuerKeys:
    signing: tuple[OKPKey, ...]
    secret: bytes  # AES-256-GCM key for TOTP secrets

    @property
    def active(self) -> OKPKey:
        return self.signing[0]

    def public_jwks(self) -> dict[str, Any]:
        keys = [
            {**k.as_dict(private=False), "alg": SIGNING_ALG, "use": "sig"} for k in self.signing
        ]
        return {"keys": keys}

    def key_set(self) -> KeySet:
        return KeySet.import_key_set(self.public_jwks())  # type: ignore[arg-type]

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(self.secret).encrypt(nonce, plaintext, context)

    def open(self, blob: bytes, context: bytes) -> bytes:
        return AESGCM(self.secret).decrypt(blob[:12], blob[12:], context)


def generate() -> IssuerKeys:
    return IssuerKeys((_new_signing_key(),), secrets.token_bytes(32))


def _new_signing_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", auto_kid=True)


def load(path: Path) -> IssuerKeys:
    try:
        raw = read_private_json(path)
    except PrivateFileError as exc:
        message = {
            "missing": f"pas de fichier de clés d'émetteur : {path}",
            "unreadable": f"fichier de clés d'émetteur illisible : {path}",
            "open": f"le fichier de clés {path} est lisible par d'autres ; mode 0600",
        }[exc.reason]
        raise IssuerKeyError(message) from exc
    try:
        signing = tuple(OKPKey.import_key(k) for k in raw["signing_keys"])
        secret = base64.b64decode(raw["secret"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise IssuerKeyError(f"fichier de clés d'émetteur mal formé : {path}") from exc
    if not signing or len(secret) != 32 or any(not k.is_private for k in signing):
        raise IssuerKeyError(f"fichier de clés d'émetteur mal formé : {path}")
    return IssuerKeys(signing, secret)


def load_or_create(path: Path) -> IssuerKeys:
    """The keys at ``path``, created on first use (each deployment has its own). Server worker
    processes starting together race to create it: the first file wins, the others read it."""
    with _CREATE_LOCK:
        if not path.exists():
            with contextlib.suppress(FileExistsError):  # another process was first: use its
                save(generate(), path, exclusive=True)
    return load(path)


def rotate(path: Path) -> IssuerKeys:
    """A new signing key in front; the previous ones stay to verify what they signed."""
    keys = load(path)
    rotated = IssuerKeys((_new_signing_key(), *keys.signing[: KEPT_SIGNING_KEYS - 1]), keys.secret)
    save(rotated, path)
    return rotated


def save(keys: IssuerKeys, path: Path, *, exclusive: bool = False) -> None:
    """Write atomically (mode 0600); ``exclusive``: never replace an existing file."""
    payload = {
        "format": 1,
        "signing_keys": [k.as_dict(private=True) for k in keys.signing],
        "secret": base64.b64encode(keys.secret).decode(),
    }
    write_private_json(path, payload, exclusive=exclusive)
