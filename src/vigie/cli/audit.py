"""vigie audit: sign a tree head now, verify the whole log, show the log's public key."""

from __future__ import annotations

import typer

from vigie.audit.background import run_round
from vigie.audit.sequencer import public_key_text
from vigie.cli.common import console, fail, runtime
from vigie.config import Settings
from vigie.crypto import keyfile

app = typer.Typer(help="Journal d'accès : têtes signées, vérification.", no_args_is_help=True)


@app.command("sign")
def sign() -> None:
    """Sequence every committed entry and sign a tree head now."""
    with runtime() as rt:
        try:
            done = run_round(rt, force=True)
        except keyfile.KeyFileError as exc:
            raise fail(str(exc)) from exc
    assert done.head is not None  # a forced round always signs
    console.print(
        f"{done.added} entrée(s) séquencée(s) ; tête signée : taille {done.head.head.tree_size}, "
        f"racine {done.head.head.root_hash.hex()}",
        highlight=False,
    )


@app.command("public-key")
def public_key() -> None:
    """Print the log's Ed25519 public key (base64), to publish and pin in verifiers."""
    try:
        keys = keyfile.load(Settings().keys)
        print(public_key_text(keys))
    except keyfile.KeyFileError as exc:
        raise fail(str(exc)) from exc
