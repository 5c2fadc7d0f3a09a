"""What every command shares: settings, the runtime, a console and clean failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
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
    try:
        settings = Settings()
    except ValidationError as exc:
        raise fail(_first_error(exc)) from exc
    try:
        rt = open_runtime(settings, pool_size=pool_size)
    except KeyFileError as exc:
        raise fail(str(exc)) from exc
    try:
        yield rt
    finally:
        rt.engine.dispose()


def _first_error(exc: ValidationError) -> str:
    """The settings' own message (ours are French), without the input values."""
    errors = exc.errors(include_input=False, include_url=False)
    return str(errors[0]["msg"]).removeprefix("Value error, ") if errors else "réglages invalides"
