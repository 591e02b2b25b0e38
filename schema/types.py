"""GraphQL types. Plain attributes for plain fields: they are built from the use cases' views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import TypeVar

import strawberry

from domain import accounts, messages
from domain.campaigns import Campaign, CampaignPage, CampaignStatus
from domain.vocabulary import (
    AccountStatus,
    ErrorCode,
    MessageDirection,
    MessageStatus,
    SenderKind,
    SmsProvider,
    VerificationFailure,
)
from resolvers.catalog import ProviderInfo
from resolvers.events import AccountEvent, AccountEventKind

T = TypeVar("T")


def shown(kind: type[T], view: object) -> T:
    """The GraphQL object of a use case's view: each of its fields, copied by name."""
    make: Callable[..., T] = kind
    return make(**{field.name: getattr(view, field.name) for field in fields(kind)})  # type: ignore[arg-type]


# The use cases' enums under their GraphQL names (strawberry marks the classes in place).
strawberry.enum(SmsProvider, name="SmsProvider")
strawberry.enum(AccountStatus, name="SmsAccountStatus")
strawberry.enum(SenderKind, name="SenderKind")
strawberry.enum(VerificationFailure, name="VerificationFailure")
strawberry.enum(ErrorCode, name="SmsErrorCode")
strawberry.enum(AccountEventKind, name="SmsAccountEventKind")
strawberry.enum(MessageDirection, name="MessageDirection")
strawberry.enum(MessageStatus, name="MessageStatus")


@strawberry.type(
    name="SmsAccount", description="A connected SMS provider account, as shown on its card."
)
class SmsAccount(accounts.Account):
    """The account's fields are ``domain.accounts.Account``'s (their annotations are resolved
    here, hence the enums imported by name); only what GraphQL says more about some of them is
    written here."""

    id: strawberry.ID
    auth_token_hint: str = strawberry.field(
        description="The Auth Token is never returned: this is •••• and its last 4 characters."
    )
    last_checked_at: datetime | None = strawberry.field(
        description=(
            "When Twilio last confirmed (or refused) this account: Verify, or the scheduled "
            "health check of a verified account."
        )
    )
    send_rate_per_second: float = strawberry.field(
        description=(
            "Message segments per second this sender sends at most, across every server and "
            "worker (one-off sends go ahead of campaigns). Default: a phone number 1, a "
            "Messaging Service 10."
        )
    )


@strawberry.type(description="The stat row of the SMS Accounts page.")
class SmsAccountStats:
    connected: int
    verified: int
    awaiting_action: int


@strawberry.type
class SmsAccountList:
    stats: SmsAccountStats
    nodes: list[SmsAccount]


@strawberry.type
class SmsIntegration:
    enabled: bool


@strawberry.type(description="One field of the Add SMS Account dialog, in form order.")
class SmsProviderField:
    name: str
    label: str
    required: bool
    secret: bool
    hint: str | None
    default_value: str | None


@strawberry.type
class SmsProviderInfo:
    provider: SmsProvider
    label: str
    fields: list[SmsProviderField]

    @classmethod
    def of(cls, info: ProviderInfo) -> SmsProviderInfo:
        return cls(
            provider=info.provider,
            label=info.label,
            fields=[shown(SmsProviderField, field) for field in info.fields],
        )


@strawberry.type(description="An entry of the sender picker.")
class SmsSender:
    account_id: strawberry.ID
    display_name: str
    provider: SmsProvider
    sender_id: str
    sender_kind: SenderKind


@strawberry.type(description="An expected problem: a field (or null), a code and a sentence.")
class SmsError:
    field: str | None
    code: ErrorCode
    message: str


@strawberry.type
class SmsAccountPayload:
    account: SmsAccount | None
    message: str | None
    errors: list[SmsError]


@strawberry.type
class SmsIntegrationPayload:
    integration: SmsIntegration
    errors: list[SmsError]


