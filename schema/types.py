"""GraphQL types. Plain attributes for plain fields: they are built from the use cases' views."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from enum import Enum
from typing import Annotated, TypeVar

import strawberry
from strawberry.types.base import get_object_definition
from strawberry.types.enum import has_enum_definition

from domain import accounts, messages
from domain.campaigns import Campaign, CampaignPage, CampaignStatus
from domain.vocabulary import (
    AccountStatus,
    ErrorCode,
    MessageDirection,
    MessageStatus,
    SenderKind,
    SmsProvider,
    SmsRoute,
    VerificationFailure,
    WebhookWiringStatus,
)
from resolvers.catalog import ProviderInfo
from resolvers.events import AccountEvent, AccountEventKind

T = TypeVar("T")
E = TypeVar("E", bound=Enum)


def shown(kind: type[T], view: object) -> T:
    """The GraphQL object of a use case's view: each of its fields, copied by name."""
    make: Callable[..., T] = kind
    return make(**{field.name: getattr(view, field.name) for field in fields(kind)})  # type: ignore[arg-type]


def describe_enum(enum: type[E], description: str, values: Mapping[E, str]) -> None:
    """Describe an enum that ``strawberry.enum`` marked, and its values. The enums are domain's,
    which never imports strawberry (so no ``strawberry.enum_value`` in their bodies): their
    GraphiQL words are written here, beside their GraphQL names."""
    by_value = {member.value: text for member, text in values.items()}
    assert has_enum_definition(enum), f"{enum.__name__} is not a GraphQL enum yet"
    enum.__strawberry_definition__.description = description
    for value in enum.__strawberry_definition__.values:
        value.description = by_value.get(value.value)


def described(**descriptions: str) -> Callable[[type[T]], type[T]]:
    """Describe fields a type inherits from a domain view, by Python name (placed above
    ``@strawberry.type``): the view writes each field once, and domain never imports
    strawberry. A name that is no field of the type is a mistake, caught at import."""

    def describe(kind: type[T]) -> type[T]:
        definition = get_object_definition(kind, strict=True)
        by_name = {field.python_name: field for field in definition.fields}
        unknown = sorted(set(descriptions) - set(by_name))
        if unknown:
            raise TypeError(f"{kind.__name__} has no field {', '.join(unknown)}")
        for name, text in descriptions.items():
            by_name[name].description = text
        return kind

    return describe


# The use cases' enums under their GraphQL names (strawberry marks the classes in place).
strawberry.enum(SmsProvider, name="SmsProvider")
strawberry.enum(AccountStatus, name="SmsAccountStatus")
strawberry.enum(SenderKind, name="SenderKind")
strawberry.enum(VerificationFailure, name="VerificationFailure")
strawberry.enum(ErrorCode, name="SmsErrorCode")
strawberry.enum(AccountEventKind, name="SmsAccountEventKind")
strawberry.enum(MessageDirection, name="MessageDirection")
strawberry.enum(MessageStatus, name="MessageStatus")
strawberry.enum(WebhookWiringStatus, name="WebhookWiringStatus")
describe_enum(
    WebhookWiringStatus,
    "Where pointing the sender's inbound webhook at this server stands.",
    {
        WebhookWiringStatus.OFF: (
            "Not asked for on this account (the admin pastes inboundWebhookUrl by hand)."
        ),
        WebhookWiringStatus.PENDING: "Asked for; done after the next successful Verify.",
        WebhookWiringStatus.WIRED: "The sender's inbound URL points at this server.",
        WebhookWiringStatus.FAILED: (
            "The provider refused or could not be reached; message says what to do. The account "
            "stays usable."
        ),
    },
)
strawberry.enum(SmsRoute, name="SmsRoute")
describe_enum(
    SmsRoute,
    "The kind of traffic a sender carries, where the provider asks (MSG91: transactional any "
    "time, promotional 10 AM to 9 PM).",
    {
        SmsRoute.TRANSACTIONAL: "Transactional and service messages (MSG91 route 4), any time.",
        SmsRoute.PROMOTIONAL: "Promotional messages (MSG91 route 1), 10 AM to 9 PM.",
    },
)


