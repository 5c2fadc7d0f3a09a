"""The access log's table: one row per recorded event, in the order the store committed them.

Invariant: an entry names an insured person only through a keyed pseudonym, never an identifier.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base

# SQLite gives an INTEGER PRIMARY KEY its rowid; PostgreSQL gets a BIGINT identity.
EntryId = BigInteger().with_variant(Integer(), "sqlite")


class LogEntry(Base):
    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(EntryId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    structure_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    amc: Mapped[str | None] = mapped_column(String(9), nullable=True)
    insured: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the canonical bytes the Merkle leaf hashes
