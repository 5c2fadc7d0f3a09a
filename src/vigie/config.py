"""Runtime settings, read from ``VIGIE_*`` environment variables.

Nothing is built at import time: callers create a ``Settings`` and pass it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the data and the keys live, and which environment this is."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///var/vigie.db"
    keys: Path = Path("var/keys.json")
    # Database connections per server process (and as many worker threads).
    db_pool: int = 8
    # PostgreSQL: connections of each of the event loop's two pools (see db.loop_engines), per
    # server process. As many as questions in flight at once, or they queue for one: an
    # agreement holds its connection through its synchronous commit (8 gave a p99 of 47 ms at
    # 32 connections in flight, 32 gave 20-24 ms).
    db_loop_pool: int = Field(default=32, ge=1)
    # Where a server's store calls run (see api.deps.Services). Unset: on SQLite, on the event
    # loop (its calls only compute); on PostgreSQL, eligibility questions wait for the database
    # on the event loop (vigie.db.loop_engines) and rarer calls run in worker threads.
    # 1: every store call in worker threads; 0: every one on the event loop, blocking it.
    store_threads: bool | None = None

    def store_calls_in_threads(self, dialect: str) -> bool:
        """Whether a server on a store of this SQLAlchemy dialect runs store calls in threads."""
        return self.store_threads if self.store_threads is not None else dialect == "postgresql"

    def loop_engines(self, dialect: str) -> bool:
        """Whether eligibility questions wait for PostgreSQL on the event loop."""
        return self.store_threads is None and dialect == "postgresql"

    # How often a server process reloads the list of revoked tokens: bounds a revocation's delay.
    token_cache_seconds: float = 5.0

    # --- Identity (see docs/notes/identity.md) ---------------------------------------------------
    # Where this deployment is reached; Vigie's own token service names itself by it (``iss``).
    public_url: str = "http://127.0.0.1:8000"
    # The audience every accepted access token must name.
    oidc_audience: str = "vigie"
    # An outside OIDC issuer (Pro Santé Connect style) trusted for professionals; empty: none.
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_authorization_url: str = ""
    oidc_token_url: str = ""
    oidc_client_id: str = ""
    # The claim of the outside issuer's tokens that names the professional: "rpps", or
    # "SubjectNameID" for Pro Santé Connect (its national id "8" + RPPS; the 8 is dropped).
    oidc_rpps_claim: str = "rpps"
    oidc_algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256", "Ed25519")
    oidc_leeway_seconds: int = 30
    # JWKS kept this long; an unknown ``kid`` refetches it, at most once per interval below.
    oidc_jwks_max_age_seconds: int = 3600
    oidc_jwks_refetch_seconds: float = 30.0
    # Built-in development identity provider: interactive sign-in with no real proof of identity.
    dev_idp: bool = True
    # The token service's signing keys (Ed25519), in a file outside the database.
    # Default: beside the key file, ``<keys stem>-issuer.json``.
    issuer_keys: Path | None = None
    # Access tokens issued by Vigie's token service (clients, development sign-in) live this long.
    access_token_minutes: int = 10
    # Portal sessions.
    cookie_secure: bool = True
    session_idle_minutes: int = 15
    session_absolute_hours: int = 8
    step_up_minutes: int = 10

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment == "production":
            if self.dev_idp:
                raise ValueError(
                    "VIGIE_DEV_IDP doit être désactivé en production (fournisseur de développement)"
                )
            if not self.cookie_secure:
                raise ValueError("VIGIE_COOKIE_SECURE est obligatoire en production")
        return self

    def issuer_keys_path(self) -> Path:
        return self.issuer_keys or self.keys.with_name(f"{self.keys.stem}-issuer.json")

    def local_issuer(self) -> str:
        return self.public_url.rstrip("/")

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

    # Access log: the name its signed tree heads carry, how often the sequencer runs (a head is
    # signed each round that added entries), and the file every signed head is appended to, so
    # that heads live outside the database too (none: not published).
    audit_log_id: str = "vigie-audit"
    audit_sequence_seconds: float = 0.5
    audit_heads_file: Path | None = None
    # Where the sequencer runs: in each server process ("in-process", an application on its own,
    # under test), or elsewhere ("external": ``vigie serve`` runs ``vigie audit follow`` beside
    # its workers, one sequencer whatever their number, off their CPU).
    audit_sequencer: Literal["in-process", "external"] = "in-process"
    # Who the CNIL and the people concerned can reach about an incident (art. 33-3 b).
    dpo_contact: str = "Délégué à la protection des données de Vigie, dpo@vigie.example"