@strawberry.type(
    name="SmsWebhookWiring",
    description=(
        "The sender's inbound webhook, pointed at this server on Verify when wireWebhooks asks "
        "for it, and put back as it was when the account lets go of the sender."
    ),
)
class SmsWebhookWiring(accounts.WebhookWiring):
    status: WebhookWiringStatus = strawberry.field(description="Where the wiring stands.")
    inbound_url: str | None = strawberry.field(
        description=(
            "What the sender's inbound webhook (the number's, or the Messaging Service's) points "
            "at now, as last set or read."
        )
    )
    previous_inbound_url: str | None = strawberry.field(
        description=(
            "What it pointed at before we changed it; put back on disconnect, sender change, "
            "removal or opt-out."
        )
    )
    message: str | None = strawberry.field(
        description="What happened last, in a sentence; when it failed, what to do."
    )
    changed_at: datetime | None = strawberry.field(description="When the wiring last changed.")


describe_enum(
    SmsProvider,
    "An SMS provider whose accounts can be connected.",
    {
        SmsProvider.MSG91: "MSG91 (India, DLT): an API Key (authkey) and a 6-letter DLT header.",
        SmsProvider.TWILIO: (
            "Twilio Programmable Messaging (REST API): an Account SID, an Auth Token, and a From "
            "number or a Messaging Service SID."
        ),
    },
)
describe_enum(
    AccountStatus,
    "Where an account is between Add and Verify; only VERIFIED accounts send and appear in the "
    "sender picker.",
    {
        AccountStatus.DRAFT: (
            "Saved but not yet usable: campaigns and workflows skip Draft accounts. Added accounts "
            "start here, and a change of sender or credentials returns here; run Verify."
        ),
        AccountStatus.VERIFYING: (
            "Verify is checking the account and its sender with the provider; the verdict "
            "arrives on smsAccountChanged, typically in under five seconds."
        ),
        AccountStatus.VERIFIED: (
            "The provider confirmed the credentials and the sender: the account sends and is in "
            "the sender picker. A scheduled health check keeps confirming it."
        ),
        AccountStatus.FAILED: (
            "A check failed: failure says why and failureMessage what to fix. Edit the account, "
            "save, and verify again."
        ),
    },
)
describe_enum(
    SenderKind,
    "What an account's Sender ID is: a From number or a Messaging Service.",
    {
        SenderKind.PHONE_NUMBER: "A From number in E.164 format (+1…, +91…).",
        SenderKind.ALPHANUMERIC: (
            "A sender shown by name, such as an Indian DLT header of 6 letters."
        ),
        SenderKind.MESSAGING_SERVICE: (
            "A Twilio Messaging Service SID (MG followed by 32 hex characters): Twilio routes "
            "each message through the service's numbers."
        ),
    },
)
describe_enum(
    VerificationFailure,
    "Why an account's last check failed (SmsAccount.failure); its failureMessage says what to fix.",
    {
        VerificationFailure.INVALID_CREDENTIALS: (
            "The Account SID + Auth Token pair is wrong (or the stored token can no longer be "
            "read): copy them fresh from the Twilio Console, Edit the account, save, and re-Verify."
        ),
        VerificationFailure.ACCOUNT_SUSPENDED: (
            "The Twilio account is suspended or closed: reactivate it in the Twilio Console (or "
            "contact Twilio Support), then verify again."
        ),
        VerificationFailure.INVALID_FROM_NUMBER: (
            "The Sender ID isn't an SMS-capable number on the same Twilio account: use a number "
            "you own in this account (Phone Numbers → Manage → Active numbers)."
        ),
        VerificationFailure.INVALID_MESSAGING_SERVICE: (
            "The Sender ID isn't a Messaging Service of this Twilio account: copy the MG… SID "
            "from Messaging → Services."
        ),
        VerificationFailure.MISSING_SENDER: (
            "The account has no Sender ID: edit it, set a From number or Messaging Service SID, "
            "and verify again."
        ),
        VerificationFailure.BASE_URL: (
            "Twilio could not be reached at the Base URL, or the server no longer allows it: use "
            "https://api.twilio.com/ unless Twilio told you otherwise."
        ),
        VerificationFailure.PROVIDER_UNAVAILABLE: (
            "The provider did not answer after several attempts, or this server cannot reach it "
            "(failureMessage says which): nothing to fix in the account; verify again later."
        ),
    },
)
describe_enum(
    ErrorCode,
    "The kind of an expected problem in a mutation payload's errors: stable, for programs to "
    "branch on.",
    {
        ErrorCode.REQUIRED: (
            "A required field is empty (field names it): Provider, Sender ID, Client ID and Auth "
            "Token are required to add an account."
        ),
        ErrorCode.INVALID: (
            "A value has the wrong form or is not allowed (field names it; message says what is "
            "expected)."
        ),
        ErrorCode.NOT_FOUND: (
            "No SMS account with this id in the key's workspace (or it was removed)."
        ),
        ErrorCode.INTEGRATION_DISABLED: (
            "The SMS integration is off for this workspace: turn it on with "
            "setSmsIntegrationEnabled."
        ),
        ErrorCode.VERIFICATION_IN_PROGRESS: (
            "A verification of this account is already running; its verdict arrives on "
            "smsAccountChanged."
        ),
        ErrorCode.ACCOUNT_NOT_VERIFIED: (
            "The account cannot send: it is not VERIFIED, has no sender, or its Auth Token or "
            "Base URL must be entered again. Fix it and verify first."
        ),
        ErrorCode.PROVIDER_REJECTED: (
            "The provider refused the message (message says why); it is stored as FAILED and "
            "was not sent."
        ),
        ErrorCode.PROVIDER_UNAVAILABLE: (
            "The provider could not be reached or did not confirm the send: nothing is sent "
            "again; try later, or wait for the delivery report of an UNCONFIRMED message."
        ),
        ErrorCode.RECIPIENT_OPTED_OUT: (
            "The recipient replied STOP: nothing is sent to them until they reply START."
        ),
        ErrorCode.CAMPAIGN_NOT_EDITABLE: (
            "The campaign's status does not allow this (recipients are added only while DRAFT; "
            "only a DRAFT campaign starts, a SENDING one pauses, a PAUSED one resumes; COMPLETED "
            "and CANCELED are final)."
        ),
        ErrorCode.TOO_MANY: (
            "More than a limit allows: recipients in one call (1,000) or in a campaign "
            "(1,000,000), or a sender's next free slot too far away; nothing was done."
        ),
    },
)
describe_enum(
    AccountEventKind,
    "What happened to an account on the SMS Accounts page.",
    {
        AccountEventKind.ADDED: "An account was added, as a Draft.",
        AccountEventKind.UPDATED: "An edit changed the account's fields; its status did not move.",
        AccountEventKind.STATUS_CHANGED: (
            "The account's status moved: Verify started or ended, a health check failed, or an "
            "edit of its sender or credentials returned it to Draft."
        ),
        AccountEventKind.REMOVED: "The account was removed: drop its card.",
    },
)
describe_enum(
    MessageDirection,
    "Whether a message was sent through an account or received by it.",
    {
        MessageDirection.OUTBOUND: "Sent through the account (sendSms, a campaign, a workflow).",
        MessageDirection.INBOUND: (
            "A reply to the account's sender, posted by the provider's webhook."
        ),
    },
)
describe_enum(
    MessageStatus,
    "Where a message is. Delivery reports only move it forward; DELIVERED, UNDELIVERED, FAILED, "
    "CANCELED and READ are final.",
    {
        MessageStatus.QUEUED: "The provider queued it to send.",
        MessageStatus.ACCEPTED: (
            "The provider accepted it; a Messaging Service picks the number to send from next."
        ),
        MessageStatus.SCHEDULED: "The provider holds it until its scheduled time.",
        MessageStatus.SENDING: "The provider is handing it to the carrier.",
        MessageStatus.SENT: "The carrier took it; no delivery report yet.",
        MessageStatus.DELIVERED: "The carrier reports it delivered to the handset.",
        MessageStatus.UNDELIVERED: (
            "The carrier could not deliver it; errorCode and errorMessage say why."
        ),
        MessageStatus.FAILED: (
            "It was not sent: the provider refused it or could not be reached; errorMessage "
            "says why."
        ),
        MessageStatus.RECEIVED: "An inbound message, received.",
        MessageStatus.READ: "The recipient read it (on channels that report reads).",
        MessageStatus.CANCELED: "A scheduled message, canceled before it left.",
        MessageStatus.UNCONFIRMED: (
            "Handed to the provider, whose answer never came back: it is not sent again (that "
            "could send it twice); its delivery report settles the status."
        ),
    },
)


