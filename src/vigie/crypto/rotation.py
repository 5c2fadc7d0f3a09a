"""Key rotation, the key side: fresh master, data and index keys, and retiring the old ones.

Invariant: the retiring keys stay in the key file and in the database until the caller has moved
every record off them, so nothing becomes unreadable or unfindable, and a rotation can resume.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Connection, delete, select

from vigie.crypto import keyfile
from vigie.crypto.keyfile import Key, KeyFile
from vigie.crypto.keyring import create_data_key
from vigie.crypto.models import DataKey
from vigie.db.engine import write_transaction
from vigie.runtime import Runtime


def start(keys: KeyFile) -> KeyFile:
    """Retire the active keys and add fresh active ones (a rotation in progress is kept)."""
    if keys.rotating():
        return keys
    return KeyFile(
        master_keys=[
            replace(keys.active_master(), state="retiring"),
            Key(keyfile.new_key_id("mk"), secrets.token_bytes(32), "active"),
        ],
        index_keys=[
            replace(keys.active_index(), state="retiring"),
            Key(keyfile.new_key_id("ix"), secrets.token_bytes(32), "active"),
        ],
        audit=keys.audit,
    )


def begin_rotation(rt: Runtime) -> None:
    """Save the new key file first, then make a data key under the new master key."""
    rt.keys = start(rt.keys)
    keyfile.save(rt.keys, rt.settings.keys)
    with write_transaction(rt.engine) as conn:
        master = conn.execute(
            select(DataKey.master_key_id).where(DataKey.state == "active")
        ).scalar()
        if master != rt.keys.active_master().id:
            create_data_key(conn, rt.keys)
    rt.reload_keyring()


class RecordsLeft(Exception):
    """Records still use a retiring key (an import committed meanwhile): move them first."""


def finish_rotation(rt: Runtime, *, records_left: Callable[[Connection], int]) -> None:
    """Drop the retiring data keys, then the retiring secrets, once no record needs them.

    The check runs in the same transaction as the deletion, after it: on PostgreSQL the
    deletion waits for importers that hold their data key (see ``hold_data_key``), on SQLite
    the write lock orders them; so a record written under an old key is always seen here.
    """
    with write_transaction(rt.engine) as conn:
        conn.execute(delete(DataKey).where(DataKey.state != "active"))
        if records_left(conn):
            raise RecordsLeft
    rt.keys = KeyFile(
        master_keys=[k for k in rt.keys.master_keys if k.state == "active"],
        index_keys=[k for k in rt.keys.index_keys if k.state == "active"],
        audit=rt.keys.audit,
    )
    keyfile.save(rt.keys, rt.settings.keys)
    rt.reload_keyring()
