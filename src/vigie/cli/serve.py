"""vigie serve: the HTTP API under uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from vigie.cli.common import fail
from vigie.config import Settings
from vigie.crypto.keyfile import KeyFileError, load


def serve(
    host: str = typer.Option("127.0.0.1", help="Adresse d'écoute."),
    port: int = typer.Option(8000, help="Port."),
    workers: int = typer.Option(1, min=1, max=32, help="Processus serveurs."),
    access_log: bool = typer.Option(False, help="Journal d'accès uvicorn (chemins seulement)."),
) -> None:
    """Serve the API (JSON and FHIR) on http://HOST:PORT."""
    try:
        load(Settings().keys)
    except KeyFileError as exc:
        raise fail(str(exc)) from exc
    uvicorn.run(
        "vigie.api.asgi:build",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="warning",
    )
