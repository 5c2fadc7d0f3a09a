"""Applying a v1 rights file: beneficiaries and rights, inserted or updated in one transaction.

New beneficiaries stream to the database while later lines are still being checked, so the
database works while Python does; nothing is committed unless the whole file is good.
Invariant: the file is applied whole or not at all (the caller's single transaction), and
applying the same file twice changes nothing the second time.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import cast

from sqlalchemy import Connection, Table, select

from vigie.crypto.keyring import Keyring, hold_data_key
from vigie.db.bulk import RowSink, copy_rows, id_reserver, row_sink, update_rows
from vigie.rights.errors import ImportRejected, ImportReport, LineError
from vigie.rights.models import Beneficiary, Plan, Right
from vigie.rights.protected import seal, unseal
from vigie.rights.rights_file import RightRow, RightsReader

Phase = Callable[[str, int], None]
BENEFICIARY_COLUMNS = ("id", "amc", "card_index", "cardless_index", "key_id", "pii")


@dataclass(slots=True)
class _Period:
    right_id: int | None  # None: created by this file
    plan_id: int
    end: date | None
    line: int | None  # the file line that states it, once seen


@dataclass(slots=True)
class _Person:
    id: int
    card_index: bytes
    key_id: str = ""
    pii: bytes = b""
    checked: bool = False
    periods: dict[date, _Period] = field(default_factory=dict)
    # The identity the file gave first (a hash: a million people stay small), and its line.
    seen: int = 0
    seen_line: int = 0


def import_rights(
    conn: Connection, keyring: Keyring, lines: Iterable[str], *, progress: Phase | None = None
) -> ImportReport:
    """Check and write a v1 rights file; raises ImportRejected and writes nothing on any error."""
    if not hold_data_key(conn, keyring.active_key_id):
        reason = "les clés ont changé depuis le début de l'import (rotation) : relancez-le"
        raise ImportRejected([LineError(1, reason)])
    plans = {
        (amc, code): pid for pid, amc, code in conn.execute(select(Plan.id, Plan.amc, Plan.code))
    }
    reader = RightsReader(
        lines,
        plans=plans,
        keyring=keyring,
        progress=(lambda n: progress("check", n)) if progress else None,
    )
    with _without_gc(), conn.engine.connect() as side, _Import(conn, side, keyring) as work:
        for row in reader.rows():
            work.accept(row, writing=not reader.errors)
        errors = reader.errors + work.conflicts()
        if errors:
            raise ImportRejected(sorted(errors, key=lambda e: e.line))
    work.write_rest(progress)
    return work.report


@contextmanager
def _without_gc() -> Iterator[None]:
    """Millions of small objects make the cyclic collector run constantly; none are cyclic."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Import:
    """What one file changes, decided line by line; new beneficiaries are written at once."""

    def __init__(self, conn: Connection, side: Connection, keyring: Keyring) -> None:
        self.conn, self.side, self.keyring = conn, side, keyring
        self.people: dict[bytes, _Person] = {}
        self.amcs: set[str] = set()
        self.next_id = id_reserver(side, "beneficiaries")
        self.report = ImportReport(details={"beneficiaries_created": 0, "beneficiaries_updated": 0})
        self.new_rights: list[tuple[int, int, date, date | None]] = []
        self.changed_rights: list[dict[str, object]] = []
        self.changed_people: list[dict[str, object]] = []
        self.touched: list[_Person] = []
        self.line_conflicts: list[LineError] = []
        self.sink: RowSink | None = None

    def __enter__(self) -> _Import:
        self._sink_context = row_sink(self.conn, "beneficiaries", BENEFICIARY_COLUMNS)
        self.sink = self._sink_context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sink_context.__exit__(*exc)  # type: ignore[arg-type]

    def accept(self, row: RightRow, *, writing: bool) -> None:
        if row.person.amc not in self.amcs:
            self._load_known(row.person.amc)
        person = self._person(row, writing)
        if person.seen_line and person.seen != hash(row.person):
            reason = (
                f"identité (nom, prénom ou code postal) différente de la ligne {person.seen_line}"
            )
            self.line_conflicts.append(LineError(row.line, reason))
            return
        if not person.seen_line:
            person.seen, person.seen_line = hash(row.person), row.line
        period = person.periods.get(row.start)
        if period is not None and period.line is not None:
            self.line_conflicts.append(LineError(row.line, f"doublon de la ligne {period.line}"))
            return
        if period is None:
            person.periods[row.start] = _Period(None, row.plan_id, row.end, row.line)
            self.new_rights.append((person.id, row.plan_id, row.start, row.end))
            self.report.created += 1
        elif (period.plan_id, period.end) != (row.plan_id, row.end):
            assert period.right_id is not None
            period.plan_id, period.end, period.line = row.plan_id, row.end, row.line
            self.changed_rights.append(
                {"id": period.right_id, "plan_id": row.plan_id, "end": row.end}
            )
            self.report.updated += 1
        else:
            period.line = row.line
            self.report.unchanged += 1

    def _person(self, row: RightRow, writing: bool) -> _Person:
        person = next((self.people[i] for i in row.card_indexes if i in self.people), None)
        if person is None:
            person = _Person(self.next_id(), row.card_indexes[0], checked=True)
            self.people[person.card_index] = person
            self.touched.append(person)
            self.report.details["beneficiaries_created"] += 1
            if writing and self.sink is not None:
                self.sink.write(self._new_beneficiary(person.id, row))
        elif not person.checked:
            person.checked = True
            self.touched.append(person)
            if self._changed(person, row):
                self.changed_people.append(self._changed_beneficiary(person.id, row))
                self.report.details["beneficiaries_updated"] += 1
        return person

    def _new_beneficiary(self, bid: int, row: RightRow) -> tuple[object, ...]:
        sealed = seal(self.keyring, row.person)
        active = self.keyring.active_key_id
        return (bid, row.person.amc, row.card_indexes[0], row.cardless_index, active, sealed)

    def _changed_beneficiary(self, bid: int, row: RightRow) -> dict[str, object]:
        return {
            "id": bid,
            "card_index": row.card_indexes[0],
            "cardless_index": row.cardless_index,
            "key_id": self.keyring.active_key_id,
            "pii": seal(self.keyring, row.person),
        }

    def _changed(self, person: _Person, row: RightRow) -> bool:
        """A new name or postcode, or a record still indexed under a retiring key."""
        if person.card_index != row.card_indexes[0]:
            return True
        return unseal(self.keyring, row.person.amc, person.key_id, person.pii) != row.person

    def _load_known(self, amc: str) -> None:
        """The AMC's stored beneficiaries and rights, read beside the open write stream."""
        self.amcs.add(amc)
        by_id: dict[int, _Person] = {}
        query = select(Beneficiary.id, Beneficiary.card_index, Beneficiary.key_id, Beneficiary.pii)
        for bid, index, key_id, pii in self.side.execute(query.where(Beneficiary.amc == amc)):
            by_id[bid] = self.people[index] = _Person(bid, index, key_id, pii)
        rights = (
            select(Right.id, Right.beneficiary_id, Right.start, Right.end, Right.plan_id)
            .join(Beneficiary, Beneficiary.id == Right.beneficiary_id)
            .where(Beneficiary.amc == amc)
        )
        for rid, bid, start, end, plan_id in self.side.execute(rights):
            by_id[bid].periods[start] = _Period(rid, plan_id, end, None)

    def conflicts(self) -> list[LineError]:
        """Duplicates, and periods of one beneficiary that would overlap after the import."""
        errors = list(self.line_conflicts)
        for person in self.touched:
            periods = sorted(person.periods.items(), key=lambda item: item[0])
            for (_, before), (start, after) in itertools.pairwise(periods):
                if before.end is not None and before.end < start:
                    continue
                if before.line is not None and after.line is not None:
                    first, later = sorted((before.line, after.line))
                    errors.append(LineError(later, f"période qui chevauche la ligne {first}"))
                elif (after.line or before.line) is not None:
                    line = after.line or before.line
                    assert line is not None
                    errors.append(LineError(line, "période qui chevauche un droit déjà enregistré"))
        return errors

    def write_rest(self, progress: Phase | None) -> None:
        """Once the beneficiaries are in: rights, then updates, in the same transaction."""
        copy_rows(
            self.conn,
            "rights",
            ("beneficiary_id", "plan_id", "start", "end"),
            self.new_rights,
            progress,
        )
        update_rows(self.conn, cast(Table, Beneficiary.__table__), self.changed_people)
        update_rows(self.conn, cast(Table, Right.__table__), self.changed_rights)
