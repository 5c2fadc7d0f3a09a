"""Runtime settings, read from ``VIGIE_*`` environment variables.

Nothing is built at import time: callers create a ``Settings`` and pass it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    # Access log: the name its signed tree heads carry, how often the sequencer runs (a head is
    # signed each round that added entries), and the file every signed head is appended to, so
    # that heads live outside the database too (none: not published).
    audit_log_id: str = "vigie-audit"
    audit_sequence_seconds: float = 0.5
    audit_heads_file: Path | None = None
    # Who the CNIL and the people concerned can reach about an incident (art. 33-3 b).
    dpo_contact: str = "Délégué à la protection des données de Vigie, dpo@vigie.example"
