"""The eligibility path's queries, as plain SQL (see vigie.db.sql for why).

Invariant: one indexed lookup answers the eligibility question; budgets and renewal read only
the beneficiary's own agreement lines not cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from vigie.audit.log import INSERT as LOG_INSERT
from vigie.audit.log import Event, entry_params
from vigie.crypto.keyring import Keyring
from vigie.db.sql import Sql, day, execute, execute_many, fetch, moment
from vigie.eligibility.schemas import EligibilityRequest
from vigie.rights.protected import cardless_message

# The guarantees come as text, parsed only when the plan cache misses (PostgreSQL's driver
# would otherwise parse the JSON of every answer).
COVERAGE = Sql(
    "SELECT b.id, p.id, p.updated_at, p.responsable, CAST(p.guarantees AS text)"
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

# PostgreSQL estimates: the same read and the access-log entry in one statement, committed on
# its own (autocommit), so that logging costs no extra round trip. See vigie.audit.access.
COVERAGE_LOGGED = Sql(
    f"WITH c AS ({COVERAGE.sqlite}),"  # noqa: S608 (constant text)
    " logged AS (INSERT INTO access_log"
    " (at_us, kind, actor, outcome, structure_id, amc, insured, exposed, detail)"
    " SELECT CAST(:log_at_us AS bigint), 'eligibility', CAST(:log_actor AS varchar),"
    " CASE WHEN EXISTS (SELECT 1 FROM c) THEN 'positive' ELSE 'negative' END,"
    " CAST(:log_structure_id AS integer), CAST(:log_amc AS varchar),"
    " CAST(:log_insured AS bytea),"
    " CASE WHEN EXISTS (SELECT 1 FROM c) THEN CAST(:log_exposed_positive AS integer)"
    " ELSE CAST(:log_exposed_negative AS integer) END,"
    " CAST(:log_detail AS text))"
    " SELECT * FROM c"
)

# Card-less: the AMCs of the members a NIR, birth date and rank name (for the log entry).
CARDLESS_AMCS = Sql(
    "SELECT DISTINCT amc FROM beneficiaries WHERE cardless_index IN (:index_a, :index_b)"
)

# The beneficiary an agreement concerns, for the log entry of its cancellation.
AGREEMENT_SUBJECT = Sql(
    "SELECT b.amc, b.key_id, b.pii FROM agreements a"
    " JOIN beneficiaries b ON b.id = a.beneficiary_id"
    " WHERE a.number = :number AND a.professional_id = :professional"
)

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

# PostgreSQL agreements that lock nothing (see vigie.eligibility.lock_free): the agreement, its
# lines and the access-log entry inserted by one statement, hence in one transaction.
AGREEMENT_LOGGED = Sql(
    "WITH a AS (INSERT INTO agreements"  # noqa: S608 (constant text)
    " (number, beneficiary_id, professional_id, care_date, created_at)"
    " VALUES (:number, :beneficiary, :professional, :day, :now) RETURNING id),"
    " l AS (INSERT INTO agreement_lines"
    " (agreement_id, beneficiary_id, category, family, per_year, care_date, amc_cents, cancelled)"
    " SELECT a.id, :beneficiary, x.category, x.family, x.per_year, :day, x.amc_cents, 0"
    " FROM a, json_to_recordset(CAST(:lines AS json))"
    " AS x(category varchar, family varchar, per_year integer, amc_cents integer)) "
    + LOG_INSERT.sqlite
)

NEW_LINE = Sql(
    "INSERT INTO agreement_lines"
    " (agreement_id, beneficiary_id, category, family, per_year, care_date, amc_cents, cancelled)"
    " VALUES (:agreement, :beneficiary, :category, :family, :per_year, :day, :amc_cents, 0)"
)


def coverage_row(
    conn: Connection,
    indexes: list[bytes],
    care_date: date,
    *,
    lock: bool,
    cardless: bool = False,
    log: dict[str, Any] | None = None,
) -> tuple[int, int, Any, bool, Any] | None:
    """(beneficiary id, plan id, plan version, responsable, guarantees) or None; guarantees are
    JSON text, parsed only when the plan cache misses. ``log``: the access-log entry's
    parameters, inserted by the same statement (PostgreSQL estimates only)."""
    params = {"index_a": indexes[0], "index_b": indexes[-1], "day": day(conn, care_date)}
    if cardless:
        if log is not None:  # the logged statement names the AMC the card gave
            raise ValueError("card-less questions are logged by their own transaction")
        statement = COVERAGE_CARDLESS_LOCKED if lock else COVERAGE_CARDLESS
    else:
        statement = COVERAGE_LOCKED if lock else COVERAGE
        if log is not None:
            statement, params = COVERAGE_LOGGED, {**params, **log}
    rows = fetch(conn, statement, params)
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


@dataclass(frozen=True)
class NewAgreement:
    """An agreement to store, with the rows of what its paying lines consume."""

    number: str
    beneficiary_id: int
    professional_id: int
    care_date: date
    now: datetime
    lines: list[dict[str, Any]]

    def params(self, conn: Connection) -> dict[str, Any]:
        return {
            "number": self.number,
            "beneficiary": self.beneficiary_id,
            "professional": self.professional_id,
            "day": day(conn, self.care_date),
            "now": moment(conn, self.now),
        }


def insert_agreement(conn: Connection, agreement: NewAgreement) -> None:
    params = agreement.params(conn)
    agreement_id = fetch(conn, NEW_AGREEMENT, params)[0][0]
    execute_many(
        conn,
        NEW_LINE,
        [
            {**line, "agreement": agreement_id, "beneficiary": params["beneficiary"],
             "day": params["day"]}
            for line in agreement.lines
        ],
    )  # fmt: skip


def insert_agreement_logged(conn: Connection, agreement: NewAgreement, entry: Event) -> None:
    """PostgreSQL: the agreement, its lines and its log entry ``entry`` in one statement."""
    # The lines travel as one JSON text: cheaper for the driver than four typed arrays.
    params = {
        **agreement.params(conn),
        "lines": orjson.dumps(agreement.lines).decode(),
        **entry_params(entry),
    }
    execute(conn, AGREEMENT_LOGGED, params)


def agreement_subject(
    conn: Connection, number: str, professional_id: int
) -> tuple[str, str, bytes] | None:
    """(AMC, data key id, sealed identity) of the agreement's beneficiary."""
    rows = fetch(conn, AGREEMENT_SUBJECT, {"number": number, "professional": professional_id})
    return (rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None


def cardless_amc(conn: Connection, keyring: Keyring, request: EligibilityRequest) -> str | None:
    """The AMC of the one member a card-less question names; None when none or several."""
    patient = request.patient
    message = cardless_message(patient.nir, patient.birth_date, patient.birth_rank)
    indexes = keyring.blind_index_candidates(message)
    rows = fetch(conn, CARDLESS_AMCS, {"index_a": indexes[0], "index_b": indexes[-1]})
    return str(rows[0][0]) if len(rows) == 1 else None
