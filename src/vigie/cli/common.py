"""What every command shares: settings, the runtime, a console and clean failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from vigie.config import Settings
from vigie.crypto.keyfile import KeyFileError
from vigie.runtime import Runtime, open_runtime

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]erreur[/red] : {message}")
    return typer.Exit(code)


@contextmanager
def runtime(pool_size: int = 2) -> Iterator[Runtime]:
    settings = Settings()
    try:
        rt = open_runtime(settings, pool_size=pool_size)
    except KeyFileError as exc:
        raise fail(str(exc)) from exc
    try:
        yield rt
    finally:
        rt.engine.dispose()
