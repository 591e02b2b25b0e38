"""Messages, opt-outs, and the previous Auth Token kept for webhook signatures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sms_accounts") as batch:
        batch.add_column(sa.Column("previous_auth_token_ciphertext", sa.String(512), nullable=True))
        batch.add_column(sa.Column("previous_auth_token_until", TS, nullable=True))
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace_id", sa.String(36), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("sms_accounts.id"), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("from_number", sa.String(64), nullable=False),
        sa.Column("to_number", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_message_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.String(500), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index(
        "ix_sms_messages_provider_id", "sms_messages", ["provider_message_id"], unique=True
    )
    op.create_index("ix_sms_messages_page", "sms_messages", ["workspace_id", "created_at", "id"])
    op.create_table(
        "sms_opt_outs",
        sa.Column("workspace_id", sa.String(36), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("phone_number", sa.String(64), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_opt_outs")
    op.drop_index("ix_sms_messages_page", table_name="sms_messages")
    op.drop_index("ix_sms_messages_provider_id", table_name="sms_messages")
    op.drop_table("sms_messages")
    with op.batch_alter_table("sms_accounts") as batch:
        batch.drop_column("previous_auth_token_until")
        batch.drop_column("previous_auth_token_ciphertext")
