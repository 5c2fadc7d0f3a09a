"""Small, explicit test data: plans, people with valid NIRs, rights files, a professional."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from stdnum.fr import nir as stdnum_nir

from vigie.db.engine import write_transaction
from vigie.identity import issuer_keys
from vigie.identity.identifiers import with_luhn_key
from vigie.identity.service import add_professional
from vigie.identity.token_service import issue_access_token
from vigie.rights.importer import import_rights
from vigie.rights.plans import apply_plans, parse_plans_file
from vigie.runtime import Runtime

AMC = "123456789"
OTHER_AMC = "987654321"
HEADER = "amc,member,nir,birth_date,birth_rank,last_name,first_name,postcode,plan,start,end"


def make_nir(
    sex: int, year: int, month: int, dept: str = "75", commune: str = "056", order: int = 1
) -> str:
    body = f"{sex}{year % 100:02d}{month:02d}{dept}{commune}{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


@dataclass(frozen=True)
class Person:
    amc: str
    member: str
    nir: str
    birth_date: date
    birth_rank: int
    last_name: str
    first_name: str
    postcode: str = "75011"
    plan: str = "CONFORT"
    start: date = date(2024, 1, 1)
    end: date | None = None

    def csv(self) -> str:
        end = self.end.isoformat() if self.end else ""
        return (
            f"{self.amc},{self.member},{self.nir},{self.birth_date},{self.birth_rank},"
            f"{self.last_name},{self.first_name},{self.postcode},{self.plan},{self.start},{end}"
        )

    def card(self) -> dict[str, Any]:
        return {
            "card": {"amc": self.amc, "member": self.member},
            "patient": {
                "nir": self.nir,
                "birth_date": self.birth_date.isoformat(),
                "birth_rank": self.birth_rank,
            },
        }


ALICE = Person(
    AMC, "M0001", make_nir(2, 1985, 4, order=11), date(1985, 4, 12), 1, "Zorglub", "Alice"
)
BOB = Person(AMC, "M0001", make_nir(1, 1983, 9, order=12), date(1983, 9, 3), 1, "Quetzal", "Bob")
# Twins identified by their mother's NIR, separated by birth rank.
TWIN_1 = Person(AMC, "M0001", ALICE.nir, date(2015, 6, 1), 1, "Zorglub", "Léa")
TWIN_2 = Person(AMC, "M0001", ALICE.nir, date(2015, 6, 1), 2, "Zorglub", "Léo")
CAROL = Person(
    OTHER_AMC,
    "X77",
    make_nir(2, 1990, 1, order=13),
    date(1990, 1, 20),
    1,
    "Wombat",
    "Carol",
    plan="BASE",
    end=date(2030, 12, 31),
)
PEOPLE = (ALICE, BOB, TWIN_1, TWIN_2, CAROL)

PLANS = {
    "plans": [
        {
            "code": "CONFORT",
            "amc": AMC,
            "responsable": True,
            "guarantees": {
                "consultation_gp": {"pct_br": 200},
                "consultation_specialist": {"pct_br": 300},
                "pharmacy_65": {"pct_br": 100},
                "optics_b": {"flat": 250, "per": "equipment"},
                "audio_2": {"flat": 800, "per": "ear"},
                "dental_moderate": {"flat": 300, "per": "year"},
            },
        },
        {
            "code": "BASE",
            "amc": OTHER_AMC,
            "responsable": False,
            "guarantees": {"consultation_gp": {"pct_br": 100}},
        },
    ]
}


def rights_csv(*people: Person) -> str:
    return "\n".join([HEADER, *(p.csv() for p in people)]) + "\n"


def load_people(rt: Runtime, *people: Person) -> None:
    with write_transaction(rt.engine) as conn:
        apply_plans(conn, parse_plans_file(json.dumps(PLANS)))
        import_rights(conn, rt.keyring, rights_csv(*(people or PEOPLE)).splitlines(keepends=True))


RPPS = with_luhn_key("1000000000")
OTHER_RPPS = with_luhn_key("1000000001")


def professional_token(rt: Runtime, rpps: str = RPPS, profession: str = "pharmacist") -> str:
    """A registered professional's access token from the development identity provider."""
    keys = issuer_keys.load_or_create(rt.settings.issuer_keys_path())
    with write_transaction(rt.engine) as conn:
        add_professional(conn, rpps=rpps, profession=profession, postcode="75011")
        return issue_access_token(
            conn,
            keys,
            rt.settings,
            subject=f"rpps:{rpps}",
            claims={"rpps": rpps, "profession": profession},
            ttl=timedelta(days=1),
        )


def request(
    person: Person,
    *,
    day: str = "2026-03-02",
    mode: str = "estimate",
    lines: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        **person.card(),
        "date": day,
        "mode": mode,
        "lines": lines or [GP_LINE],
    }


GP_LINE = {
    "category": "consultation_gp",
    "billed": "30.00",
    "br": "30.00",
    "amo_rate": "0.70",
    "amo_deduction": "2.00",
}

# One optics_b equipment (glasses): the renewal and budget tests' line.
GLASSES: dict[str, Any] = {
    "category": "optics_b",
    "billed": "600.00",
    "br": "0.09",
    "amo_rate": "0.60",
    "lens_class": "simple",
}
