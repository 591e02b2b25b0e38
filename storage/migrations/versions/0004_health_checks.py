"""Scheduled health checks: when an account was last checked and when it is due again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        batch.add_column(sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True))
    # Accounts verified before health checks existed were last checked when they were verified;
    # next_check_at stays NULL so the service schedules them from last_checked_at.
    op.execute(
        "UPDATE sms_accounts SET last_checked_at = verified_at WHERE verified_at IS NOT NULL"
    )
    op.create_index(
        "ix_sms_accounts_recheck",
        "sms_accounts",
        ["next_check_at"],
        sqlite_where=sa.text("status = 'VERIFIED'"),
        postgresql_where=sa.text("status = 'VERIFIED'"),
    )


def downgrade() -> None:
    op.drop_index("ix_sms_accounts_recheck", table_name="sms_accounts")
    with op.batch_alter_table("sms_accounts") as batch:
        batch.drop_column("next_check_at")
        batch.drop_column("last_checked_at")
