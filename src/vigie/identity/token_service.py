"""Vigie's own token service: short-lived access tokens (JWT, Ed25519) it signs, and their
revocation.

Invariant: every token issued here has a ``jti`` recorded in ``issued_tokens``; revoking marks
that row, and every server process sees the mark within ``token_cache_seconds``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from sqlalchemy import Connection, Engine, delete, insert, select, update

from vigie.config import Settings
from vigie.identity.issuer_keys import SIGNING_ALG, IssuerKeys
from vigie.identity.models import AuthorizationCode, IssuedToken, UsedAssertion
from vigie.identity.models import Session as SessionRow


def issue_access_token(
    conn: Connection,
    keys: IssuerKeys,
    settings: Settings,
    *,
    subject: str,
    claims: Mapping[str, Any],
    ttl: timedelta | None = None,
    client_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Sign and record an access token for ``subject``; the token is returned, never stored."""
    now = now or datetime.now(UTC)
    expires = now + (ttl or timedelta(minutes=settings.access_token_minutes))
    jti = secrets.token_urlsafe(18)
    payload = {
        **claims,
        "iss": settings.local_issuer(),
        "aud": settings.oidc_audience,
        "sub": subject,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
    }
    if client_id is not None:
        payload["client_id"] = client_id
    header = {"alg": SIGNING_ALG, "kid": keys.active.kid, "typ": "at+jwt"}
    token = jwt.encode(header, payload, keys.active, algorithms=[SIGNING_ALG])
    conn.execute(
        insert(IssuedToken).values(
            jti=jti, subject=subject, client_id=client_id, issued_at=now, expires_at=expires
        )
    )
    return token


def revoke_subject(conn: Connection, subject: str, *, now: datetime | None = None) -> int:
    """Revoke every unexpired token issued to ``subject``; returns how many."""
    now = now or datetime.now(UTC)
    result = conn.execute(
        update(IssuedToken)
        .where(
            IssuedToken.subject == subject,
            IssuedToken.revoked_at.is_(None),
            IssuedToken.expires_at > now,
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount)


def revoke_client_tokens(conn: Connection, client_id: str, *, now: datetime) -> int:
    result = conn.execute(
        update(IssuedToken)
        .where(IssuedToken.client_id == client_id, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount)


def revoke_jti(
    conn: Connection, jti: str, *, expires_at: datetime, now: datetime | None = None
) -> None:
    """Revoke one token by its ``jti``, ours or an outside issuer's (recorded if unknown)."""
    now = now or datetime.now(UTC)
    found = conn.execute(
        update(IssuedToken).where(IssuedToken.jti == jti).values(revoked_at=now)
    ).rowcount
    if not found:
        conn.execute(
            insert(IssuedToken).values(
                jti=jti, subject="external", issued_at=now, expires_at=expires_at, revoked_at=now
            )
        )


class RevocationList:
    """The ``jti``s revoked and not yet expired, reloaded at most every ``refresh_seconds``:
    a membership test on the hot path, one small query per interval."""

    def __init__(
        self,
        engine: Engine,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._refresh = refresh_seconds
        self._clock = clock
        self._revoked: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, jti: str) -> bool:
        now = self._clock()
        if now - self._loaded_at >= self._refresh:
            with self._lock:
                self._revoked = self._load()
                self._loaded_at = now
        return jti in self._revoked

    def _load(self) -> frozenset[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(IssuedToken.jti).where(
                    IssuedToken.revoked_at.is_not(None),
                    IssuedToken.expires_at > datetime.now(UTC) - timedelta(minutes=5),
                )
            )
            return frozenset(row[0] for row in rows)


def purge_expired(conn: Connection, *, now: datetime | None = None) -> int:
    """Delete what can no longer be used: tokens, spent assertions, codes and sessions past
    their expiry (revoked tokens are kept a day longer than they live, as the revocation list
    reads them with a margin). Returns how many rows went."""
    now = now or datetime.now(UTC)
    statements = (
        delete(IssuedToken).where(IssuedToken.expires_at < now - timedelta(days=1)),
        delete(UsedAssertion).where(UsedAssertion.expires_at < now - timedelta(hours=1)),
        delete(AuthorizationCode).where(AuthorizationCode.expires_at < now),
        delete(SessionRow).where(SessionRow.expires_at < now),
    )
    return sum(int(conn.execute(statement).rowcount) for statement in statements)
