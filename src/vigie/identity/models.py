"""Professionals and structures; the tokens, clients, staff accounts and sessions that prove who
calls.

Invariant: no secret is stored as such: passwords as argon2id hashes, session identifiers,
authorization codes and recovery codes as SHA-256 digests, TOTP secrets encrypted; signing keys
live in a file outside the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base


class Structure(Base):
    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finess: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Professional(Base):
    __tablename__ = "professionals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    profession: Mapped[str] = mapped_column(String(20))
    postcode: Mapped[str] = mapped_column(String(5))
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id"), nullable=True)


class IssuedToken(Base):
    """An access token Vigie's token service issued (or an outside one revoked by its ``jti``)."""

    __tablename__ = "issued_tokens"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UsedAssertion(Base):
    """A single-use proof already spent (client assertion ``jti``): a second use is a replay."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    challenge: Mapped[str] = mapped_column(String(128))
    claims: Mapped[dict[str, object]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApiClient(Base):
    """Practice software of one structure, proving itself with a key pair (private_key_jwt)."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    public_jwk: Mapped[dict[str, object]] = mapped_column(JSON)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class User(Base):
    """A staff account of the portal (mutuelle admin, security officer, DPO)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    throttled_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UserAmc(Base):
    """The AMC numbers a mutuelle admin administers (its tenants)."""

    __tablename__ = "user_amcs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    amc: Mapped[str] = mapped_column(String(9), primary_key=True)


class RecoveryCode(Base):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Session(Base):
    """A portal session, server side; the browser holds only its random identifier."""

    __tablename__ = "sessions"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16))  # "second_factor", "enrol", "active"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(80))
    amcs: Mapped[str] = mapped_column(String(400), default="")
    professional_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    insured_index: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    step_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The WebAuthn challenge this session is answering (registration or authentication), once.
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary(64), nullable=True)


class WebAuthnCredential(Base):
    """A staff member's security key (public key only; the private key never leaves it)."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
