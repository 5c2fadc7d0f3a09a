"""vigie professional / vigie token: register professionals and issue provisional tokens."""

from __future__ import annotations

from datetime import timedelta

import typer

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity.service import RegistrationError, add_professional, find_professional
from vigie.identity.tokens import issue_token, revoke_tokens

professional_app = typer.Typer(help="Professionnels de santé.", no_args_is_help=True)
token_app = typer.Typer(help="Jetons d'accès (provisoires).", no_args_is_help=True)


@professional_app.command("add")
def add(
    rpps: str = typer.Option(..., help="Numéro RPPS (11 chiffres)."),
    profession: str = typer.Option(..., help="pharmacist, physician, dentist, optician, ..."),
    postcode: str = typer.Option(..., help="Code postal d'exercice."),
    structure_finess: str | None = typer.Option(None, help="FINESS de la structure."),
    structure_name: str | None = typer.Option(None, help="Nom de la structure (si nouvelle)."),
) -> None:
    """Register (or update) a professional."""
    with runtime() as rt:
        try:
            with write_transaction(rt.engine) as conn:
                view = add_professional(
                    conn,
                    rpps=rpps,
                    profession=profession,
                    postcode=postcode,
                    structure_finess=structure_finess,
                    structure_name=structure_name,
                )
        except RegistrationError as exc:
            raise fail(str(exc)) from exc
    console.print(f"professionnel {view.rpps} enregistré ({view.profession})")


@token_app.command("issue")
def issue(
    rpps: str = typer.Option(..., help="RPPS du professionnel."),
    days: int = typer.Option(30, min=1, max=365, help="Durée de validité en jours."),
) -> None:
    """Print a new bearer token, alone on standard output."""
    with runtime() as rt, write_transaction(rt.engine) as conn:
        view = find_professional(conn, rpps)
        if view is None:
            raise fail("professionnel inconnu")
        token = issue_token(conn, view.id, ttl=timedelta(days=days))
    typer.echo(token)


@token_app.command("revoke")
def revoke(rpps: str = typer.Option(..., help="RPPS du professionnel.")) -> None:
    """Revoke every token of a professional."""
    with runtime() as rt, write_transaction(rt.engine) as conn:
        view = find_professional(conn, rpps)
        if view is None:
            raise fail("professionnel inconnu")
        count = revoke_tokens(conn, view.id)
    console.print(f"{count} jeton(s) révoqué(s)")
