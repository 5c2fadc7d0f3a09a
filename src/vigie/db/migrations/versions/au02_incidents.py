"""Incidents (audit branch).

Revision ID: au02
Revises: au01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "au02"
down_revision = "au01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("declared_at_us", sa.BigInteger(), nullable=False),
        sa.Column("declared_by", sa.String(length=80), nullable=False),
        sa.Column("detected_at_us", sa.BigInteger(), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=True),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.Column("structures", sa.Text(), nullable=False),
        sa.Column("keys_compromised", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("measures_taken", sa.Text(), nullable=False),
        sa.Column("measures_planned", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )


def downgrade() -> None:
    op.drop_table("incidents")
