"""vigie demo-request: a ready-to-run example request against the demo data (synthetic people)."""

from __future__ import annotations

import csv
import json
import shlex
from datetime import date, timedelta
from pathlib import Path

import typer

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity.service import find_professional
from vigie.identity.tokens import issue_token


def demo_request(
    seed_dir: Path = typer.Option(Path("var/seed"), help="Dossier écrit par 'vigie seed'."),
    base_url: str = typer.Option("http://127.0.0.1:8000", help="Adresse du serveur."),
) -> None:
    """Print a token and a curl command that asks about a synthetic insured person."""
    today = date.today()
    person = _open_right(seed_dir / "rights.csv", today)
    rpps = _first_professional(seed_dir / "professionals.csv", "pharmacist")
    with runtime() as rt, write_transaction(rt.engine) as conn:
        view = find_professional(conn, rpps)
        if view is None:
            raise fail("professionnel de démonstration introuvable : relancez 'vigie seed'")
        token = issue_token(conn, view.id, ttl=timedelta(days=7))
    body = {
        "card": {"amc": person["amc"], "member": person["member"]},
        "patient": {
            "nir": person["nir"],
            "birth_date": person["birth_date"],
            "birth_rank": int(person["birth_rank"]),
        },
        "date": today.isoformat(),
        "mode": "estimate",
        "lines": [
            {
                "category": "consultation_gp",
                "billed": "30.00",
                "br": "30.00",
                "amo_rate": "0.70",
                "amo_deduction": "2.00",
            }
        ],
    }
    console.print("\n[bold]Vigie démo[/bold] : données entièrement synthétiques.")
    console.print(
        f"Jeton de démonstration (pharmacien {rpps}, 7 jours) :\n{token}\n", highlight=False
    )
    bearer = shlex.quote("Authorization: Bearer " + token)
    command = (
        f"curl -s -X POST {base_url}/v1/eligibility -H {bearer} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
    )
    console.print("Exemple de requête :", highlight=False)
    typer.echo(command)
    console.print(
        "\nRéponse attendue : eligible true, et la part AMO / AMC / patient de la ligne.\n"
    )


def _open_right(path: Path, day: date) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["start"] <= day.isoformat() and (
                not row["end"] or row["end"] >= day.isoformat()
            ):
                return row
    raise fail("aucun droit ouvert aujourd'hui dans les données de démonstration")


def _first_professional(path: Path, profession: str) -> str:
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["profession"] == profession:
                return row["rpps"]
    raise fail(f"aucun professionnel '{profession}' dans les données de démonstration")
