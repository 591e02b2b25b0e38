"""Pacing per sender: each account's send rate, and the shared pace of every sender; on
PostgreSQL, the campaign job queue's own tables (procrastinate's schema, as the installed
procrastinate ships it: raising its version comes with a revision applying its migrations from
``procrastinate/sql/migrations``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
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
    if op.get_bind().dialect.name == "postgresql":
        _apply_job_queue_schema()


_DROP_FUNCTIONS = r"""
DO $$
DECLARE found record;
BEGIN
  FOR found IN
    SELECT p.oid::regprocedure AS signature FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%'
  LOOP
    EXECUTE 'DROP FUNCTION IF EXISTS ' || found.signature || ' CASCADE';
  END LOOP;
END $$;
"""


def _apply_job_queue_schema() -> None:
    """procrastinate's schema is one script of statements and functions: asyncpg runs it whole
    (a prepared statement holds one), on the migration's connection and transaction."""
    from procrastinate.schema import SchemaManager
    from sqlalchemy.util import await_only

    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    await_only(driver.execute(SchemaManager.get_schema()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Its tables, its functions (found by name: the script names them all so), its types.
        op.execute(
            "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_jobs, procrastinate_workers CASCADE"
        )
        op.execute(_DROP_FUNCTIONS)
        op.execute(
            "DROP TYPE IF EXISTS procrastinate_job_status, procrastinate_job_event_type, "
            "procrastinate_job_to_defer_v1 CASCADE"
        )
    op.drop_table("sms_send_pace")
    with op.batch_alter_table("sms_accounts") as batch:
        batch.drop_column("send_rate_per_second")
