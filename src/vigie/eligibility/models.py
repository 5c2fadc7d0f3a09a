"""Agreements: the AMC's guarantee of payment, and what each line consumed.

Invariant: budgets and renewal periods are derived only from lines of agreements not cancelled.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base


class Agreement(Base):
    """No foreign keys here nor on the lines: on PostgreSQL each one locks its parent row per
    agreement (the insured's row, with a WAL record; the professional's, shared by every
    concurrent agreement of the account), which cost 10–22 % of agree-mode throughput. Both
    ids come from the statement that writes the agreement: the beneficiary read by the same
    statement, the professional authenticated; neither is ever deleted."""

    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    beneficiary_id: Mapped[int] = mapped_column(Integer, index=True)
    professional_id: Mapped[int] = mapped_column(Integer, index=True)
    care_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AgreementLine(Base):
    __tablename__ = "agreement_lines"
    __table_args__ = (Index("ix_agreement_lines_beneficiary", "beneficiary_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(Integer, index=True)  # written with its agreement
    # Denormalised so that budgets and renewal are one indexed query per request.
    beneficiary_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(32))
    # "optics" / "audio" when the line starts a renewal period.
    family: Mapped[str | None] = mapped_column(String(8), nullable=True)
    # 1 when the line consumed a per-year flat budget of its category.
    per_year: Mapped[int] = mapped_column(Integer, default=0)
    care_date: Mapped[date] = mapped_column(Date)
    # Integer cents: exact on every store, no binary float on SQLite.
    amc_cents: Mapped[int] = mapped_column(Integer)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)
