"""Who is calling: a bearer JWT (practice software, OIDC sign-in) or a portal session cookie.

Invariant: a bearer token is re-checked against the revocation list on every request, even when
its verification and its principal come from the per-process cache (keyed by the token's digest,
kept no longer than the token lives).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from vigie.config import Settings
from vigie.db.engine import write_transaction
from vigie.identity import issuer_keys
from vigie.identity.jwt_verify import (
    CACHE_LIMIT,
    KeyCache,
    TokenRejected,
    TokenVerifier,
    TrustedIssuer,
    http_jwks,
)
from vigie.identity.principal import Principal
from vigie.identity.sessions import LoadedSession, load_session
from vigie.identity.sessions import principal_of as session_principal
from vigie.identity.token_principals import principal_of as token_principal
from vigie.identity.token_service import RevocationList

log = logging.getLogger("vigie.identity")


def build_verifier(settings: Settings, engine: Engine) -> TokenVerifier:
    path = settings.issuer_keys_path()

    def local_jwks() -> Mapping[str, Any]:
        return issuer_keys.load(path).public_jwks()

    refetch = settings.oidc_jwks_refetch_seconds
    issuers = [
        TrustedIssuer(
            settings.local_issuer(),
            KeyCache(local_jwks, max_age=settings.oidc_jwks_max_age_seconds, refetch_interval=1.0),
            local=True,
        )
    ]
    if settings.oidc_issuer:
        if settings.oidc_issuer.rstrip("/") == settings.local_issuer():
            raise ValueError("VIGIE_OIDC_ISSUER ne peut pas être l'émetteur de Vigie lui-même")
        jwks_url = (
            settings.oidc_jwks_url
            or settings.oidc_issuer.rstrip("/") + "/protocol/openid-connect/certs"
        )
        source = http_jwks(jwks_url)
        cache = KeyCache(
            source, max_age=settings.oidc_jwks_max_age_seconds, refetch_interval=refetch
        )
        issuers.append(TrustedIssuer(settings.oidc_issuer, cache, local=False))
    return TokenVerifier(
        issuers,
        audience=settings.oidc_audience,
        algorithms=settings.oidc_algorithms,
        leeway=settings.oidc_leeway_seconds,
        revoked=RevocationList(engine, settings.token_cache_seconds),
    )


class Authenticator:
    """Built once per application; thread-safe enough for the server's worker threads."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = issuer_keys.load_or_create(settings.issuer_keys_path())
        self.verifier = build_verifier(settings, engine)
        self._principals: dict[bytes, tuple[float, Principal]] = {}
        self.rpps_claim = settings.oidc_rpps_claim

    def cached(self, token: str) -> Principal | None:
        """The fast path: a token seen before, still valid and not revoked; no query."""
        entry = self._principals.get(hashlib.sha256(token.encode()).digest())
        if entry is None or entry[0] <= time.time():
            return None
        try:
            self.verifier.verify(token)
        except TokenRejected:
            return None
        return entry[1]

    def bearer(self, token: str) -> Principal | None:
        try:
            verified = self.verifier.verify(token)
        except TokenRejected as exc:
            log.info("bearer token refused: %s", exc.reason)
            return None
        with self.engine.connect() as conn:
            principal = token_principal(conn, verified, rpps_claim=self.rpps_claim)
        if principal is None:
            log.info("bearer token refused: no such principal")
            return None
        if len(self._principals) >= CACHE_LIMIT:
            self._principals.clear()
        self._principals[hashlib.sha256(token.encode()).digest()] = (
            verified.expires_at,
            principal,
        )
        return principal

    def session(self, cookie: str) -> tuple[Principal, LoadedSession] | None:
        """An active portal session's principal (idle and absolute timeouts applied)."""
        with write_transaction(self.engine) as conn:
            session = load_session(conn, self.settings, cookie)
            if session is None or session.stage != "active":
                return None
            principal = session_principal(conn, session)
        return None if principal is None else (principal, session)

    def pending(self, cookie: str) -> LoadedSession | None:
        """A session between password and second factor (or enrolment)."""
        with write_transaction(self.engine) as conn:
            session = load_session(conn, self.settings, cookie)
        return None if session is None or session.stage == "active" else session
