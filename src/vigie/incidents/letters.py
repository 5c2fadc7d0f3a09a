"""The people an incident exposed, per mutuelle, for the letters of GDPR art. 34.

Identities are decrypted here and only here, with the runtime keyring, for the mutuelle's
mail merge; what leaves is a CSV (and the PDF letters) for that mutuelle alone.
Invariant: a person is a recipient only if their log pseudonym appears in the incident's scope
(compromised accounts) or they are stored at all (a copy of the database).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from vigie.audit.categories import labels
from vigie.audit.log import pseudonym
from vigie.crypto.keyring import Keyring
from vigie.incidents.scope import DISCLOSING
from vigie.incidents.service import IncidentView, to_us
from vigie.rights.protected import cardless_message, unseal

CSV_COLUMNS = (
    "amc",
    "numero_adherent",
    "nom",
    "prenom",
    "code_postal",
    "incident",
    "periode_debut",
    "periode_fin",
    "donnees_exposees",
)


@dataclass(frozen=True)
class Recipient:
    amc: str
    member: str
    last_name: str
    first_name: str
    postcode: str


def _pseudonyms(conn: Connection, incident: IncidentView, amc: str) -> set[bytes]:
    d = incident.declaration
    assert d.start is not None and d.end is not None  # checked at declaration
    who, params = [], {"amc": amc, "start": to_us(d.start), "end": to_us(d.end)}
    for n, account in enumerate(d.accounts):
        who.append(f"actor = :a{n}")
        params[f"a{n}"] = account
    for n, structure in enumerate(d.structures):
        who.append(f"structure_id = :s{n}")
        params[f"s{n}"] = structure
    query = text(
        "SELECT DISTINCT insured FROM access_log"  # noqa: S608 (placeholders only)
        f" WHERE ({' OR '.join(who)}) AND at_us >= :start AND at_us < :end AND amc = :amc"
        f" AND kind IN ('eligibility', 'cancellation') AND {DISCLOSING}"
    )
    return {bytes(row[0]) for row in conn.execute(query, params) if row[0] is not None}


def recipients(
    conn: Connection, keyring: Keyring, log_key: bytes, incident: IncidentView, amc: str
) -> list[Recipient]:
    """The mutuelle's members the incident exposed, decrypted, sorted by postcode and name."""
    everyone = incident.declaration.kind == "database_copy"
    wanted = set() if everyone else _pseudonyms(conn, incident, amc)
    people = []
    rows = conn.execute(
        text("SELECT key_id, pii FROM beneficiaries WHERE amc = :amc"), {"amc": amc}
    )
    for key_id, pii in rows:
        person = unseal(keyring, amc, key_id, bytes(pii))
        identity = cardless_message(person.nir, person.birth_date, person.birth_rank)
        if everyone or pseudonym(log_key, identity) in wanted:
            people.append(
                Recipient(amc, person.member, person.last_name, person.first_name, person.postcode)
            )
    return sorted(people, key=lambda p: (p.postcode, p.last_name, p.first_name, p.member))


def write_csv(path: Path, people: Iterable[Recipient], incident: IncidentView, bits: int) -> int:
    """The mail-merge file for one mutuelle (UTF-8 with BOM, ';' separated, as office suites
    read French CSV); returns the number of rows."""
    d = incident.declaration
    exposed = " ; ".join(labels(bits))
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(CSV_COLUMNS)
        for p in people:
            writer.writerow(
                (
                    p.amc,
                    p.member,
                    p.last_name,
                    p.first_name,
                    p.postcode,
                    incident.id,
                    d.start.date().isoformat() if d.start else "",
                    d.end.date().isoformat() if d.end else "",
                    exposed,
                )
            )
            count += 1
    return count
