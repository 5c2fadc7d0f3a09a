"""The guard's tables: alerts (why an account was suspended) and suspensions (until lifted).

Invariant: a suspension is active while ``lifted_at`` is null; every suspension points to the
alert that explains it; neither holds personal data of insured people.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base


class GuardAlert(Base):
    __tablename__ = "guard_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    subject: Mapped[str] = mapped_column(String(80))
    structure_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(Integer)
    summary: Mapped[str] = mapped_column(Text)  # French, for the security officer
    signals: Mapped[str] = mapped_column(Text)  # JSON: [{name, points, value, baseline, label}]


class GuardSuspension(Base):
    __tablename__ = "guard_suspensions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    subject: Mapped[str] = mapped_column(String(80))
    alert_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lifted_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lift_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
