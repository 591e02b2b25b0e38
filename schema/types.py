"""GraphQL types. Plain attributes for plain fields: they are built from the use cases' views."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import TypeVar

import strawberry

from domain import accounts, messages
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
