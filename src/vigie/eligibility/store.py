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
    "SELECT b.id, p.id AS plan_id, p.updated_at, p.responsable,"
    " CAST(p.guarantees AS text) AS guarantees"
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

# The first columns of an eligibility entry inserted by the statement whose cover ``c`` it
# logs (the cover found: positive); each statement ends the entry as its answer decides.
_LOGGED = (
    " logged AS (INSERT INTO access_log"
    " (at_us, kind, actor, outcome, structure_id, amc, insured, exposed, detail)"
    " SELECT CAST(:log_at_us AS bigint), 'eligibility', CAST(:log_actor AS varchar),"
    " CASE WHEN EXISTS (SELECT 1 FROM c) THEN 'positive' ELSE 'negative' END,"
    " CAST(:log_structure_id AS integer), CAST(:log_amc AS varchar),"
    " CAST(:log_insured AS bytea),"
)

# PostgreSQL estimates: the same read and the access-log entry in one statement, committed on
# its own (autocommit), so that logging costs no extra round trip. See vigie.audit.access.
COVERAGE_LOGGED = Sql(
    f"WITH c AS ({COVERAGE.sqlite}),"  # noqa: S608 (constant text)
    + _LOGGED
    + " CASE WHEN EXISTS (SELECT 1 FROM c) THEN CAST(:log_exposed_positive AS integer)"
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

# PostgreSQL agreements prepared ahead (see vigie.eligibility.lock_free): one statement reads
# the cover and, when its plan and version are among the candidates (:candidates, a JSON list of
# {plan, version, agree, lines}), inserts the agreement of that candidate, its lines and the log
# entry; when no cover, the negative entry alone; when a cover of another plan or version,
# nothing at all (the caller goes on from the cover it returns). The guarantees come back only
# then, for the plan cache.
AGREEMENT_PREPARED = Sql(
    f"WITH c AS ({COVERAGE.sqlite}),"  # noqa: S608 (constant text)
    " k AS (SELECT c.id AS beneficiary, x.agree, x.lines FROM c"
    " JOIN json_to_recordset(CAST(:candidates AS json))"
    " AS x(plan integer, version timestamptz, agree boolean, lines json)"
    " ON x.plan = c.plan_id AND x.version = c.updated_at),"
    " a AS (INSERT INTO agreements"
    " (number, beneficiary_id, professional_id, care_date, created_at)"
    " SELECT :number, k.beneficiary, :professional, :day, :now FROM k WHERE k.agree"
    " RETURNING id, beneficiary_id),"
    " l AS (INSERT INTO agreement_lines"
    " (agreement_id, beneficiary_id, category, family, per_year, care_date, amc_cents, cancelled)"
    " SELECT a.id, a.beneficiary_id, y.category, y.family, y.per_year, :day, y.amc_cents, 0"
    " FROM a, k, json_to_recordset(k.lines)"
    " AS y(category varchar, family varchar, per_year integer, amc_cents integer)),"
    + _LOGGED
    + " CASE WHEN NOT EXISTS (SELECT 1 FROM c) THEN CAST(:log_exposed_negative AS integer)"
    " WHEN EXISTS (SELECT 1 FROM k WHERE k.agree) THEN CAST(:log_exposed_agreed AS integer)"
    " ELSE CAST(:log_exposed_positive AS integer) END,"
    " CASE WHEN EXISTS (SELECT 1 FROM k WHERE k.agree) THEN CAST(:log_detail_agreed AS text)"
    " ELSE CAST(:log_detail AS text) END"
    " WHERE EXISTS (SELECT 1 FROM k) OR NOT EXISTS (SELECT 1 FROM c))"
    " SELECT c.id, c.plan_id, c.updated_at, c.responsable,"
    " CASE WHEN k.beneficiary IS NULL THEN c.guarantees END, k.beneficiary IS NOT NULL"
    " FROM c LEFT JOIN k ON true"
)

NEW_LINE = Sql(
    "INSERT INTO agreement_lines"
    " (agreement_id, beneficiary_id, category, family, per_year, care_date, amc_cents, cancelled)"
    " VALUES (:agreement, :beneficiary, :category, :family, :per_year, :day, :amc_cents, 0)"
)


def cover_params(indexes: list[bytes], care_day: Any) -> dict[str, Any]:
    """The parameters of COVERAGE and the statements built on it: both blind indexes (the same
    one twice outside a key rotation) and the care day as the store takes it."""
    return {"index_a": indexes[0], "index_b": indexes[-1], "day": care_day}


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
    params = cover_params(indexes, day(conn, care_date))
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
    return history_tuples(fetch(conn, HISTORY, history_params(conn, beneficiary_id, care_date)))


def history_params(conn: Connection | None, beneficiary_id: int, care_date: date) -> dict[str, Any]:
    """HISTORY's parameters; ``conn`` None: PostgreSQL's (see vigie.eligibility.on_loop)."""
    first, last = date(care_date.year, 1, 1), date(care_date.year, 12, 31)
    return {
        "beneficiary": beneficiary_id,
        "year_start": day(conn, first) if conn is not None else first,
        "year_end": day(conn, last) if conn is not None else last,
    }


def history_tuples(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
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


@dataclass(frozen=True)
class PreparedCover:
    """What the prepared statement found: the cover, and whether a candidate matched it (then
    its answer is written); ``guarantees`` only when none did."""

    beneficiary_id: int
    plan_id: int
    version: datetime
    responsable: bool
    guarantees: str | None
    matched: bool


def prepared_params(
    indexes: list[bytes],
    care_date: date,
    candidates: list[dict[str, Any]],
    agreement: dict[str, Any],
    log: dict[str, Any],
) -> dict[str, Any]:
    """``agreement``: number, professional and now; ``log``: EligibilityNote.agreement_params."""
    return {
        **cover_params(indexes, care_date),
        "candidates": orjson.dumps(candidates).decode(),
        **agreement,
        **log,
    }


def prepared_cover(rows: list[tuple[Any, ...]]) -> PreparedCover | None:
    if not rows:
        return None
    bid, plan_id, version, responsable, guarantees, matched = rows[0]
    return PreparedCover(bid, plan_id, version, bool(responsable), guarantees, bool(matched))


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
