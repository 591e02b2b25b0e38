"""Webhooks wired on Verify: whether an account asks for it, where its wiring stands, and what
to put back on the sender when it lets go of it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Existing accounts never asked for wiring: OFF, version 0 (the defaults fill their rows).
COLUMNS = (
    ("wire_webhooks", sa.Boolean(), False, sa.false()),
    ("webhook_status", sa.String(length=16), False, "OFF"),
    ("webhook_inbound_url", sa.String(length=2048), True, None),
    ("webhook_previous_url", sa.String(length=2048), True, None),
    ("webhook_previous_method", sa.String(length=8), True, None),
    ("webhook_previous_routing", sa.String(length=64), True, None),
    ("webhook_message", sa.String(length=500), True, None),
    ("webhook_changed_at", sa.DateTime(timezone=True), True, None),
    ("webhook_version", sa.Integer(), False, "0"),
)


def upgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        for name, kind, nullable, default in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=nullable, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        for name, *_ in reversed(COLUMNS):
            batch.drop_column(name)
