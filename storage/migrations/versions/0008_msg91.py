"""MSG91, the second provider: an account's route, and the token of its delivery-report URL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        batch.add_column(sa.Column("route", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("status_webhook_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        batch.drop_column("status_webhook_token")
        batch.drop_column("route")
