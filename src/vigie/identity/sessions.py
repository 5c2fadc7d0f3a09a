"""Portal sessions, held server side: the browser's cookie is a random identifier whose digest
keys the row.

Invariant: a session is usable only at stage "active", before its idle and absolute deadlines;
each stage change issues a new identifier (no fixation); a step-up time is written only after a
second factor was checked again.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from vigie.config import Settings
from vigie.identity.identifiers import Profession
from vigie.identity.models import Professional
from vigie.identity.models import Session as SessionRow
from vigie.identity.principal import Principal, Role
from vigie.identity.service import ProfessionalView

COOKIE = "vigie_session"
PENDING_FOR = timedelta(minutes=5)
TOUCH_EVERY = timedelta(seconds=30)
ACTIVE = "active"
SECOND_FACTOR = "second_factor"
ENROL = "enrol"


@dataclass(frozen=True)
class SessionIdentity:
    role: Role
    subject: str
    user_id: int | None = None
    amcs: frozenset[str] = frozenset()
    professional_id: int | None = None
    insured_index: bytes | None = None


@dataclass(frozen=True)
class LoadedSession:
    token: str
    stage: str
    identity: SessionIdentity
    csrf: str
    step_up_at: datetime | None


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create_session(
    conn: Connection,
    settings: Settings,
    identity: SessionIdentity,
    *,
    stage: str,
    now: datetime | None = None,
) -> tuple[str, str]:
    """A new session; returns (cookie value, CSRF token)."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=settings.session_absolute_hours) if stage == ACTIVE else PENDING_FOR
    conn.execute(
        insert(SessionRow).values(
            digest=digest(token),
            stage=stage,
            user_id=identity.user_id,
            role=str(identity.role),
            subject=identity.subject,
            amcs=",".join(sorted(identity.amcs)),
            professional_id=identity.professional_id,
            insured_index=identity.insured_index,
            csrf=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            step_up_at=now if stage == ACTIVE and identity.user_id is not None else None,
        )
    )
    return token, csrf


def load_session(
    conn: Connection, settings: Settings, token: str, *, now: datetime | None = None
) -> LoadedSession | None:
    """The session behind a cookie, if alive; touching it keeps it from idling out."""
    now = now or datetime.now(UTC)
    if not token or len(token) > 100:
        return None
    row = conn.execute(select(SessionRow).where(SessionRow.digest == digest(token))).first()
    if row is None:
        return None
    idle = timedelta(minutes=settings.session_idle_minutes)
    if _aware(row.expires_at) <= now or _aware(row.last_seen_at) + idle <= now:
        conn.execute(delete(SessionRow).where(SessionRow.digest == row.digest))
        return None
    if now - _aware(row.last_seen_at) >= TOUCH_EVERY:
        conn.execute(
            update(SessionRow).where(SessionRow.digest == row.digest).values(last_seen_at=now)
        )
    identity = SessionIdentity(
        Role(row.role),
        row.subject,
        row.user_id,
        frozenset(a for a in row.amcs.split(",") if a),
        row.professional_id,
        row.insured_index,
    )
    step_up = _aware(row.step_up_at) if row.step_up_at is not None else None
    return LoadedSession(token, row.stage, identity, row.csrf, step_up)


def advance(
    conn: Connection,
    settings: Settings,
    session: LoadedSession,
    *,
    stage: str,
    now: datetime | None = None,
) -> tuple[str, str]:
    """Move to ``stage`` under a new identifier (the old one stops working)."""
    end_session(conn, session.token)
    return create_session(conn, settings, session.identity, stage=stage, now=now)


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(SessionRow).where(SessionRow.digest == digest(token)))


def end_user_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(delete(SessionRow).where(SessionRow.user_id == user_id))


def record_step_up(conn: Connection, token: str, *, now: datetime | None = None) -> None:
    conn.execute(
        update(SessionRow)
        .where(SessionRow.digest == digest(token))
        .values(step_up_at=now or datetime.now(UTC))
    )


def principal_of(conn: Connection, session: LoadedSession) -> Principal | None:
    identity = session.identity
    professional = None
    if identity.role == Role.PROFESSIONAL:
        row = conn.execute(
            select(
                Professional.id,
                Professional.rpps,
                Professional.profession,
                Professional.postcode,
                Professional.structure_id,
            ).where(Professional.id == identity.professional_id)
        ).first()
        if row is None:
            return None
        professional = ProfessionalView(row[0], row[1], Profession(row[2]), row[3], row[4])
    return Principal(
        identity.role,
        identity.subject,
        professional=professional,
        amcs=identity.amcs,
        insured_index=identity.insured_index,
        step_up_at=session.step_up_at,
        via="session",
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
