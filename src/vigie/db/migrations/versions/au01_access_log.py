"""Access log (audit branch).

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
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("amc", sa.String(length=9), nullable=True),
        sa.Column("insured", sa.LargeBinary(length=16), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index(op.f("ix_access_log_actor"), "access_log", ["actor"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_access_log_actor"), table_name="access_log")
    op.drop_table("access_log")