@described(
    provider="The SMS provider of this account.",
    display_name=(
        "A label for your team (e.g. Marketing SMS, India promo), shown in the sender picker "
        "instead of the SID; by default the provider and the Sender ID."
    ),
    sender_id=(
        "The From number in E.164 format (+1…, +91…) or the Messaging Service SID (MG…); null "
        "once disconnected (then the account cannot be verified or send)."
    ),
    sender_kind="Whether senderId is a phone number or a Messaging Service; null with no sender.",
    dlt_entity_id=(
        "India only: the Principal Entity ID registered on the DLT portal; null otherwise."
    ),
    client_id=(
        "The provider account's id: for Twilio the Account SID (AC followed by 32 hex characters)."
    ),
    base_url=(
        "The provider's API endpoint: https://api.twilio.com/ unless Twilio Support gave you a "
        "region-specific one."
    ),
    status=(
        "DRAFT after Add or a change of sender or credentials, VERIFYING while Verify runs, then "
        "VERIFIED or FAILED. Only VERIFIED accounts send."
    ),
    failure="Why the last check failed; null unless the status is FAILED.",
    failure_message=(
        "What to fix, in a sentence: the Failed message shown on the card (quote it to "
        "support); null unless the status is FAILED."
    ),
    trial=(
        "True for a Twilio trial account, which sends only to verified recipient numbers; null "
        "until a check has told."
    ),
    inbound_webhook_url=(
        "Where the sender's incoming-message webhook points to bring replies here; null when "
        "the server has no public URL (SMS_PUBLIC_URL)."
    ),
    verified_at="When Verify last succeeded; null after a change of credentials or a failure.",
    created_at="When the account was added.",
    updated_at="When the account last changed: an edit, or a move between statuses.",
)
@strawberry.type(
    name="SmsAccount", description="A connected SMS provider account, as shown on its card."
)
class SmsAccount(accounts.Account):
    """The account's fields are ``domain.accounts.Account``'s (their annotations are resolved
    here, hence the enums imported by name); only what GraphQL says more about some of them is
    written here."""

    id: strawberry.ID = strawberry.field(
        description="The account's id, for smsAccount, the account mutations and sendSms."
    )
    auth_token_hint: str = strawberry.field(
        description="The Auth Token is never returned: this is •••• and its last 4 characters."
    )
    last_checked_at: datetime | None = strawberry.field(
        description=(
            "When Twilio last confirmed (or refused) this account: Verify, or the scheduled "
            "health check of a verified account."
        )
    )
    webhooks: SmsWebhookWiring = strawberry.field(
        description="Whether the sender's inbound webhook is pointed at this server, and how."
    )
    route: SmsRoute | None = strawberry.field(
        description=(
            "The kind of traffic the sender carries, for providers that ask (MSG91); null for "
            "Twilio."
        )
    )
    status_webhook_url: str | None = strawberry.field(
        description=(
            "Where the provider posts delivery reports when it has no per-message callback "
            "(MSG91: paste into its panel)."
        )
    )

    send_rate_per_second: float = strawberry.field(
        description=(
            "Message segments per second this sender sends at most, across every server and "
            "worker (one-off sends go ahead of campaigns). Default: a phone number 1, a "
            "Messaging Service 10."
        )
    )


