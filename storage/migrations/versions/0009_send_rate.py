"""Pacing per sender: each account's send rate, and the shared pace of every sender.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        batch.add_column(
            sa.Column("send_rate_per_second", sa.Float(), nullable=False, server_default="1")
        )
    # A Messaging Service spreads its sends over its numbers: its default is 10 a second.
    op.execute(
        "UPDATE sms_accounts SET send_rate_per_second = 10 WHERE sender_kind = 'MESSAGING_SERVICE'"
    )
    op.create_table(
        "sms_send_pace",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("next_free_at", sa.Float(), nullable=False),
        sa.Column("slowed_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["sms_accounts.id"]),
        sa.PrimaryKeyConstraint("account_id"),
    )


def downgrade() -> None:
    op.drop_table("sms_send_pace")
    with op.batch_alter_table("sms_accounts") as batch:
        batch.drop_column("send_rate_per_second")
