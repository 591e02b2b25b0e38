"""A lease on VERIFYING, so a check whose process died is picked up again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        batch.add_column(sa.Column("verify_lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_sms_accounts_verifying",
        "sms_accounts",
        ["verify_lease_until"],
        sqlite_where=sa.text("status = 'VERIFYING'"),
        postgresql_where=sa.text("status = 'VERIFYING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_sms_accounts_verifying", table_name="sms_accounts")
    with op.batch_alter_table("sms_accounts") as batch:
        batch.drop_column("verify_lease_until")
