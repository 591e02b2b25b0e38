"""Campaigns: the campaign with its counters, the outbox of its recipients, and the campaign a
message was sent for.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
COUNTERS = ("total", "pending", "sent", "delivered", "undelivered", "failed", "skipped")


def upgrade() -> None:
    op.create_table(
        "sms_campaigns",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace_id", sa.String(36), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("sms_accounts.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pause_cause", sa.String(32), nullable=True),
        sa.Column("status_message", sa.String(500), nullable=True),
        sa.Column("dlt_template_id", sa.String(30), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.Column("unconfirmed", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
    )
    op.create_index(
        "ix_sms_campaigns_key", "sms_campaigns", ["workspace_id", "idempotency_key"], unique=True
    )
    op.create_index("ix_sms_campaigns_page", "sms_campaigns", ["workspace_id", "created_at", "id"])
    op.create_index(
        "ix_sms_campaigns_sending",
        "sms_campaigns",
        ["account_id"],
        sqlite_where=sa.text("status = 'SENDING'"),
        postgresql_where=sa.text("status = 'SENDING'"),
    )
    op.create_table(
        "sms_campaign_recipients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("sms_campaigns.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt_id", sa.String(36), nullable=True),
        sa.Column("attempt_until", TS, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
    op.create_index(
        "ix_sms_campaign_recipients_number",
        "sms_campaign_recipients",
        ["campaign_id", "to_number"],
        unique=True,
    )
    op.create_index(
        "ix_sms_campaign_recipients_next",
        "sms_campaign_recipients",
        ["campaign_id", "status", "position"],
    )
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("campaign_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_column("campaign_id")
    op.drop_table("sms_campaign_recipients")
    op.drop_table("sms_campaigns")
