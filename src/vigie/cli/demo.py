"""vigie demo-request: a ready-to-run example request against the demo data (synthetic people),
and how to sign in to the portal as each role (demo accounts, development identity provider)."""

from __future__ import annotations

import csv
import json
import shlex
from datetime import date, timedelta
from pathlib import Path

import typer

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity import dev_idp, issuer_keys
from vigie.identity.token_service import issue_access_token
from vigie.identity.users import demo_account

DEMO_DOMAIN = "demo.vigie.invalid"


def demo_request(
    seed_dir: Path = typer.Option(Path("var/seed"), help="Dossier écrit par 'vigie seed'."),
    base_url: str = typer.Option("http://127.0.0.1:8000", help="Adresse du serveur."),
) -> None:
    """Print a token and a curl command that asks about a synthetic insured person."""
    today = date.today()
    person = _open_right(seed_dir / "rights.csv", today)
    rpps = first_professional(seed_dir / "professionals.csv", "pharmacist")
    with runtime() as rt:
        if rt.settings.environment == "production" or not rt.settings.dev_idp:
            raise fail(
                "démonstration impossible : fournisseur d'identité de développement désactivé"
            )
        keys = issuer_keys.load_or_create(rt.settings.issuer_keys_path())
        with write_transaction(rt.engine) as conn:
            try:
                subject, claims = dev_idp.professional_claims(conn, rpps)
            except dev_idp.DevSignInError as exc:
                raise fail(
                    "professionnel de démonstration introuvable : relancez 'vigie seed'"
                ) from exc
            token = issue_access_token(
                conn, keys, rt.settings, subject=subject, claims=claims, ttl=timedelta(hours=12)
            )
            accounts = {
                role: (email, *demo_account(conn, keys, email=email, role=role, amcs=amcs))
                for role, email, amcs in (
                    ("mutuelle_admin", f"mutuelle@{DEMO_DOMAIN}", [person["amc"]]),
                    ("security_officer", f"securite@{DEMO_DOMAIN}", None),
                    ("dpo", f"dpo@{DEMO_DOMAIN}", None),
                )
            }
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
        f"Jeton de démonstration (pharmacien {rpps}, JWT valable 12 h) :\n{token}\n",
        highlight=False,
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
    _print_sign_in(base_url, rpps, person, accounts)
    console.print(
        "[bold]Incident[/bold] : dans un autre terminal, 'make demo-incident' pose des questions "
        "au nom de ce pharmacien (compte « hameçonné »), déclare l'incident et écrit la "
        "notification CNIL et les lettres dans var/incident/, puis vérifie le journal.\n",
        highlight=False,
    )


def _print_sign_in(
    base_url: str,
    rpps: str,
    person: dict[str, str],
    accounts: dict[str, tuple[str, str, str]],
) -> None:
    console.print("[bold]Portail[/bold] (démonstration seulement : secrets affichés ici) :")
    console.print(f"  {base_url}/auth/login", highlight=False)
    for role, (email, password, secret) in accounts.items():
        console.print(
            f"  {role} : {email} / mot de passe {password} / secret TOTP {secret}\n"
            f"    code du moment : python -c \"import pyotp; print(pyotp.TOTP('{secret}').now())\"",
            highlight=False,
            soft_wrap=True,  # no line breaks inside what is meant to be copied
        )
    console.print(
        f"  professionnel : {base_url}/auth/oidc/start, onglet professionnel, RPPS {rpps}\n"
        f"  assuré : {base_url}/auth/oidc/start, onglet assuré, NIR {person['nir']}, "
        f"né(e) le {person['birth_date']}, rang {person['birth_rank']}\n",
        highlight=False,
        soft_wrap=True,
    )


def _open_right(path: Path, day: date) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["start"] <= day.isoformat() and (
                not row["end"] or row["end"] >= day.isoformat()
            ):
                return row
    raise fail("aucun droit ouvert aujourd'hui dans les données de démonstration")


def first_professional(path: Path, profession: str) -> str:
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            if row["profession"] == profession:
                return row["rpps"]
    raise fail(f"aucun professionnel '{profession}' dans les données de démonstration")
