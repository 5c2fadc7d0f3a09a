"""vigie user: staff accounts of the portal (password from a prompt or standard input)."""

from __future__ import annotations

import sys

import typer

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity.passwords import PasswordRejected
from vigie.identity.service import RegistrationError
from vigie.identity.users import add_user

app = typer.Typer(help="Comptes du portail (mutuelles, sécurité, DPO).", no_args_is_help=True)


@app.command("add")
def add(
    role: str = typer.Option(..., help="mutuelle_admin, security_officer ou dpo."),
    email: str = typer.Option(..., help="Adresse électronique (identifiant)."),
    amc: list[str] = typer.Option([], help="Numéro AMC administré (mutuelle_admin, répétable)."),
) -> None:
    """Create an account; its second factor is enrolled at the first sign-in."""
    if sys.stdin.isatty():
        password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    with runtime() as rt:
        try:
            with write_transaction(rt.engine) as conn:
                add_user(conn, email=email, role=role, password=password, amcs=amc)
        except (RegistrationError, PasswordRejected) as exc:
            raise fail(str(exc)) from exc
    console.print(f"compte créé ({role}) : second facteur à enrôler à la première connexion")
