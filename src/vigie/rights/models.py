"""Plans, beneficiaries and rights as stored.

Invariant: a beneficiary row holds no personal field in clear: identity lives in ``pii``
(AES-256-GCM) and is found only through keyed blind indexes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("amc", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    amc: Mapped[str] = mapped_column(String(9))
    code: Mapped[str] = mapped_column(String(64))
    responsable: Mapped[bool] = mapped_column(Boolean)
    guarantees: Mapped[dict[str, dict[str, object]]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Beneficiary(Base):
    __tablename__ = "beneficiaries"
    __table_args__ = (Index("ix_beneficiaries_cardless_index", "cardless_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The mutuelle (tenant) whose member this is; not personal, needed for isolation.
    amc: Mapped[str] = mapped_column(String(9), index=True)
    # HMAC of (amc, member, NIR, birth date, birth rank): what a full card lookup matches.
    card_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # HMAC of (NIR, birth date, birth rank): the card-less lookup (a tighter budget applies).
    cardless_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    key_id: Mapped[str] = mapped_column(String(40))
    pii: Mapped[bytes] = mapped_column(LargeBinary)


class Right(Base):
    """A period of cover. No foreign keys: PostgreSQL checks one per inserted row, which made
    them a fifth of a million-row import; the importer, the only writer, takes the beneficiary
    it writes in the same transaction and the plan id from the plans table."""

    __tablename__ = "rights"
    __table_args__ = (UniqueConstraint("beneficiary_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(Integer)
    plan_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date, nullable=True)
