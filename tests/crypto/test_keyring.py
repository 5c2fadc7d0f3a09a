"""Envelope encryption and blind indexes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from vigie.crypto import keyfile
from vigie.crypto.keyring import DecryptionError, load_keyring
from vigie.crypto.models import DataKey
from vigie.runtime import Runtime


def test_encryption_round_trips_and_binds_its_context(runtime: Runtime) -> None:
    ring = runtime.keyring
    blob = ring.encrypt(b"secret", b"ctx-a")
    assert b"secret" not in blob
    assert ring.decrypt(ring.active_key_id, blob, b"ctx-a") == b"secret"
    with pytest.raises(DecryptionError):
        ring.decrypt(ring.active_key_id, blob, b"ctx-b")


def test_tampered_ciphertext_is_refused(runtime: Runtime) -> None:
    ring = runtime.keyring
    blob = bytearray(ring.encrypt(b"secret", b"ctx"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        ring.decrypt(ring.active_key_id, bytes(blob), b"ctx")


def test_unknown_data_key_is_refused(runtime: Runtime) -> None:
    blob = runtime.keyring.encrypt(b"secret", b"ctx")
    with pytest.raises(DecryptionError):
        runtime.keyring.decrypt("dk-unknown", blob, b"ctx")


def test_nonces_differ_so_equal_plaintexts_do_not_match(runtime: Runtime) -> None:
    ring = runtime.keyring
    assert ring.encrypt(b"same", b"ctx") != ring.encrypt(b"same", b"ctx")


def test_blind_index_is_keyed_and_deterministic(runtime: Runtime) -> None:
    ring = runtime.keyring
    assert ring.blind_index(b"x") == ring.blind_index(b"x")
    assert ring.blind_index(b"x") != ring.blind_index(b"y")
    other = keyfile.generate()
    with runtime.engine.begin() as conn:
        stored = conn.execute(select(DataKey.wrapped)).scalar_one()
    assert ring.blind_index(b"x") not in stored
    import hashlib

    assert ring.blind_index(b"x") != hashlib.sha256(b"x").digest()
    assert other.active_index().secret != runtime.keys.active_index().secret


def test_data_keys_are_stored_wrapped_only(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        rows = conn.execute(select(DataKey.id, DataKey.wrapped, DataKey.state)).all()
    assert [r.state for r in rows] == ["active"]
    # 12-byte nonce + 32-byte key + 16-byte tag: the key itself is never stored in clear.
    assert len(rows[0].wrapped) == 60


def test_another_key_file_cannot_unwrap_the_data_keys(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn, pytest.raises(Exception, match="master key"):
        load_keyring(conn, keyfile.generate())
