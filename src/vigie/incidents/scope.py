"""Who and what an incident exposed, per mutuelle, computed from the access log.

Compromised accounts: the positive answers and cancellations those accounts or structures
obtained in the window; one aggregate query, driven by the (actor, time) and (structure, time)
indexes, so its cost follows the compromised accounts' traffic, not the size of the log.
A copy of the database: every stored beneficiary, right and agreement.

Invariant: people are counted by log pseudonym (distinct per mutuelle), never by identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, text

from vigie.audit.categories import DataCategory
from vigie.incidents.service import IncidentView, to_us

# Answers that disclosed something about a person (a negative answer says only "not covered").
DISCLOSING = "outcome IN ('positive', 'cancelled')"
BITS = [int(c) for c in DataCategory]


@dataclass(frozen=True)
class MutuelleScope:
    amc: str
    people: int
    records: int
    categories: int  # DataCategory bits
    refused: int = 0  # negative answers obtained (nothing disclosed but the absence of rights)


@dataclass(frozen=True)
class Scope:
    mutuelles: list[MutuelleScope]

    @property
    def people(self) -> int:
        return sum(m.people for m in self.mutuelles)

    @property
    def records(self) -> int:
        return sum(m.records for m in self.mutuelles)

    @property
    def categories(self) -> int:
        bits = 0
        for m in self.mutuelles:
            bits |= m.categories
        return bits


def compute_scope(conn: Connection, incident: IncidentView) -> Scope:
    if incident.declaration.kind == "database_copy":
        return _database_copy(conn, incident)
    return _accounts(conn, incident)


def _accounts(conn: Connection, incident: IncidentView) -> Scope:
    d = incident.declaration
    assert d.start is not None and d.end is not None  # checked at declaration
    who = []
    if d.accounts:
        who.append("actor IN :accounts")
    if d.structures:
        who.append("structure_id IN :structures")
    bits = ", ".join(f"MAX(CASE WHEN {DISCLOSING} THEN exposed & {b} ELSE 0 END)" for b in BITS)
    query = text(
        "SELECT amc,"  # noqa: S608 (constant text and placeholders only)
        f" COUNT(DISTINCT CASE WHEN {DISCLOSING} THEN insured END),"
        f" SUM(CASE WHEN {DISCLOSING} THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN outcome = 'negative' THEN 1 ELSE 0 END),"
        f" {bits}"
        " FROM access_log"
        f" WHERE ({' OR '.join(who)}) AND at_us >= :start AND at_us < :end"
        " AND kind IN ('eligibility', 'cancellation') AND amc IS NOT NULL"
        " GROUP BY amc ORDER BY amc"
    )
    params: dict[str, Any] = {
        "start": to_us(d.start),
        "end": to_us(d.end),
    }
    if d.accounts:
        query = query.bindparams(bindparam("accounts", expanding=True))
        params["accounts"] = d.accounts
    if d.structures:
        query = query.bindparams(bindparam("structures", expanding=True))
        params["structures"] = d.structures
    mutuelles = []
    for row in conn.execute(query, params):  # one aggregate query
        amc, people, records, refused, *category_bits = row
        categories = 0
        for value in category_bits:
            categories |= int(value or 0)
        mutuelles.append(
            MutuelleScope(amc, int(people), int(records or 0), categories, int(refused or 0))
        )
    return Scope(mutuelles)


def _database_copy(conn: Connection, incident: IncidentView) -> Scope:
    people: dict[str, int] = dict(
        conn.execute(text("SELECT amc, COUNT(*) FROM beneficiaries GROUP BY amc")).all()
    )
    rights: dict[str, int] = dict(
        conn.execute(
            text(
                "SELECT b.amc, COUNT(*) FROM rights r JOIN beneficiaries b"
                " ON b.id = r.beneficiary_id GROUP BY b.amc"
            )
        ).all()
    )
    agreements: dict[str, int] = dict(
        conn.execute(
            text(
                "SELECT b.amc, COUNT(*) FROM agreements a JOIN beneficiaries b"
                " ON b.id = a.beneficiary_id GROUP BY b.amc"
            )
        ).all()
    )
    categories = DataCategory.RIGHTS | DataCategory.AGREEMENT | DataCategory.AMOUNTS
    categories |= DataCategory.HEALTH_HINT | DataCategory.IDENTITY
    return Scope(
        [
            MutuelleScope(
                amc,
                int(count),
                int(count) + int(rights.get(amc, 0)) + int(agreements.get(amc, 0)),
                int(categories),
            )
            for amc, count in sorted(people.items())
        ]
    )
