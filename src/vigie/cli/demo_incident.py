"""vigie demo-incident: the 2024 story replayed on the demo data, then its paperwork.

The demo pharmacist's account is taken to be phished: a few eligibility questions are asked in
its name through the same flow as the API (so each is in the access log), then a DPO declares
the account compromised for the last hour and Vigie writes, from the log alone, the CNIL
notification (JSON, PDF) and the letters to the people concerned (PDF, mail-merge CSV).
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer

from vigie.cli.common import console, fail, runtime
from vigie.cli.demo import first_professional
from vigie.db.engine import read_transaction
from vigie.eligibility import flows
from vigie.eligibility.schemas import EligibilityRequest
from vigie.eligibility.service import PlanCache
from vigie.identity.service import find_professional
from vigie.incidents.flows import declare_incident, write_documents
from vigie.incidents.service import Declaration

ACTOR = "operator:demo-dpo"


def demo_incident(
    seed_dir: Path = typer.Option(Path("var/seed"), help="Dossier écrit par 'vigie seed'."),
    questions: int = typer.Option(25, min=1, max=500, help="Questions posées par « l'attaquant »."),
    out: Path = typer.Option(Path("var/incident"), help="Dossier des documents produits."),
) -> None:
    """Ask questions as the phished demo pharmacist, then declare the incident and write its
    notification and letters."""
    rpps = first_professional(seed_dir / "professionals.csv", "pharmacist")
    today = date.today()
    people = _people(seed_dir / "rights.csv", today, questions)
    with runtime() as rt:
        with read_transaction(rt.engine) as conn:
            caller = find_professional(conn, rpps)
        if caller is None:
            raise fail("professionnel de démonstration introuvable : relancez 'vigie seed'")
        started = datetime.now(UTC) - timedelta(minutes=1)
        plans = PlanCache()
        positive = 0
        for person in people:
            request = EligibilityRequest.model_validate(_question(person, today))
            positive += flows.check_eligibility(rt, plans, caller, request).eligible
        declaration = Declaration(
            kind="accounts",
            detected_at=datetime.now(UTC),
            description=(
                "Démonstration : le compte d'un pharmacien, hameçonné, a servi à interroger "
                "les droits de patients qui ne sont pas les siens."
            ),
            accounts=[rpps],
            structures=[],
            start=started - timedelta(hours=1),
            end=datetime.now(UTC) + timedelta(minutes=1),
            keys_compromised=False,
            measures_taken=["Compte suspendu et jetons révoqués", "Mot de passe réinitialisé"],
            measures_planned=["Sensibilisation du cabinet à l'hameçonnage"],
        )
        incident_id = declare_incident(rt, declaration, ACTOR)
        written = write_documents(rt, incident_id, out, actor=ACTOR, with_letters=True)
    console.print(
        f"{len(people)} questions posées au nom du pharmacien {rpps} ({positive} réponses "
        f"positives) ; incident n° {incident_id} déclaré ; documents :",
        highlight=False,
    )
    for path in written:
        console.print(f"  {path}", highlight=False)


def _people(path: Path, day: date, count: int) -> list[dict[str, str]]:
    chosen: list[dict[str, str]] = []
    iso = day.isoformat()
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["start"] <= iso and (not row["end"] or row["end"] >= iso):
                chosen.append(row)
                if len(chosen) == count:
                    break
    if not chosen:
        raise fail("aucun droit ouvert aujourd'hui dans les données de démonstration")
    return chosen


def _question(person: dict[str, str], day: date) -> dict[str, object]:
    return {
        "card": {"amc": person["amc"], "member": person["member"]},
        "patient": {
            "nir": person["nir"],
            "birth_date": person["birth_date"],
            "birth_rank": int(person["birth_rank"]),
        },
        "date": day.isoformat(),
        "mode": "estimate",
        "lines": [
            {"category": "pharmacy_65", "billed": "12.40", "br": "12.40", "amo_rate": "0.65"}
        ],
    }