# The argument that names an account, described once for every root field that takes one.
AccountId = Annotated[
    strawberry.ID, strawberry.argument(description="The SMS account's id (SmsAccount.id).")
]


@strawberry.type(description="The stat row of the SMS Accounts page.")
class SmsAccountStats:
    connected: int = strawberry.field(description="Accounts of the workspace, in every status.")
    verified: int = strawberry.field(description="Accounts in VERIFIED status.")
    awaiting_action: int = strawberry.field(
        description="Accounts not VERIFIED (Draft, Verifying or Failed): connected minus verified."
    )


@strawberry.type(description="The SMS Accounts page in one answer: the stat row and the cards.")
class SmsAccountList:
    stats: SmsAccountStats = strawberry.field(
        description="The stat row: Connected / Verified / Awaiting action."
    )
    nodes: list[SmsAccount] = strawberry.field(
        description="Every account of the workspace, one per card, oldest first."
    )


@strawberry.type(
    description="The SMS card's toggle under Automation → Integrations → Communication."
)
class SmsIntegration:
    enabled: bool = strawberry.field(
        description=(
            "Whether the SMS integration is on. Off: no account can be added, verified or send "
            "(INTEGRATION_DISABLED)."
        )
    )


@strawberry.type(description="One field of the Add SMS Account dialog, in form order.")
class SmsProviderField:
    name: str = strawberry.field(
        description="The input field this form field fills, e.g. senderId (AddSmsAccountInput)."
    )
    label: str = strawberry.field(description="The field's label in the dialog, e.g. Sender ID.")
    required: bool = strawberry.field(
        description="Whether Save account stays disabled while the field is empty."
    )
    secret: bool = strawberry.field(
        description="Whether the value is a secret: mask it (••••) and never store it."
    )
    hint: str | None = strawberry.field(
        description="A one-line hint shown with the field; null when there is none."
    )
    default_value: str | None = strawberry.field(
        description="What the field is pre-filled with; null when it starts empty."
    )


