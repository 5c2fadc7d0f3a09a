"""Agreements without foreign keys (see vigie.eligibility.models.Agreement).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreement_lines", schema=None) as batch_op:
        batch_op.drop_constraint("fk_agreement_lines_agreement_id_agreements", type_="foreignkey")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_constraint("fk_agreements_beneficiary_id_beneficiaries", type_="foreignkey")
        batch_op.drop_constraint("fk_agreements_professional_id_professionals", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_agreements_beneficiary_id_beneficiaries",
            "beneficiaries",
            ["beneficiary_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            "fk_agreements_professional_id_professionals",
            "professionals",
            ["professional_id"],
            ["id"],
        )
    with op.batch_alter_table("agreement_lines", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_agreement_lines_agreement_id_agreements", "agreements", ["agreement_id"], ["id"]
        )