@strawberry.input
class AddSmsAccountInput:
    provider: SmsProvider
    display_name: str | None = strawberry.UNSET
    sender_id: str
    dlt_entity_id: str | None = strawberry.UNSET
    client_id: str
    auth_token: str
    base_url: str | None = strawberry.UNSET
    send_rate_per_second: float | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Message segments per second this sender may send (Twilio: a US long code 1, "
            "toll-free 3, a short code 100), from 0.1 to 500. Default: a phone number 1, a "
            "Messaging Service 10."
        ),
    )


@strawberry.input(description="Only the fields given change; null means unchanged.")
class UpdateSmsAccountInput:
    display_name: str | None = strawberry.UNSET
    sender_id: str | None = strawberry.UNSET
    dlt_entity_id: str | None = strawberry.UNSET
    client_id: str | None = strawberry.UNSET
    auth_token: str | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET
    send_rate_per_second: float | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Message segments per second this sender may send, from 0.1 to 500; changing it "
            "keeps the account's status."
        ),
    )


@strawberry.type(description="One change on the SMS Accounts page, with the stat row after it.")
class SmsAccountEvent:
    kind: AccountEventKind
    account: SmsAccount
    previous_status: AccountStatus | None
    stats: SmsAccountStats

    @classmethod
    def of(cls, event: AccountEvent) -> SmsAccountEvent:
        return cls(
            kind=event.kind,
            account=shown(SmsAccount, event.account),
            previous_status=event.previous_status,
            stats=shown(SmsAccountStats, event.stats),
        )


@strawberry.type(description="One SMS sent or received through an account.")
class SmsMessage(messages.Message):
    """The message's fields are ``domain.messages.Message``'s; only their GraphQL names and
    types are said here where they differ."""

    id: strawberry.ID
    account_id: strawberry.ID
    from_number: str = strawberry.field(name="from")
    to_number: str = strawberry.field(name="to")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SmsMessageEdge:
    cursor: str
    node: SmsMessage


