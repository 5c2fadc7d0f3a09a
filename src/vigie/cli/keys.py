"""vigie keys: create the key file, rotate keys."""

from __future__ import annotations

import typer

from vigie.cli.common import console, fail, runtime
from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.rights.rekey import rotate

app = typer.Typer(help="Clés : fichier de clés maîtresses et rotation.", no_args_is_help=True)


@app.command("init")
def init(
    force: bool = typer.Option(False, help="Remplacer un fichier existant (données perdues)."),
) -> None:
    """Create the key file (mode 0600) at VIGIE_KEYS."""
    path = Settings().keys
    if path.exists() and not force:
        try:
            existing = keyfile.load(path)
        except keyfile.KeyFileError as exc:
            raise fail(str(exc)) from exc
        if existing.audit is None:  # a key file from before the access log
            existing.audit = keyfile.generate_audit_keys()
            keyfile.save(existing, path)
            console.print(f"clés du journal d'accès ajoutées : {path}")
            return
        console.print(f"fichier de clés déjà présent : {path} (inchangé)")
        return
    keyfile.save(keyfile.generate(), path)
    console.print(f"fichier de clés créé : {path} (mode 0600)")


@app.command("rotate")
def rotate_keys() -> None:
    """New master, data and index keys; every record is re-encrypted, in resumable batches."""
    with runtime() as rt:
        try:
            report = rotate(
                rt,
                progress=lambda done, total: console.print(
                    f"  {done}/{total} enregistrements re-chiffrés", highlight=False
                ),
            )
        except keyfile.KeyFileError as exc:
            raise fail(str(exc)) from exc
    console.print(
        f"rotation terminée : {report.records} enregistrements re-chiffrés, "
        f"clé de données active {report.data_key_id}"
    )
