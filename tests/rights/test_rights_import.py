"""The v1 rights file: every kind of bad line, all-or-nothing, idempotence and updates."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, select

from tests.factories import ALICE, BOB, CAROL, HEADER, PLANS, TWIN_1, TWIN_2, rights_csv
from vigie.db.engine import write_transaction
from vigie.rights.errors import ImportRejected, ImportReport
from vigie.rights.importer import import_rights
from vigie.rights.models import Beneficiary, Right
from vigie.rights.plans import apply_plans, parse_plans_file
from vigie.rights.protected import unseal
from vigie.runtime import Runtime


@pytest.fixture(autouse=True)
def _plans(runtime: Runtime) -> None:
    with write_transaction(runtime.engine) as conn:
        apply_plans(conn, parse_plans_file(json.dumps(PLANS)))


def run(rt: Runtime, text: str) -> ImportReport:
    with write_transaction(rt.engine) as conn:
        return import_rights(conn, rt.keyring, text.splitlines(keepends=True))


def counts(rt: Runtime) -> tuple[int, int]:
    with rt.engine.connect() as conn:
        people = conn.execute(select(func.count()).select_from(Beneficiary)).scalar_one()
        rights = conn.execute(select(func.count()).select_from(Right)).scalar_one()
    return int(people), int(rights)


def rejected(rt: Runtime, text: str) -> list[tuple[int, str]]:
    before = counts(rt)
    with pytest.raises(ImportRejected) as caught:
        run(rt, text)
    assert counts(rt) == before, "a rejected file must leave the database as it was"
    return [(e.line, e.reason) for e in caught.value.errors]


def test_import_creates_people_and_rights(runtime: Runtime) -> None:
    report = run(runtime, rights_csv(ALICE, BOB, TWIN_1, TWIN_2, CAROL))
    assert (report.created, report.updated, report.unchanged) == (5, 0, 0)
    assert counts(runtime) == (5, 5)


def test_same_file_twice_changes_nothing(runtime: Runtime) -> None:
    text = rights_csv(ALICE, BOB, CAROL)
    run(runtime, text)
    with runtime.engine.connect() as conn:
        before = conn.execute(select(Beneficiary.id, Beneficiary.pii)).all()
    report = run(runtime, text)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert report.details["beneficiaries_updated"] == 0
    with runtime.engine.connect() as conn:
        assert conn.execute(select(Beneficiary.id, Beneficiary.pii)).all() == before


def test_changed_end_date_updates_the_right(runtime: Runtime) -> None:
    run(runtime, rights_csv(ALICE, BOB))
    report = run(runtime, rights_csv(replace(ALICE, end=date(2026, 6, 30)), BOB))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    with runtime.engine.connect() as conn:
        ends = conn.execute(select(Right.end)).scalars().all()
    assert date(2026, 6, 30) in ends and counts(runtime) == (2, 2)


def test_a_new_surname_is_re_sealed(runtime: Runtime) -> None:
    run(runtime, rights_csv(ALICE))
    report = run(runtime, rights_csv(replace(ALICE, last_name="Martin-Zorglub")))
    assert report.details["beneficiaries_updated"] == 1
    with runtime.engine.connect() as conn:
        amc, key_id, pii = conn.execute(
            select(Beneficiary.amc, Beneficiary.key_id, Beneficiary.pii)
        ).one()
    assert unseal(runtime.keyring, amc, key_id, pii).last_name == "Martin-Zorglub"


def test_a_later_right_is_added_beside_the_first(runtime: Runtime) -> None:
    first = replace(ALICE, end=date(2025, 12, 31))
    run(runtime, rights_csv(first))
    report = run(runtime, rights_csv(first, replace(ALICE, start=date(2026, 1, 1), plan="CONFORT")))
    assert (report.created, report.unchanged) == (1, 1)
    assert counts(runtime) == (1, 2)


def test_overlap_with_a_stored_right_is_refused(runtime: Runtime) -> None:
    run(runtime, rights_csv(ALICE))  # open-ended since 2024-01-01
    errors = rejected(runtime, rights_csv(replace(ALICE, start=date(2025, 1, 1))))
    assert errors == [(2, "période qui chevauche un droit déjà enregistré")]


BAD_LINES = [
    (
        "123456789,M0001,285047505601112,1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "NIR invalide",
    ),
    (
        "123456789,M0001,2850475,1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "NIR invalide",
    ),
    (
        "12345678,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "numéro AMC invalide",
    ),
    (
        "123456789,M 01,{nir},1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "numéro d'adhérent",
    ),
    (
        "123456789,M0001,{nir},1985-02-30,1,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "date birth_date",
    ),
    (
        "123456789,M0001,{nir},12/04/1985,1,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "date birth_date",
    ),
    ("123456789,M0001,{nir},2999-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,", "dans le futur"),
    (
        "123456789,M0001,{nir},1985-04-12,0,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "rang de naissance",
    ),
    (
        "123456789,M0001,{nir},1985-04-12,x,Zorglub,Alice,75011,CONFORT,2024-01-01,",
        "rang de naissance",
    ),
    ("123456789,M0001,{nir},1985-04-12,1,,Alice,75011,CONFORT,2024-01-01,", "nom ou prénom"),
    ("123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,7501,CONFORT,2024-01-01,", "code postal"),
    ("123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,PLATINE,2024-01-01,", "plan inconnu"),
    ("123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,BASE,2024-01-01,", "plan inconnu"),
    ("123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-13-01,", "date start"),
    (
        "123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,2023-12-31",
        "précède",
    ),
    (
        "123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01",
        "10 colonnes au lieu de 11",
    ),
    (
        "123456789,M0001,{nir},1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,,x",
        "12 colonnes au lieu de 11",
    ),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_each_bad_line_is_reported_with_its_number(
    runtime: Runtime, line: str, reason: str
) -> None:
    text = "\n".join([HEADER, BOB.csv(), line.format(nir=ALICE.nir), CAROL.csv()]) + "\n"
    errors = rejected(runtime, text)
    assert len(errors) == 1 and errors[0][0] == 3 and reason in errors[0][1]
    assert ALICE.nir not in errors[0][1] and "Zorglub" not in errors[0][1]


def test_every_bad_line_is_listed_not_only_the_first(runtime: Runtime) -> None:
    bad = "123456789,M0001,285047505601112,1985-04-12,1,Zorglub,Alice,75011,CONFORT,2024-01-01,"
    text = "\n".join([HEADER, bad, BOB.csv(), bad, bad]) + "\n"
    assert [line for line, _ in rejected(runtime, text)] == [2, 4, 5]


def test_duplicate_line_is_refused(runtime: Runtime) -> None:
    errors = rejected(runtime, rights_csv(ALICE, BOB, ALICE))
    assert errors == [(4, "doublon de la ligne 2")]


def test_overlap_inside_the_file_is_refused(runtime: Runtime) -> None:
    later = replace(ALICE, start=date(2025, 1, 1))
    errors = rejected(runtime, rights_csv(ALICE, later))
    assert errors == [(3, "période qui chevauche la ligne 2")]


@pytest.mark.parametrize(
    "header",
    ["", "amc,member,nir", HEADER.replace("postcode", "zip"), HEADER + ",amc"],
)
def test_wrong_header_is_refused(runtime: Runtime, header: str) -> None:
    errors = rejected(runtime, header + "\n" + ALICE.csv() + "\n")
    assert errors[0][0] == 1


def test_columns_may_come_in_any_order(runtime: Runtime) -> None:
    columns = HEADER.split(",")
    order = list(reversed(range(len(columns))))
    lines = [",".join(columns[i] for i in order)]
    for person in (ALICE, BOB):
        values = person.csv().split(",")
        lines.append(",".join(values[i] for i in order))
    assert run(runtime, "\n".join(lines) + "\n").created == 2


def test_unquoted_stray_quote_is_reported(runtime: Runtime) -> None:
    text = HEADER + '\n123456789,"M0001,' + ALICE.nir + "\n"
    errors = rejected(runtime, text)
    assert errors and errors[0][0] >= 2


def test_a_bom_and_crlf_are_accepted(runtime: Runtime) -> None:
    text = "\ufeff" + rights_csv(ALICE, BOB).replace("\n", "\r\n")
    assert run(runtime, text).created == 2


def test_columns_a_later_version_adds_are_ignored(runtime: Runtime) -> None:
    lines = [HEADER + ",email"] + [p.csv() + ",x@example.invalid" for p in (ALICE, BOB)]
    assert run(runtime, "\n".join(lines) + "\n").created == 2


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (",1,Zorglub", ",\u00b2,Zorglub", "rang de naissance"),
        ("123456789,", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669,", "AMC"),
        (",75011,", ",\u0667\u0665\u0660\u0661\u0661,", "code postal"),
    ],
)
def test_non_ascii_digits_are_bad_lines_not_crashes(
    runtime: Runtime, old: str, new: str, reason: str
) -> None:
    text = "\n".join([HEADER, ALICE.csv().replace(old, new, 1)]) + "\n"
    errors = rejected(runtime, text)
    assert len(errors) == 1 and errors[0][0] == 2 and reason in errors[0][1]


def test_one_person_with_two_names_in_a_file_is_refused(runtime: Runtime) -> None:
    renamed = replace(ALICE, start=date(2020, 1, 1), end=date(2023, 12, 31), last_name="Autre")
    errors = rejected(runtime, rights_csv(ALICE, renamed))
    assert errors == [(3, "identité (nom, prénom ou code postal) différente de la ligne 2")]
