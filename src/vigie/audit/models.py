"""The access log's tables: entries as requests insert them, and what the sequencer derives from
them (leaves in tree order, stored subtree hashes, signed tree heads, its own position).

Invariant: an entry names an insured person only through a keyed pseudonym, never an identifier;
request transactions only ever insert into ``access_log``; everything else is the sequencer's.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vigie.db.base import Base

# SQLite gives an INTEGER PRIMARY KEY its rowid; PostgreSQL gets a BIGINT identity.
EntryId = BigInteger().with_variant(Integer(), "sqlite")


class LogEntry(Base):
    """One recorded access. On PostgreSQL the migration adds ``txid`` (the inserting
    transaction's id, see ``vigie.audit.sequencer``); SQLite commits in id order and needs none."""

    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_actor_at", "actor", "at_us"),
        Index("ix_access_log_structure_at", "structure_id", "at_us"),
        Index("ix_access_log_insured", "insured"),
    )

    id: Mapped[int] = mapped_column(EntryId, primary_key=True, autoincrement=True)
    # Microseconds since the Unix epoch (UTC): exact, compact, the same on both stores.
    at_us: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    outcome: Mapped[str] = mapped_column(String(20))
    structure_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    amc: Mapped[str | None] = mapped_column(String(9), nullable=True)
    insured: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    # Data categories the access exposed, as bits of vigie.audit.categories.DataCategory.
    exposed: Mapped[int] = mapped_column(Integer, default=0)
    # Non-personal detail as canonical JSON text (mode, channel, care categories, counts).
    detail: Mapped[str] = mapped_column(Text, default="{}")


class Leaf(Base):
    """Leaf ``leaf_index`` of the Merkle tree is entry ``entry_id``, with this leaf hash."""

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(EntryId, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Node(Base):
    """The hash of the complete subtree of leaves [index * 2**level, (index + 1) * 2**level),
    kept for a few levels so that proofs read hundreds of rows, not millions of leaves."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class SignedHead(Base):
    __tablename__ = "audit_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class SequencerState(Base):
    """The sequencer's position: tree size and compact range (peaks), and how far it has read.
    SQLite: the last entry id. PostgreSQL: ``frontier``, below which every transaction's entries
    are sequenced except those of ``pending`` transactions (still running at the last round)."""

    __tablename__ = "audit_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    peaks: Mapped[bytes] = mapped_column(LargeBinary)
    last_id: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[int] = mapped_column(BigInteger)
    pending: Mapped[str] = mapped_column(Text)  # transaction ids, comma-separated
