"""Provisional bearer tokens for practice software (OIDC replaces them in the identity issue).

Invariant: only a token's SHA-256 digest is stored; a revoked or expired token never verifies,
at most ``cache_seconds`` after its revocation.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from vigie.identity.identifiers import Profession
from vigie.identity.models import ApiToken, Professional
from vigie.identity.service import ProfessionalView

PREFIX = "vg_"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def issue_token(
    conn: Connection, professional_id: int, *, ttl: timedelta, now: datetime | None = None
) -> str:
    now = now or datetime.now(UTC)
    token = PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(ApiToken).values(
            professional_id=professional_id,
            digest=digest(token),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


def revoke_tokens(conn: Connection, professional_id: int, *, now: datetime | None = None) -> int:
    result = conn.execute(
        update(ApiToken)
        .where(ApiToken.professional_id == professional_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or datetime.now(UTC))
    )
    return int(result.rowcount)


def verify_token(
    conn: Connection, token: str, *, now: datetime | None = None
) -> ProfessionalView | None:
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    now = now or datetime.now(UTC)
    row = conn.execute(
        select(
            Professional.id,
            Professional.rpps,
            Professional.profession,
            Professional.postcode,
            Professional.structure_id,
            ApiToken.expires_at,
            ApiToken.revoked_at,
        )
        .join(Professional, Professional.id == ApiToken.professional_id)
        .where(ApiToken.digest == digest(token))
    ).first()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return None
    return ProfessionalView(row[0], row[1], Profession(row[2]), row[3], row[4])


def _aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TokenCache:
    """Verified tokens for a few seconds, so that the hot path does not query for each request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[bytes, tuple[float, ProfessionalView]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> ProfessionalView | None:
        entry = self._entries.get(digest(token))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, caller: ProfessionalView) -> None:
        with self._lock:
            if len(self._entries) > 50_000:
                self._entries.clear()
            self._entries[digest(token)] = (time.monotonic() + self.seconds, caller)
