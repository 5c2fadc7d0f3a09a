"""vigie professional / vigie token: register professionals; short-lived access tokens from the
development identity provider (for scripts and tests), and their revocation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import typer

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity import dev_idp, issuer_keys
from vigie.identity.service import RegistrationError, add_professional
from vigie.identity.token_service import (
    issue_access_token,
    purge_expired,
    revoke_jti,
    revoke_subject,
)
from vigie.runtime import Runtime

professional_app = typer.Typer(help="Professionnels de santé.", no_args_is_help=True)
token_app = typer.Typer(help="Jetons d'accès (JWT courts).", no_args_is_help=True)


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
    minutes: int = typer.Option(60, min=1, max=720, help="Durée de validité en minutes."),
) -> None:
    """Print an access token (JWT of the development identity provider), alone on stdout."""
    with runtime() as rt:
        token = minter(rt, minutes)(rpps)
    typer.echo(token)


def minter(rt: Runtime, minutes: int) -> Callable[[str], str]:
    """RPPS -> a fresh access token of the development identity provider (refused, as a
    command failure, in production or with that provider off)."""
    if rt.settings.environment == "production" or not rt.settings.dev_idp:
        raise fail("refusé : le fournisseur d'identité de développement est désactivé")
    keys = issuer_keys.load_or_create(rt.settings.issuer_keys_path())

    def mint(rpps: str) -> str:
        try:
            with write_transaction(rt.engine) as conn:
                subject, claims = dev_idp.professional_claims(conn, rpps)
                return issue_access_token(
                    conn, keys, rt.settings, subject=subject, claims=claims,
                    ttl=timedelta(minutes=minutes),
                )  # fmt: skip
        except dev_idp.DevSignInError as exc:
            raise fail(str(exc)) from exc

    return mint


@token_app.command("revoke")
def revoke(
    rpps: str | None = typer.Option(None, help="Révoquer tous les jetons de ce professionnel."),
    jti: str | None = typer.Option(None, help="Révoquer un jeton par son identifiant (jti)."),
    hours: int = typer.Option(24, min=1, help="Pour --jti : durée de conservation de la marque."),
) -> None:
    """Revoke tokens; servers refuse them within VIGIE_TOKEN_CACHE_SECONDS."""
    if (rpps is None) == (jti is None):
        raise fail("donnez --rpps ou --jti")
    with runtime() as rt, write_transaction(rt.engine) as conn:
        if rpps is not None:
            count = revoke_subject(conn, f"rpps:{rpps}")
        else:
            assert jti is not None
            revoke_jti(conn, jti, expires_at=datetime.now(UTC) + timedelta(hours=hours))
            count = 1
    console.print(f"{count} jeton(s) révoqué(s)")


@token_app.command("rotate-signing-key")
def rotate_signing_key() -> None:
    """New signing key for Vigie's token service; the previous ones still verify."""
    with runtime() as rt:
        path = rt.settings.issuer_keys_path()
        issuer_keys.load_or_create(path)
        keys = issuer_keys.rotate(path)
    console.print(f"nouvelle clé de signature : {keys.active.kid}", highlight=False)


@token_app.command("purge")
def purge() -> None:
    """Delete expired tokens, spent assertions, codes and sessions (run it daily)."""
    with runtime() as rt, write_transaction(rt.engine) as conn:
        count = purge_expired(conn)
    console.print(f"{count} enregistrement(s) expiré(s) supprimé(s)")
