"""Key rotation, the records' side: every beneficiary re-sealed and re-indexed on the new keys.

Invariant: a record whose ``key_id`` is the active data key also carries blind indexes under the
active index key; records move in committed batches, so an interrupted rotation resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, update

from vigie.crypto.rotation import RecordsLeft, begin_rotation, finish_rotation
from vigie.db.engine import write_transaction
from vigie.rights.models import Beneficiary
from vigie.rights.protected import card_message, cardless_message, seal, unseal
from vigie.runtime import Runtime

Progress = Callable[[int, int], None]
# Each attempt moves what concurrent imports wrote under the old keys; they are few.
FINISH_ATTEMPTS = 10


@dataclass(frozen=True)
class RotationReport:
    records: int
    data_key_id: str
    complete: bool


def rotate(
    rt: Runtime,
    *,
    batch: int = 5_000,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> RotationReport:
    """Run (or resume) a rotation; ``max_batches`` stops early, leaving it resumable."""
    begin_rotation(rt)
    moved = 0
    for _ in range(FINISH_ATTEMPTS):
        moved += _move_records(rt, batch, max_batches, progress)
        if max_batches is not None and _remaining(rt):
            return RotationReport(moved, rt.keyring.active_key_id, False)
        try:
            finish_rotation(rt, records_left=lambda conn: _count_left(conn, rt))
        except RecordsLeft:
            continue  # an import committed under the old keys meanwhile: move its records too
        return RotationReport(moved, rt.keyring.active_key_id, True)
    return RotationReport(moved, rt.keyring.active_key_id, False)


def _remaining(rt: Runtime) -> int:
    with rt.engine.connect() as conn:
        return _count_left(conn, rt)


def _count_left(conn: Connection, rt: Runtime) -> int:
    query = select(func.count()).where(Beneficiary.key_id != rt.keyring.active_key_id)
    return int(conn.execute(query).scalar_one())


def _move_records(
    rt: Runtime, batch: int, max_batches: int | None, progress: Progress | None
) -> int:
    total, moved, batches = _remaining(rt), 0, 0
    while max_batches is None or batches < max_batches:
        count = _move_batch(rt, batch)
        if count == 0:
            break
        moved, batches = moved + count, batches + 1
        if progress:
            progress(moved, total)
    return moved


def _move_batch(rt: Runtime, batch: int) -> int:
    keyring = rt.keyring
    with write_transaction(rt.engine) as conn:
        rows = conn.execute(
            select(Beneficiary.id, Beneficiary.amc, Beneficiary.key_id, Beneficiary.pii)
            .where(Beneficiary.key_id != keyring.active_key_id)
            .order_by(Beneficiary.id)
            .limit(batch)
        ).all()
        for bid, amc, key_id, blob in rows:
            person = unseal(keyring, amc, key_id, blob)
            card = card_message(
                amc, person.member, person.nir, person.birth_date, person.birth_rank
            )
            cardless = cardless_message(person.nir, person.birth_date, person.birth_rank)
            conn.execute(
                update(Beneficiary)
                .where(Beneficiary.id == bid)
                .values(
                    card_index=keyring.blind_index(card),
                    cardless_index=keyring.blind_index(cardless),
                    key_id=keyring.active_key_id,
                    pii=seal(keyring, person),
                )
            )
    return len(rows)
