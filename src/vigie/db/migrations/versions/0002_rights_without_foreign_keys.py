"""Rights without foreign keys (bulk imports; see vigie.rights.models.Right).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rights", schema=None) as batch_op:
        batch_op.drop_constraint("fk_rights_beneficiary_id_beneficiaries", type_="foreignkey")
        batch_op.drop_constraint("fk_rights_plan_id_plans", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("rights", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_rights_beneficiary_id_beneficiaries", "beneficiaries", ["beneficiary_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_rights_plan_id_plans", "plans", ["plan_id"], ["id"])
