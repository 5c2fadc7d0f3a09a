"""Runtime settings, read from ``VIGIE_*`` environment variables.

Nothing is built at import time: callers create a ``Settings`` and pass it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the data and the keys live, and which environment this is."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///var/vigie.db"
    keys: Path = Path("var/keys.json")
    # Database connections per server process (and as many worker threads).
    db_pool: int = 8
    # Run store calls in worker threads rather than on the event loop (see api.deps.Services).
    store_threads: bool = False
    # Bearer tokens (provisional, see identity.tokens) live this long.
    token_ttl_hours: int = 24 * 30
    # How long a verified token stays cached in a server process; bounds the delay of a revocation.
    token_cache_seconds: float = 5.0
    # Shared quota store (redis://host:port/db); unset: each process keeps its own quotas.
    redis_url: str | None = None
    # The access guard (quotas, risk signals, containment). Off only for tests that are not
    # about it; production refuses to start without it.
    guard: bool = True

    @model_validator(mode="after")
    def _guard_in_production(self) -> Settings:
        if self.environment == "production" and not self.guard:
            raise ValueError("VIGIE_GUARD ne peut pas être désactivé en production")
        return self
