"""Declared incidents.

Invariant: an incident names accounts and structures (professionals' identifiers), never an
insured person; who was exposed is computed from the access log when asked.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "accounts" or "database_copy"
    declared_at_us: Mapped[int] = mapped_column(BigInteger)
    declared_by: Mapped[str] = mapped_column(String(80))
    # When the operator became aware of it: the start of the 72-hour clock (art. 33).
    detected_at_us: Mapped[int] = mapped_column(BigInteger)
    start_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    accounts: Mapped[str] = mapped_column(Text)  # JSON list of actor subjects ("rpps:…")
    structures: Mapped[str] = mapped_column(Text)  # JSON list of structure ids
    keys_compromised: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text)
    measures_taken: Mapped[str] = mapped_column(Text)  # JSON list of sentences
    measures_planned: Mapped[str] = mapped_column(Text)  # JSON list of sentences
