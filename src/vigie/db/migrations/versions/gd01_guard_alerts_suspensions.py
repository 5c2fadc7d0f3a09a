"""Guard alerts and suspensions (guard branch).

Revision ID: gd01
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "gd01"
down_revision = "0002"
branch_labels = ("guard",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "guard_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("signals", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guard_alerts")),
    )
    op.create_index(op.f("ix_guard_alerts_account_id"), "guard_alerts", ["account_id"])
    op.create_index(op.f("ix_guard_alerts_created_at"), "guard_alerts", ["created_at"])
    op.create_table(
        "guard_suspensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=80), nullable=True),
        sa.Column("lift_reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guard_suspensions")),
    )
    op.create_index(op.f("ix_guard_suspensions_account_id"), "guard_suspensions", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_guard_suspensions_account_id"), table_name="guard_suspensions")
    op.drop_table("guard_suspensions")
    op.drop_index(op.f("ix_guard_alerts_created_at"), table_name="guard_alerts")
    op.drop_index(op.f("ix_guard_alerts_account_id"), table_name="guard_alerts")
    op.drop_table("guard_alerts")
