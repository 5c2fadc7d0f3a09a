"""Entry point for uvicorn worker processes: each builds its own runtime from the environment."""

from __future__ import annotations

from starlette.types import ASGIApp

from vigie.api.app import Quiet, create_app
from vigie.config import Settings
from vigie.runtime import open_runtime

# A request waits this long for the database (a connection, SQLite's write lock), then gets 503.
SERVER_WAIT_SECONDS = 2.0


def build() -> ASGIApp:
    settings = Settings()
    runtime = open_runtime(settings, pool_size=settings.db_pool, wait_seconds=SERVER_WAIT_SECONDS)
    return Quiet(create_app(runtime))
