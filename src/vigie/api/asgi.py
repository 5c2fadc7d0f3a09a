"""Entry point for uvicorn worker processes: each builds its own runtime from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from vigie.api.app import create_app
from vigie.config import Settings
from vigie.runtime import open_runtime


def build() -> FastAPI:
    settings = Settings()
    return create_app(open_runtime(settings, pool_size=settings.db_pool))