@strawberry.type(description="A provider of the Provider dropdown, and the form it shows.")
class SmsProviderInfo:
    provider: SmsProvider = strawberry.field(
        description="The value to send as AddSmsAccountInput.provider."
    )
    label: str = strawberry.field(description="The provider's name in the dropdown, e.g. Twilio.")
    fields: list[SmsProviderField] = strawberry.field(
        description="The dialog's fields for this provider, in form order."
    )

    @classmethod
    def of(cls, info: ProviderInfo) -> SmsProviderInfo:
        return cls(
            provider=info.provider,
            label=info.label,
            fields=[shown(SmsProviderField, field) for field in info.fields],
        )


@strawberry.type(description="An entry of the sender picker.")
class SmsSender:
    account_id: strawberry.ID = strawberry.field(
        description="The account to send through: sendSms's accountId."
    )
    display_name: str = strawberry.field(
        description="What the picker shows: the account's Display Name, not the SID."
    )
    provider: SmsProvider = strawberry.field(description="The account's provider.")
    sender_id: str = strawberry.field(
        description="The From number (E.164) or Messaging Service SID messages are sent from."
    )
    sender_kind: SenderKind = strawberry.field(
        description="Whether senderId is a phone number or a Messaging Service."
    )


@strawberry.type(description="An expected problem: a field (or null), a code and a sentence.")
class SmsError:
    field: str | None = strawberry.field(
        description=(
            "The input field or argument at fault, as the API names it (senderId, id, to…); null "
            "when no one field is."
        )
    )
    code: ErrorCode = strawberry.field(description="The kind of problem, for programs.")
    message: str = strawberry.field(description="What to fix, in a sentence for the user.")


@strawberry.type(
    description="What an account mutation answers: the account and a toast, or errors."
)
class SmsAccountPayload:
    account: SmsAccount | None = strawberry.field(
        description=(
            "The account after the change (removeSmsAccount: as it was removed); null when "
            "errors say why nothing changed."
        )
    )
    message: str | None = strawberry.field(
        description=(
            "The toast to show, e.g. SMS Account added successfully, Verification process "
            "started; null with errors."
        )
    )
    errors: list[SmsError] = strawberry.field(
        description="Expected problems, all at once; empty on success."
    )


@strawberry.type(description="What setSmsIntegrationEnabled answers.")
class SmsIntegrationPayload:
    integration: SmsIntegration = strawberry.field(description="The toggle after the change.")
    errors: list[SmsError] = strawberry.field(
        description="Expected problems; the toggle has none, so this is always empty."
    )


