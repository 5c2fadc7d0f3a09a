"""The keyring a process works with: unwrapped data keys and blind-index keys, in memory only.

Invariant: new data is always encrypted under the one active data key; any data key still listed
(active or retiring) decrypts, so a rotation in progress never makes a record unreadable.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, insert, select, update

from vigie.crypto.keyfile import KeyFile, new_key_id
from vigie.crypto.models import DataKey

NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext does not open: wrong key, wrong context or tampered bytes."""


@dataclass(frozen=True)
class IndexKey:
    id: str
    secret: bytes


class Keyring:
    def __init__(self, *, data_keys: dict[str, bytes], active: str, index_keys: list[IndexKey]):
        self._aead = {key_id: AESGCM(secret) for key_id, secret in data_keys.items()}
        self.active_key_id = active
        self._active = self._aead[active]
        # The active index key comes first; a retiring one follows while a rotation runs.
        self.index_keys = index_keys

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._active.encrypt(nonce, plaintext, context)

    def decrypt(self, key_id: str, blob: bytes, context: bytes) -> bytes:
        aead = self._aead.get(key_id)
        if aead is None:
            raise DecryptionError(f"data key {key_id} is not available")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context)
        except InvalidTag as exc:
            raise DecryptionError("a ciphertext failed authentication") from exc

    def blind_index(self, message: bytes) -> bytes:
        """Keyed HMAC-SHA256 under the active index key: equality search without the plaintext."""
        return hmac.digest(self.index_keys[0].secret, message, "sha256")

    def blind_index_candidates(self, message: bytes) -> list[bytes]:
        """Every index a stored record may carry now: the active key's, then a retiring key's."""
        return [hmac.digest(k.secret, message, "sha256") for k in self.index_keys]

    def knows(self, key_id: str) -> bool:
        return key_id in self._aead


def _wrap_context(data_key_id: str) -> bytes:
    return b"vigie:data-key:" + data_key_id.encode()


def create_data_key(conn: Connection, keys: KeyFile) -> str:
    """Make a fresh data key, wrapped under the active master key, and make it the active one."""
    master = keys.active_master()
    key_id = new_key_id("dk")
    nonce = os.urandom(NONCE_BYTES)
    wrapped = nonce + AESGCM(master.secret).encrypt(
        nonce, secrets.token_bytes(32), _wrap_context(key_id)
    )
    conn.execute(update(DataKey).where(DataKey.state == "active").values(state="retiring"))
    conn.execute(
        insert(DataKey).values(
            id=key_id,
            master_key_id=master.id,
            wrapped=wrapped,
            state="active",
            created_at=datetime.now(UTC),
        )
    )
    return key_id


def load_keyring(conn: Connection, keys: KeyFile) -> Keyring:
    """Unwrap every stored data key with the key file; creates the first data key if none exists."""
    rows = conn.execute(select(DataKey.id, DataKey.master_key_id, DataKey.wrapped, DataKey.state))
    data_keys: dict[str, bytes] = {}
    active: str | None = None
    for key_id, master_id, wrapped, state in rows:
        master = keys.master(master_id)
        try:
            data_keys[key_id] = AESGCM(master.secret).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_context(key_id)
            )
        except InvalidTag as exc:
            raise DecryptionError(f"data key {key_id} does not unwrap with its master key") from exc
        if state == "active":
            active = key_id
    if active is None:
        create_data_key(conn, keys)
        return load_keyring(conn, keys)
    index_keys = sorted(keys.index_keys, key=lambda k: k.state != "active")
    return Keyring(
        data_keys=data_keys,
        active=active,
        index_keys=[IndexKey(k.id, k.secret) for k in index_keys],
    )


def hold_data_key(conn: Connection, key_id: str) -> bool:
    """Keep a data key from being retired while this transaction writes under it.

    False when the key is gone (a rotation finished since the keyring was loaded).
    """
    query = select(DataKey.id).where(DataKey.id == key_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    return conn.execute(query).first() is not None
