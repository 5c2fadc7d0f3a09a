"""Schema migrations with Alembic, run from code so that no alembic.ini is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest revision of every branch; a no-op when it already is.

    Each capability added after the core (identity, audit, guard) keeps its migrations on its own
    Alembic branch from 0002, so that capabilities evolve without renumbering each other's.
    """
    command.upgrade(alembic_config(engine), "heads")
