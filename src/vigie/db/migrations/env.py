"""Alembic environment: the engine is handed over by vigie.db.migrate, never read from a file."""

from __future__ import annotations

from alembic import context

from vigie.db.base import all_metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=all_metadata(),
        render_as_batch=engine.dialect.name == "sqlite",
    )
    context.run_migrations()