@strawberry.input(
    description=(
        "The Add SMS Account dialog. Provider, Sender ID, Client ID and Auth Token are required; "
        "values are trimmed (all but the Base URL)."
    )
)
class AddSmsAccountInput:
    provider: SmsProvider = strawberry.field(
        description="The provider, one of smsProviders: pick TWILIO for Twilio, MSG91 for MSG91."
    )
    display_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "A label for your team, e.g. Marketing SMS (at most 100 characters), shown in the "
            "sender picker; empty: the provider and the Sender ID."
        ),
    )
    sender_id: str = strawberry.field(
        description=(
            "Your active From number in E.164 format (+1…, +91…) or a Twilio Messaging Service "
            "SID starting with MG."
        )
    )
    dlt_entity_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Only for India sub-accounts: the Principal Entity ID registered on the DLT portal "
            "(1 to 30 digits). Leave empty otherwise."
        ),
    )
    client_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Twilio: the Account SID (AC followed by 32 hex characters), from Console home → "
            "Account Info; required. MSG91: the Sender ID; may be omitted."
        ),
    )
    auth_token: str = strawberry.field(
        description=(
            "Twilio: the Auth Token from Console home → Account Info → Show. MSG91: the API Key "
            "(authkey). At most 128 characters; stored encrypted, never returned: treat it as a "
            "password."
        )
    )
    base_url: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Leave empty for https://api.twilio.com/ unless Twilio Support has given you a "
            "region-specific endpoint. https:// on a Twilio host, unless the server allows others."
        ),
    )
    wire_webhooks: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Point the sender's inbound webhook at this server once the account is verified "
            "(and put back what it pointed at when the account lets go of the sender). "
            "Default: false."
        ),
    )
    route: SmsRoute | None = strawberry.field(
        default=strawberry.UNSET,
        description="MSG91: the sender's route (TRANSACTIONAL when omitted). Twilio: omit it.",
    )
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
    display_name: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new label (at most 100 characters); empty: the provider and the Sender ID.",
    )
    sender_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "A new From number (E.164) or Messaging Service SID; empty disconnects the sender. "
            "A change returns the account to Draft."
        ),
    )
    dlt_entity_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new DLT Entity ID (India only); empty clears it. Returns it to Draft.",
    )
    client_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new Twilio Account SID. A change returns the account to Draft.",
    )
    auth_token: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "A new Auth Token, once rotated in Twilio. A change returns the account to Draft: "
            "re-Verify."
        ),
    )
    base_url: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="A new Base URL (empty: https://api.twilio.com/). Returns it to Draft.",
    )
    wire_webhooks: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Point the sender's inbound webhook at this server once the account is verified "
            "(and put back what it pointed at when the account lets go of the sender). "
            "false puts back what was there before; null: unchanged."
        ),
    )
    route: SmsRoute | None = strawberry.field(
        default=strawberry.UNSET,
        description="MSG91: the sender's route (no new verification is needed).",
    )
    rotate_status_webhook_token: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Issue a new statusWebhookUrl; the old one is refused at once.",
    )
    send_rate_per_second: float | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "Message segments per second this sender may send, from 0.1 to 500; changing it "
            "keeps the account's status."
        ),
    )


@strawberry.type(description="One change on the SMS Accounts page, with the stat row after it.")
class SmsAccountEvent:
    kind: AccountEventKind = strawberry.field(description="What happened to the account.")
    account: SmsAccount = strawberry.field(
        description="The account after the change (REMOVED: as it was removed)."
    )
    previous_status: AccountStatus | None = strawberry.field(
        description="The status before the change; null for ADDED."
    )
    stats: SmsAccountStats = strawberry.field(description="The stat row after the change.")

    @classmethod
    def of(cls, event: AccountEvent) -> SmsAccountEvent:
        return cls(
            kind=event.kind,
            account=shown(SmsAccount, event.account),
            previous_status=event.previous_status,
            stats=shown(SmsAccountStats, event.stats),
        )


