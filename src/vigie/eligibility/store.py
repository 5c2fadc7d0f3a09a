"""The eligibility path's queries, as plain SQL (see vigie.db.sql for why).

Invariant: one indexed lookup answers the eligibility question; budgets and renewal read only
the beneficiary's own agreement lines not cancelled.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from vigie.db.sql import Sql, day, execute_many, fetch, moment

COVERAGE = Sql(
    "SELECT b.id, p.id, p.updated_at, p.responsable, p.guarantees"
    " FROM beneficiaries b"
    " JOIN rights r ON r.beneficiary_id = b.id"
    " JOIN plans p ON p.id = r.plan_id"
    " WHERE b.card_index IN (:index_a, :index_b)"
    ' AND r.start <= :day AND (r."end" IS NULL OR r."end" >= :day)'
    " LIMIT 1"
)
# PostgreSQL: serialise agreements of one beneficiary (SQLite holds its write lock already).
COVERAGE_LOCKED = Sql(COVERAGE.sqlite, postgres_suffix=" FOR UPDATE OF b")
# Card-less: the same person may be a member of two mutuelles; two matches are ambiguous.
COVERAGE_CARDLESS = Sql(
    COVERAGE.sqlite.replace("b.card_index IN", "b.cardless_index IN").replace("LIMIT 1", "LIMIT 2")
)
COVERAGE_CARDLESS_LOCKED = Sql(COVERAGE_CARDLESS.sqlite, postgres_suffix=" FOR UPDATE OF b")

HISTORY = Sql(
    "SELECT family, per_year, category, care_date, amc_cents FROM agreement_lines"
    " WHERE beneficiary_id = :beneficiary AND cancelled = 0"
    " AND (family IS NOT NULL"
    " OR (per_year = 1 AND care_date >= :year_start AND care_date <= :year_end))"
)

NEW_AGREEMENT = Sql(
    "INSERT INTO agreements (number, beneficiary_id, professional_id, care_date, created_at)"
    " VALUES (:number, :beneficiary, :professional, :day, :now) RETURNING id"
)

NEW_LINE = Sql(
    "INSERT INTO agreement_lines"
    " (agreement_id, beneficiary_id, category, family, per_year, care_date, amc_cents, cancelled)"
    " VALUES (:agreement, :beneficiary, :category, :family, :per_year, :day, :amc_cents, 0)"
)


def coverage_row(
    conn: Connection, indexes: list[bytes], care_date: date, *, lock: bool, cardless: bool = False
) -> tuple[int, int, Any, bool, Any] | None:
    """(beneficiary id, plan id, plan version, responsable, guarantees) or None; guarantees are
    JSON text on SQLite, parsed only when the plan cache misses."""
    params = {"index_a": indexes[0], "index_b": indexes[-1], "day": day(conn, care_date)}
    if cardless:
        query = COVERAGE_CARDLESS_LOCKED if lock else COVERAGE_CARDLESS
    else:
        query = COVERAGE_LOCKED if lock else COVERAGE
    rows = fetch(conn, query, params)
    if not rows or len({row[0] for row in rows}) > 1:
        return None
    bid, plan_id, version, responsable, guarantees = rows[0]
    return bid, plan_id, version, bool(responsable), guarantees


def history_rows(conn: Connection, beneficiary_id: int, care_date: date) -> list[tuple[Any, ...]]:
    """(family, per_year, category, care_date, amc_cents) of the lines that matter."""
    rows = fetch(
        conn,
        HISTORY,
        {
            "beneficiary": beneficiary_id,
            "year_start": day(conn, date(care_date.year, 1, 1)),
            "year_end": day(conn, date(care_date.year, 12, 31)),
        },
    )
    return [
        (f, p, c, d if isinstance(d, date) else date.fromisoformat(d), cents)
        for f, p, c, d, cents in rows
    ]


def insert_agreement(
    conn: Connection,
    *,
    number: str,
    beneficiary_id: int,
    professional_id: int,
    care_date: date,
    now: datetime,
    lines: list[dict[str, Any]],
) -> None:
    params = {
        "number": number,
        "beneficiary": beneficiary_id,
        "professional": professional_id,
        "day": day(conn, care_date),
        "now": moment(conn, now),
    }
    agreement_id = fetch(conn, NEW_AGREEMENT, params)[0][0]
    execute_many(
        conn,
        NEW_LINE,
        [
            {**line, "agreement": agreement_id, "beneficiary": beneficiary_id, "day": params["day"]}
            for line in lines
        ],
    )
