"""Tables. Plain storage shapes: nothing here knows about GraphQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Float, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

from domain.campaigns import CampaignStatus, Outcome, PauseCause, RecipientStatus
from domain.text import MESSAGE_ADDRESS_LENGTH
from domain.vocabulary import (
    AccountStatus,
    MessageDirection,
    MessageStatus,
    SenderKind,
    SmsProvider,
    SmsRoute,
    StoredFailure,
    WebhookWiringStatus,
    stored_failure,
)
from storage.types import EnumText, UTCDateTime, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=100, unique=True)
    sms_enabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A workspace key; only its SHA-256 is stored, its prefix identifies it for revocation."""

    __tablename__ = "api_keys"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    workspace_id: str = Field(
        sa_column=Column(String(36), ForeignKey("workspaces.id"), nullable=False, index=True)
    )
    role: str = Field(max_length=16)
    prefix: str = Field(max_length=32, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Coarse on purpose (see queries.touch_key): a write a minute per key, not one per request.
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A key that must be used by this moment or is refused (the first start's admin key, which
    # lands in a file and could lie there forever); once used it lives on like any key.
    first_use_by: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SmsAccountRow(SQLModel, table=True):
    """One connected provider account. ``auth_token_ciphertext`` is AES-GCM, bound to ``id``."""

    __tablename__ = "sms_accounts"
    __table_args__ = (
        Index(
            "ix_sms_accounts_live",
            "workspace_id",
            "display_name",
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index(
            "ix_sms_accounts_verifying",
            "verify_lease_until",
            sqlite_where=text("status = 'VERIFYING'"),
            postgresql_where=text("status = 'VERIFYING'"),
        ),
        Index(
            "ix_sms_accounts_recheck",
            "next_check_at",
            sqlite_where=text("status = 'VERIFIED'"),
            postgresql_where=text("status = 'VERIFIED'"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    workspace_id: str = Field(
        sa_column=Column(String(36), ForeignKey("workspaces.id"), nullable=False)
    )
    provider: SmsProvider = Field(sa_type=EnumText(SmsProvider, 16))
    display_name: str = Field(max_length=100)
    sender_id: str | None = Field(default=None, max_length=64)
    sender_kind: SenderKind | None = Field(default=None, sa_type=EnumText(SenderKind, 32))
    dlt_entity_id: str | None = Field(default=None, max_length=30)
    # The traffic the sender carries, for providers that ask (None: the provider does not).
    route: SmsRoute | None = Field(default=None, sa_type=EnumText(SmsRoute, 16))
    client_id: str = Field(max_length=64)
    auth_token_ciphertext: str = Field(max_length=512)
    auth_token_hint: str = Field(max_length=4)
    base_url: str = Field(max_length=2048)
    status: AccountStatus = Field(sa_type=EnumText(AccountStatus, 16))
    failure: StoredFailure | None = Field(default=None, sa_type=EnumText(stored_failure, 32))
    trial: bool | None = Field(default=None)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    credentials_version: int = Field(default=1)
    # The lease of the check that runs now (Verify's while VERIFYING, a health check's while
    # VERIFIED): renewed while it runs, so an expired one means its process is gone.
    verify_lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When Twilio last confirmed (or refused) the account, and when a health check is due.
    last_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_check_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The token before the last change, still accepted on webhooks until the grace period ends.
    previous_auth_token_ciphertext: str | None = Field(default=None, max_length=512)
    previous_auth_token_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The token in the URL a provider without per-message callbacks posts delivery reports to
    # (``statusWebhookUrl``). Not a provider secret: it only lets its holder report statuses of
    # this account's messages, and the card shows it; rotated, the old one is refused at once.
    status_webhook_token: str | None = Field(default=None, max_length=64)
    # Message segments per second this sender may send (resolvers.pacing keeps every replica
    # and worker to it); rows from before it take a phone number's default.
    send_rate_per_second: float = Field(
        default=1.0, sa_type=Float, sa_column_kwargs={"server_default": "1"}
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The sender's inbound webhook pointed at this server on Verify (domain.webhook_wiring):
    # whether it is asked for, where it stands, and what to put back (while WIRED).
    wire_webhooks: bool = Field(default=False)
    webhook_status: WebhookWiringStatus = Field(
        default=WebhookWiringStatus.OFF, sa_type=EnumText(WebhookWiringStatus, 16)
    )
    webhook_inbound_url: str | None = Field(default=None, max_length=2048)
    webhook_previous_url: str | None = Field(default=None, max_length=2048)
    webhook_previous_method: str | None = Field(default=None, max_length=8)
    webhook_previous_routing: str | None = Field(default=None, max_length=64)
    webhook_message: str | None = Field(default=None, max_length=500)
    webhook_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped by every wiring move: a provider's answer is written only on the version it began.
    webhook_version: int = Field(default=0)


class SmsMessageRow(SQLModel, table=True):
    """One SMS, sent (OUTBOUND) or received (INBOUND) through an account."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        Index("ix_sms_messages_provider_id", "provider_message_id", unique=True),
        Index("ix_sms_messages_page", "workspace_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    workspace_id: str = Field(
        sa_column=Column(String(36), ForeignKey("workspaces.id"), nullable=False)
    )
    account_id: str = Field(
        sa_column=Column(String(36), ForeignKey("sms_accounts.id"), nullable=False)
    )
    direction: MessageDirection = Field(sa_type=EnumText(MessageDirection, 16))
    from_number: str = Field(max_length=MESSAGE_ADDRESS_LENGTH)
    to_number: str = Field(max_length=MESSAGE_ADDRESS_LENGTH)
    body: str = Field(sa_type=Text)
    status: MessageStatus = Field(sa_type=EnumText(MessageStatus, 16))
    provider_message_id: str | None = Field(default=None, max_length=MESSAGE_ADDRESS_LENGTH)
    error_code: int | None = Field(default=None)
    error_message: str | None = Field(default=None, max_length=500)
    segments: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The campaign a message was sent for (its id is then its recipient row's): a delivery
    # report of such a message also settles the recipient and the campaign's counters.
    campaign_id: str | None = Field(default=None, max_length=36)


class OptOut(SQLModel, table=True):
    """A number that replied STOP to this workspace: nothing is sent to it until START."""

    __tablename__ = "sms_opt_outs"

    workspace_id: str = Field(
        sa_column=Column(String(36), ForeignKey("workspaces.id"), primary_key=True)
    )
    phone_number: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SmsCampaignRow(SQLModel, table=True):
    """One campaign. Its counters are kept by every move of its recipients, in the same
    transaction (never counted over the recipients): see ``domain.campaigns``."""

    __tablename__ = "sms_campaigns"
    __table_args__ = (
        Index("ix_sms_campaigns_key", "workspace_id", "idempotency_key", unique=True),
        Index("ix_sms_campaigns_page", "workspace_id", "created_at", "id"),
        Index(
            "ix_sms_campaigns_sending",
            "account_id",
            sqlite_where=text("status = 'SENDING'"),
            postgresql_where=text("status = 'SENDING'"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    workspace_id: str = Field(
        sa_column=Column(String(36), ForeignKey("workspaces.id"), nullable=False)
    )
    account_id: str = Field(
        sa_column=Column(String(36), ForeignKey("sms_accounts.id"), nullable=False)
    )
    name: str = Field(max_length=100)
    body: str = Field(sa_type=Text)
    idempotency_key: str = Field(max_length=100)
    status: CampaignStatus = Field(sa_type=EnumText(CampaignStatus, 16))
    # Set when the server paused the campaign; resume is refused while the cause holds.
    pause_cause: PauseCause | None = Field(default=None, sa_type=EnumText(PauseCause, 32))
    status_message: str | None = Field(default=None, max_length=500)
    # India DLT: the registered template every message of the campaign matches (MSG91 sends it
    # as DLT_TE_ID); None for providers that match templates themselves.
    dlt_template_id: str | None = Field(default=None, max_length=30)
    total: int = Field(default=0)
    pending: int = Field(default=0)
    sent: int = Field(default=0)
    delivered: int = Field(default=0)
    undelivered: int = Field(default=0)
    failed: int = Field(default=0)
    skipped: int = Field(default=0)
    unconfirmed: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SmsCampaignRecipientRow(SQLModel, table=True):
    """One recipient of a campaign: the outbox row. Its id is also the id of the message sent to
    it, so the delivery report's callback names it."""

    __tablename__ = "sms_campaign_recipients"
    __table_args__ = (
        Index("ix_sms_campaign_recipients_number", "campaign_id", "to_number", unique=True),
        Index("ix_sms_campaign_recipients_next", "campaign_id", "status", "position"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    campaign_id: str = Field(
        sa_column=Column(String(36), ForeignKey("sms_campaigns.id"), nullable=False)
    )
    position: int  # the order recipients were added in, and are sent in
    to_number: str = Field(max_length=MESSAGE_ADDRESS_LENGTH)
    body: str | None = Field(default=None, sa_type=Text)  # None: the campaign's body
    status: RecipientStatus = Field(sa_type=EnumText(RecipientStatus, 16))
    # The hand-over that owns a SENDING row, and until when: past it, no one does.
    attempt_id: str | None = Field(default=None, max_length=36)
    attempt_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set once by the first final delivery report (DELIVERED, or UNDELIVERED for any failure).
    outcome: Outcome | None = Field(default=None, sa_type=EnumText(Outcome, 16))


class SendPaceRow(SQLModel, table=True):
    """A sender's pace, shared by every replica and worker (resolvers.pacing): when its next
    segment may leave, as seconds since the epoch (a float: the same arithmetic in SQLite and
    PostgreSQL), and until when it is slowed down after the provider said its queue is full."""

    __tablename__ = "sms_send_pace"

    account_id: str = Field(
        sa_column=Column(String(36), ForeignKey("sms_accounts.id"), primary_key=True)
    )
    next_free_at: float = Field(sa_type=Float)
    slowed_until: float | None = Field(default=None, sa_type=Float)