@strawberry.type
class SmsMessageConnection:
    edges: list[SmsMessageEdge]
    page_info: PageInfo

    @classmethod
    def of(cls, page: messages.MessagePage) -> SmsMessageConnection:
        return cls(
            edges=[SmsMessageEdge(cursor=c, node=shown(SmsMessage, m)) for c, m in page.nodes],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


@strawberry.input
class SendSmsInput:
    account_id: strawberry.ID
    to: str
    body: str


@strawberry.type
class SendSmsPayload:
    message: SmsMessage | None
    errors: list[SmsError]


def describe_values(kind: type, descriptions: dict[str, str]) -> None:
    """Describe the named values of an enum strawberry already took in (the use cases' enums
    carry no GraphQL words themselves)."""
    for value in kind.__strawberry_definition__.values:  # type: ignore[attr-defined]
        if value.name in descriptions:
            value.description = descriptions[value.name]


strawberry.enum(
    CampaignStatus, name="SmsCampaignStatus", description="Where a campaign is in its life."
)
describe_values(
    CampaignStatus,
    {
        "DRAFT": "Being prepared: recipients may be added; nothing is sent.",
        "SENDING": "Handing recipients over to the provider at the sender's pace.",
        "PAUSED": "Nothing is handed over until resumed (statusMessage says why when the "
        "server paused it).",
        "COMPLETED": "Every recipient was handed over, failed or skipped (delivery reports may "
        "still move delivered and undelivered).",
        "CANCELED": "Stopped for good: the recipients left were skipped.",
    },
)
describe_values(
    ErrorCode,
    {
        "CAMPAIGN_NOT_EDITABLE": "The campaign's status does not allow this (recipients are "
        "added only while DRAFT; only a DRAFT campaign starts, a SENDING one pauses, a PAUSED "
        "one resumes; COMPLETED and CANCELED are final).",
        "TOO_MANY": "More than a limit allows: recipients in one call (1,000) or in a campaign "
        "(1,000,000), or a sender's next free slot too far away; nothing was done.",
    },
)


@strawberry.type(
    description="A campaign's counters, kept as it goes: total = pending + sent + failed + "
    "skipped + unconfirmed at every moment."
)
class SmsCampaignProgress:
    total: int = strawberry.field(description="Recipients added (skipped ones included).")
    pending: int = strawberry.field(
        description="Not yet handed to the provider (one being handed over right now included)."
    )
    sent: int = strawberry.field(
        description="Handed to the provider (includes those that later reached delivered, "
        "undelivered or failed)."
    )
    delivered: int = strawberry.field(description="Sent and reported delivered.")
    undelivered: int = strawberry.field(
        description="Sent and reported undelivered or failed by the provider or the carrier."
    )
    failed: int = strawberry.field(description="Refused by the provider or at send time.")
    skipped: int = strawberry.field(
        description="Not sent: opted out, duplicate, invalid number, or left when canceled."
    )
    unconfirmed: int = strawberry.field(
        description="Handed over, answer lost; settled by the delivery report. Never sent twice."
    )


@strawberry.type(description="An SMS campaign: one body sent to many recipients through a sender.")
class SmsCampaign:
    id: strawberry.ID = strawberry.field(description="The campaign's id.")
    name: str = strawberry.field(description="The campaign's name.")
    account_id: strawberry.ID = strawberry.field(description="The SMS account it sends through.")
    body: str = strawberry.field(description="Default text; a recipient's own body replaces it.")
    status: CampaignStatus = strawberry.field(description="Where the campaign is.")
    status_message: str | None = strawberry.field(
        description="Why it is paused or ended, when the server paused or ended it (integration "
        "off, account no longer verified or removed); null otherwise."
    )
    progress: SmsCampaignProgress = strawberry.field(description="Its counters now.")
    created_at: datetime = strawberry.field(description="When it was created.")
    started_at: datetime | None = strawberry.field(description="When it was started.")
    completed_at: datetime | None = strawberry.field(
        description="When it completed or was canceled."
    )

    @classmethod
    def of(cls, campaign: Campaign) -> SmsCampaign:
        return cls(
            **{
                name.name: getattr(campaign, name.name)
                for name in fields(Campaign)
                if name.name != "progress"
            },
            progress=shown(SmsCampaignProgress, campaign.progress),
        )


@strawberry.type(description="One campaign of a page, with its cursor.")
class SmsCampaignEdge:
    cursor: str = strawberry.field(description="Pass as after to get the campaigns after it.")
    node: SmsCampaign = strawberry.field(description="The campaign.")


@strawberry.type(description="A page of campaigns, newest first.")
class SmsCampaignConnection:
    edges: list[SmsCampaignEdge] = strawberry.field(description="The campaigns of this page.")
    page_info: PageInfo = strawberry.field(description="Whether more follow, and from where.")

    @classmethod
    def of(cls, page: CampaignPage) -> SmsCampaignConnection:
        return cls(
            edges=[SmsCampaignEdge(cursor=c, node=SmsCampaign.of(n)) for c, n in page.nodes],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


@strawberry.input(description="A new campaign, saved as DRAFT.")
class CreateSmsCampaignInput:
    account_id: strawberry.ID = strawberry.field(
        description="The SMS account to send through (verified before the start)."
    )
    name: str = strawberry.field(description="What the campaign is called (1-100 characters).")
    body: str = strawberry.field(
        description="Default text (1-1600 characters); a recipient's own body replaces it."
    )
    idempotency_key: str = strawberry.field(
        description="A retried create with the same key returns the same campaign (1-100 "
        "characters, per workspace)."
    )


@strawberry.input(description="One recipient of a campaign.")
class SmsCampaignRecipientInput:
    to: str = strawberry.field(
        description="The phone number, E.164 (+14155550123); spaces around it are trimmed. An "
        "invalid, duplicate or opted-out number is skipped."
    )
    body: str | None = strawberry.field(
        default=None,
        description="This recipient's own text, replacing the campaign's body (an invalid one "
        "skips the recipient).",
    )


@strawberry.type(description="What a campaign mutation answers: the campaign, or the problems.")
class SmsCampaignPayload:
    campaign: SmsCampaign | None = strawberry.field(
        description="The campaign as it now is (null when it was not found or not created)."
    )
    errors: list[SmsError] = strawberry.field(description="Expected problems; empty on success.")