@described(
    account_id="The SMS account it was sent or received through.",
    direction="OUTBOUND (sent through the account) or INBOUND (a reply to it).",
    body="The text, at most 1600 characters; a long one is sent as several segments.",
    status="Where the message is; delivery reports move it forward.",
    provider_message_id=(
        "The provider's id of the message (Twilio's Message SID); null until the provider took it."
    ),
    error_code=(
        "The provider's numeric error code when it refused or could not deliver the message; "
        "null otherwise."
    ),
    error_message="Why the message failed, in a sentence; null when it did not.",
    segments="How many SMS segments the provider counts (and bills); null until it says.",
    created_at="When the message was stored: before it left, or when it arrived.",
    updated_at="When the message last changed (its status, mostly).",
)
@strawberry.type(description="One SMS sent or received through an account.")
class SmsMessage(messages.Message):
    """The message's fields are ``domain.messages.Message``'s; only their GraphQL names and
    types are said here where they differ."""

    id: strawberry.ID = strawberry.field(description="The message's id.")
    account_id: strawberry.ID
    from_number: str = strawberry.field(
        name="from",
        description=(
            "Who sent it: the account's From number or Messaging Service SID (OUTBOUND), the "
            "contact's number (INBOUND)."
        ),
    )
    to_number: str = strawberry.field(
        name="to",
        description=(
            "Who it is for, in E.164 format: the contact (OUTBOUND), the account's number "
            "(INBOUND)."
        ),
    )


@strawberry.type(description="Where a page of messages ends, and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether older messages follow: pass endCursor as after to read them."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last message; null on an empty page."
    )


@strawberry.type(description="One message of a page, with its cursor.")
class SmsMessageEdge:
    cursor: str = strawberry.field(
        description=(
            "Pass it as after to read the messages that follow this one; opaque, valid in this "
            "workspace only."
        )
    )
    node: SmsMessage = strawberry.field(description="The message.")


@strawberry.type(description="A page of messages, newest first.")
class SmsMessageConnection:
    edges: list[SmsMessageEdge] = strawberry.field(
        description="The page's messages, each with its cursor."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more follow, and the cursor to read them."
    )

    @classmethod
    def of(cls, page: messages.MessagePage) -> SmsMessageConnection:
        return cls(
            edges=[SmsMessageEdge(cursor=c, node=shown(SmsMessage, m)) for c, m in page.nodes],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


@strawberry.input(description="One SMS to send through a verified account.")
class SendSmsInput:
    account_id: strawberry.ID = strawberry.field(
        description="The verified account to send through (an entry of smsSenders)."
    )
    to: str = strawberry.field(
        description="The recipient's number in E.164 format: +, country code and number."
    )
    body: str = strawberry.field(
        description="The text: not blank, at most 1600 characters, line breaks kept."
    )
    dlt_template_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "India DLT: the registered template this body matches (MSG91 sends it as DLT_TE_ID)."
        ),
    )


@strawberry.type(description="What sendSms answers: the message as stored, and any problem.")
class SendSmsPayload:
    message: SmsMessage | None = strawberry.field(
        description=(
            "The message as stored: as the provider took it, FAILED if refused, UNCONFIRMED if "
            "its answer was lost; null when a check refused it before anything was stored."
        )
    )
    errors: list[SmsError] = strawberry.field(
        description="Expected problems; empty when the provider took the message."
    )


strawberry.enum(CampaignStatus, name="SmsCampaignStatus")
describe_enum(
    CampaignStatus,
    "Where a campaign is in its life.",
    {
        CampaignStatus.DRAFT: "Being prepared: recipients may be added; nothing is sent.",
        CampaignStatus.SENDING: "Handing recipients over to the provider at the sender's pace.",
        CampaignStatus.PAUSED: "Nothing is handed over until resumed (statusMessage says why "
        "when the server paused it).",
        CampaignStatus.COMPLETED: "Every recipient was handed over, failed or skipped (delivery "
        "reports may still move delivered and undelivered).",
        CampaignStatus.CANCELED: "Stopped for good: the recipients left were skipped.",
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
    dlt_template_id: str | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "India DLT: the registered template every message of the campaign matches (MSG91 "
            "sends it as DLT_TE_ID; required there). Twilio matches templates itself: omit it."
        ),
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
