"""vigie client: register practice software of a structure (public key, private_key_jwt) and
revoke it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from joserfc.jwk import JWKRegistry

from vigie.cli.common import console, fail, runtime
from vigie.db.engine import write_transaction
from vigie.identity.clients import add_client, revoke_client
from vigie.identity.service import RegistrationError

app = typer.Typer(
    help="Logiciels de professionnels (clients private_key_jwt).", no_args_is_help=True
)


@app.command("add")
def add(
    finess: str = typer.Option(..., help="FINESS de la structure."),
    public_key: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="Clé publique (JWK/PEM)."
    ),
    name: str = typer.Option("logiciel", help="Nom du logiciel."),
    scope: list[str] = typer.Option(["eligibility"], help="Portées accordées."),
) -> None:
    """Register a client; prints its client_id alone on stdout."""
    jwk = _read_public_key(public_key)
    with runtime() as rt:
        try:
            with write_transaction(rt.engine) as conn:
                client_id = add_client(
                    conn, finess=finess, name=name, public_jwk=jwk, scopes=frozenset(scope)
                )
        except RegistrationError as exc:
            raise fail(str(exc)) from exc
    typer.echo(client_id)


@app.command("revoke")
def revoke(client_id: str = typer.Argument(..., help="Identifiant du client.")) -> None:
    """Revoke a client and every access token it holds."""
    with runtime() as rt, write_transaction(rt.engine) as conn:
        done = revoke_client(conn, client_id)
    if not done:
        raise fail("client inconnu ou déjà révoqué")
    console.print("client révoqué, ses jetons aussi")


def _read_public_key(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    if raw.lstrip().startswith(b"-----BEGIN"):
        try:
            loaded = load_pem_public_key(raw)
        except ValueError as exc:
            raise fail("clé PEM illisible") from exc
        kinds = {ed25519.Ed25519PublicKey: "OKP", ec.EllipticCurvePublicKey: "EC"}
        kind = next((k for t, k in kinds.items() if isinstance(loaded, t)), None)
        if kind is None and isinstance(loaded, rsa.RSAPublicKey):
            kind = "RSA"
        if kind is None:
            raise fail("type de clé non pris en charge (Ed25519, EC ou RSA)")
        return dict(JWKRegistry.import_key(raw, kind).as_dict(private=False))
    try:
        jwk = json.loads(raw)
    except ValueError as exc:
        raise fail("clé JWK (JSON) ou PEM attendue") from exc
    if not isinstance(jwk, dict):
        raise fail("clé JWK (JSON) attendue")
    return jwk
