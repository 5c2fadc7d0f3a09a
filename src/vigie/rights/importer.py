"""Applying a checked rights file: beneficiaries and rights, inserted or updated in one go.

Invariant: the file is applied whole or not at all (the caller's single transaction), and
applying the same file twice changes nothing the second time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import cast

from sqlalchemy import Connection, Table, select, text

from vigie.crypto.keyring import Keyring
from vigie.db.bulk import copy_rows, update_rows
from vigie.rights.errors import ImportRejected, ImportReport, LineError
from vigie.rights.models import Beneficiary, Plan, Right
from vigie.rights.protected import seal, unseal
from vigie.rights.rights_file import RightRow, read_rights

Phase = Callable[[str, int], None]


@dataclass
class _Known:
    id: int
    card_index: bytes
    key_id: str
    pii: bytes
    rights: dict[date, tuple[int, int, date | None]] = field(default_factory=dict)


@dataclass
class _Plan:
    """What will be written, computed entirely before the first write."""

    new_people: list[tuple[int, RightRow]] = field(default_factory=list)
    changed_people: list[tuple[int, RightRow]] = field(default_factory=list)
    new_rights: list[tuple[int, RightRow]] = field(default_factory=list)
    changed_rights: list[tuple[int, RightRow]] = field(default_factory=list)
    unchanged_rights: int = 0


def import_rights(
    conn: Connection, keyring: Keyring, lines: Iterable[str], *, progress: Phase | None = None
) -> ImportReport:
    """Check, plan and write a v1 rights file; raises ImportRejected before any write."""
    plans = {
        (amc, code): pid for pid, amc, code in conn.execute(select(Plan.id, Plan.amc, Plan.code))
    }
    rows = read_rights(
        lines,
        plans=plans,
        keyring=keyring,
        progress=(lambda n: progress("check", n)) if progress else None,
    )
    known = _known_people(conn, {r.person.amc for r in rows})
    work = _plan_changes(rows, known, keyring, _reserve_ids(conn, "beneficiaries"))
    _write(conn, keyring, work, progress)
    return ImportReport(
        created=len(work.new_rights),
        updated=len(work.changed_rights),
        unchanged=work.unchanged_rights,
        details={
            "beneficiaries_created": len(work.new_people),
            "beneficiaries_updated": len(work.changed_people),
        },
    )


def _known_people(conn: Connection, amcs: set[str]) -> dict[bytes, _Known]:
    if not amcs:
        return {}
    people: dict[int, _Known] = {}
    query = select(Beneficiary.id, Beneficiary.card_index, Beneficiary.key_id, Beneficiary.pii)
    for bid, index, key_id, pii in conn.execute(query.where(Beneficiary.amc.in_(amcs))):
        people[bid] = _Known(bid, index, key_id, pii)
    rights = select(Right.id, Right.beneficiary_id, Right.start, Right.end, Right.plan_id).join(
        Beneficiary, Beneficiary.id == Right.beneficiary_id
    )
    for rid, bid, start, end, plan_id in conn.execute(rights.where(Beneficiary.amc.in_(amcs))):
        people[bid].rights[start] = (rid, plan_id, end)
    return {p.card_index: p for p in people.values()}


def _plan_changes(
    rows: list[RightRow], known: dict[bytes, _Known], keyring: Keyring, next_id: Callable[[], int]
) -> _Plan:
    work = _Plan()
    fresh: dict[bytes, _Known] = {}
    checked: set[int] = set()
    errors: list[LineError] = []
    for row in rows:
        person = next((known[i] for i in row.card_indexes if i in known), None)
        person = person or fresh.get(row.card_indexes[0])
        if person is None:
            person = _Known(next_id(), row.card_indexes[0], "", b"")
            fresh[person.card_index] = person
            work.new_people.append((person.id, row))
        elif person.id not in checked and person.pii and _changed(keyring, person, row):
            work.changed_people.append((person.id, row))
        checked.add(person.id)
        _plan_right(work, person, row)
    for person in list(known.values()) + list(fresh.values()):
        errors.extend(_overlaps(person))
    if errors:
        raise ImportRejected(errors)
    return work


def _plan_right(work: _Plan, person: _Known, row: RightRow) -> None:
    current = person.rights.get(row.start)
    if current is None:
        work.new_rights.append((person.id, row))
    elif (current[1], current[2]) != (row.plan_id, row.end):
        work.changed_rights.append((current[0], row))
    else:
        work.unchanged_rights += 1
    # Record the final state, tagged with its line so that overlaps can be reported.
    person.rights[row.start] = (-row.line, row.plan_id, row.end)


def _overlaps(person: _Known) -> list[LineError]:
    """Periods of one beneficiary, as they will be after the import, must not overlap."""
    errors = []
    periods = sorted(person.rights.items())
    for (_start_a, (tag_a, _, end_a)), (start_b, (tag_b, _, _)) in itertools.pairwise(periods):
        if end_a is None or end_a >= start_b:
            line = -tag_b if tag_b < 0 else -tag_a
            if line > 0:
                errors.append(LineError(line, "période qui chevauche un droit déjà enregistré"))
    return errors


def _changed(keyring: Keyring, person: _Known, row: RightRow) -> bool:
    """A new name or postcode, or a record still indexed under a retiring key."""
    if person.card_index != row.card_indexes[0]:
        return True
    return unseal(keyring, row.person.amc, person.key_id, person.pii) != row.person


def _reserve_ids(conn: Connection, table: str) -> Callable[[], int]:
    """Ids handed out before writing, so rights can point at beneficiaries not yet inserted."""
    if conn.dialect.name == "postgresql":
        sequence = f"{table}_id_seq"
        pool: list[int] = []

        def next_pg() -> int:
            if not pool:
                batch = conn.execute(
                    text("SELECT nextval(:seq) FROM generate_series(1, 10000)"), {"seq": sequence}
                )
                pool.extend(reversed([r[0] for r in batch]))
            return pool.pop()

        return next_pg
    counter = [conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()]  # noqa: S608

    def next_sqlite() -> int:
        counter[0] += 1
        return int(counter[0])

    return next_sqlite


def _write(conn: Connection, keyring: Keyring, work: _Plan, progress: Phase | None) -> None:
    people = [
        (
            bid,
            r.person.amc,
            r.card_indexes[0],
            r.cardless_index,
            keyring.active_key_id,
            seal(keyring, r.person),
        )
        for bid, r in work.new_people
    ]
    copy_rows(
        conn,
        "beneficiaries",
        ("id", "amc", "card_index", "cardless_index", "key_id", "pii"),
        people,
        progress,
    )
    copy_rows(
        conn,
        "rights",
        ("beneficiary_id", "plan_id", "start", "end"),
        [(bid, r.plan_id, r.start, r.end) for bid, r in work.new_rights],
        progress,
    )
    update_rows(
        conn,
        cast(Table, Beneficiary.__table__),
        [
            {
                "id": bid,
                "card_index": r.card_indexes[0],
                "cardless_index": r.cardless_index,
                "key_id": keyring.active_key_id,
                "pii": seal(keyring, r.person),
            }
            for bid, r in work.changed_people
        ],
    )
    update_rows(
        conn,
        cast(Table, Right.__table__),
        [{"id": rid, "plan_id": r.plan_id, "end": r.end} for rid, r in work.changed_rights],
    )
