"""GraphQL types. Plain attributes for plain fields: they are built from the use cases' views."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime

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
from resolvers.catalog import ProviderField, ProviderInfo
from resolvers.errors import FieldError
from resolvers.events import AccountEvent, AccountEventKind

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

    @classmethod
    def of(cls, account: accounts.Account) -> SmsAccount:
        return cls(**{field.name: getattr(account, field.name) for field in fields(cls)})


@strawberry.type(description="The stat row of the SMS Accounts page.")
class SmsAccountStats:
    connected: int
    verified: int
    awaiting_action: int

    @classmethod
    def of(cls, stats: accounts.Stats) -> SmsAccountStats:
        return cls(
            connected=stats.connected,
            verified=stats.verified,
            awaiting_action=stats.awaiting_action,
        )


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

    @classmethod
    def of(cls, field: ProviderField) -> SmsProviderField:
        return cls(
            name=field.name,
            label=field.label,
            required=field.required,
            secret=field.secret,
            hint=field.hint,
            default_value=field.default_value,
        )


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
            fields=[SmsProviderField.of(field) for field in info.fields],
        )


@strawberry.type(description="An entry of the sender picker.")
class SmsSender:
    account_id: strawberry.ID
    display_name: str
    provider: SmsProvider
    sender_id: str
    sender_kind: SenderKind

    @classmethod
    def of(cls, sender: accounts.Sender) -> SmsSender:
        return cls(
            account_id=strawberry.ID(sender.account_id),
            display_name=sender.display_name,
            provider=sender.provider,
            sender_id=sender.sender_id,
            sender_kind=sender.sender_kind,
        )


@strawberry.type(description="An expected problem: a field (or null), a code and a sentence.")
class SmsError:
    field: str | None
    code: ErrorCode
    message: str

    @classmethod
    def of(cls, error: FieldError) -> SmsError:
        return cls(field=error.field, code=error.code, message=error.message)


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


@strawberry.input(description="Only the fields given change; null means unchanged.")
class UpdateSmsAccountInput:
    display_name: str | None = strawberry.UNSET
    sender_id: str | None = strawberry.UNSET
    dlt_entity_id: str | None = strawberry.UNSET
    client_id: str | None = strawberry.UNSET
    auth_token: str | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET


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
            account=SmsAccount.of(event.account),
            previous_status=event.previous_status,
            stats=SmsAccountStats.of(event.stats),
        )


@strawberry.type(description="One SMS sent or received through an account.")
class SmsMessage:
    id: strawberry.ID
    account_id: strawberry.ID
    direction: MessageDirection
    from_: str = strawberry.field(name="from")
    to: str
    body: str
    status: MessageStatus
    provider_message_id: str | None
    error_code: int | None
    error_message: str | None
    segments: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, message: messages.Message) -> SmsMessage:
        return cls(
            id=strawberry.ID(message.id),
            account_id=strawberry.ID(message.account_id),
            direction=message.direction,
            from_=message.from_number,
            to=message.to_number,
            body=message.body,
            status=message.status,
            provider_message_id=message.provider_message_id,
            error_code=message.error_code,
            error_message=message.error_message,
            segments=message.segments,
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


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
            edges=[SmsMessageEdge(cursor=c, node=SmsMessage.of(m)) for c, m in page.nodes],
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
