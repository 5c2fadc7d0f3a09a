"""Access log and Merkle tree storage (audit branch).

Revision ID: au01
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "au01"
down_revision = "0002"
branch_labels = ("audit",)
depends_on = None

ENTRY_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", ENTRY_ID, autoincrement=True, nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("amc", sa.String(length=9), nullable=True),
        sa.Column("insured", sa.LargeBinary(length=16), nullable=True),
        sa.Column("exposed", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index("ix_access_log_actor_at", "access_log", ["actor", "at_us"])
    op.create_index("ix_access_log_structure_at", "access_log", ["structure_id", "at_us"])
    op.create_index("ix_access_log_insured", "access_log", ["insured"])
    if op.get_bind().dialect.name == "postgresql":
        # The inserting transaction: the sequencer takes only entries of transactions that
        # have ended, and remembers those still running, so a late commit is never skipped.
        op.execute(
            "ALTER TABLE access_log ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()"
        )
        op.execute("CREATE INDEX ix_access_log_txid ON access_log (txid, id)")
    op.create_table(
        "audit_leaves",
        sa.Column("leaf_index", ENTRY_ID, autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_leaves")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_audit_leaves_entry_id")),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "audit_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("peaks", sa.LargeBinary(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_state")),
    )


def downgrade() -> None:
    for table in ("audit_state", "audit_heads", "audit_nodes", "audit_leaves", "access_log"):
        op.drop_table(table)
