"""The product's vocabulary: enums and read-only views the GraphQL layer renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Role(Enum):
    ADMIN = "admin"
    MARKETER = "marketer"
    SALES = "sales"


class Provider(Enum):
    TWILIO = "TWILIO"


class AccountStatus(Enum):
    DRAFT = "DRAFT"
    VERIFYING = "VERIFYING"
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"


class SenderKind(Enum):
    PHONE_NUMBER = "PHONE_NUMBER"
    MESSAGING_SERVICE = "MESSAGING_SERVICE"


class VerificationFailure(Enum):
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_SUSPENDED = "ACCOUNT_SUSPENDED"
    INVALID_FROM_NUMBER = "INVALID_FROM_NUMBER"
    INVALID_MESSAGING_SERVICE = "INVALID_MESSAGING_SERVICE"
    MISSING_SENDER = "MISSING_SENDER"
    BASE_URL = "BASE_URL"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"


class FailureReason(Enum):
    """A failure stored more precisely than its public code, where one code needs different
    advice: clients see ``failure``'s code and this reason's sentence."""

    TWILIO_UNREACHABLE = "TWILIO_UNREACHABLE"
    # No configured key opens the account's Auth Token (a lost key, a tampered row): the fix is
    # the one for bad credentials, entering the token again.
    TOKEN_UNREADABLE = "UNREADABLE_TOKEN"  # noqa: S105 (a failure code, not a secret)

    @property
    def failure(self) -> VerificationFailure:
        return _REASON_FAILURES[self]


_REASON_FAILURES = {
    FailureReason.TWILIO_UNREACHABLE: VerificationFailure.PROVIDER_UNAVAILABLE,
    FailureReason.TOKEN_UNREADABLE: VerificationFailure.INVALID_CREDENTIALS,
}

# What a check stores in ``failure``: a public code, or a finer reason behind one.
StoredFailure = VerificationFailure | FailureReason


def stored_failure(value: str) -> StoredFailure:
    """Read back a stored failure; reasons and codes never share a spelling."""
    try:
        return FailureReason(value)
    except ValueError:
        return VerificationFailure(value)


def public_failure(stored: StoredFailure) -> VerificationFailure:
    return stored.failure if isinstance(stored, FailureReason) else stored


FAILURE_MESSAGES: dict[StoredFailure, str] = {
    VerificationFailure.INVALID_CREDENTIALS: (
        "Invalid credentials: Twilio rejected this Account SID and Auth Token. Copy both fresh "
        "from the Twilio Console, save, and verify again."
    ),
    VerificationFailure.ACCOUNT_SUSPENDED: (
        "Account suspended or closed: Twilio reports this account is not active. Reactivate it "
        "in the Twilio Console (or contact Twilio Support), then verify again."
    ),
    VerificationFailure.INVALID_FROM_NUMBER: (
        "Invalid From number: the Sender ID is not an SMS-capable number on this Twilio account. "
        "Use a number from Phone Numbers → Manage → Active numbers of this account, save, and "
        "verify again."
    ),
    VerificationFailure.INVALID_MESSAGING_SERVICE: (
        "Invalid Messaging Service: the Sender ID is not a Messaging Service of this Twilio "
        "account. Copy the MG… SID from Messaging → Services of this account, save, and verify "
        "again."
    ),
    VerificationFailure.MISSING_SENDER: (
        "No sender: this account has no From number or Messaging Service SID. Edit the account, "
        "set a Sender ID, save, and verify again."
    ),
    VerificationFailure.BASE_URL: (
        "Base URL: Twilio could not be reached at this Base URL. Use https://api.twilio.com/ "
        "unless Twilio Support gave you a regional endpoint, save, and verify again."
    ),
    VerificationFailure.PROVIDER_UNAVAILABLE: (
        "Twilio is unavailable: Twilio did not answer after several attempts. Nothing is wrong "
        "with your settings as far as we can tell; verify again in a few minutes."
    ),
    FailureReason.TWILIO_UNREACHABLE: (
        "This server cannot reach Twilio (DNS, firewall or proxy): ask your administrator to "
        "allow outbound HTTPS to api.twilio.com, then verify again."
    ),
    FailureReason.TOKEN_UNREADABLE: (
        "The stored Auth Token cannot be read: enter it again and verify."
    ),
}


# The stored value and sentence of an unreadable token, for the places that write them.
CANNOT_DECRYPT = FailureReason.TOKEN_UNREADABLE.value
CANNOT_DECRYPT_MESSAGE = FAILURE_MESSAGES[FailureReason.TOKEN_UNREADABLE]


def failure_shown(stored: str | None) -> tuple[VerificationFailure | None, str | None]:
    """The failure and its sentence as clients see them, from the stored failure value."""
    if stored is None:
        return None, None
    reason = stored_failure(stored)
    return public_failure(reason), FAILURE_MESSAGES[reason]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the workspace of the API key and its role."""

    workspace_id: str
    role: Role
    key_id: str


@dataclass(frozen=True, slots=True)
class Account:
    """An SMS account as clients see it: never the token, only its hint."""

    id: str
    provider: Provider
    display_name: str
    sender_id: str | None
    sender_kind: SenderKind | None
    dlt_entity_id: str | None
    client_id: str
    auth_token_hint: str
    base_url: str
    status: AccountStatus
    failure: VerificationFailure | None
    failure_message: str | None
    trial: bool | None
    inbound_webhook_url: str | None
    verified_at: datetime | None
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Stats:
    connected: int
    verified: int
    awaiting_action: int

    @classmethod
    def of(cls, accounts: list[Account]) -> Stats:
        verified = sum(1 for account in accounts if account.status is AccountStatus.VERIFIED)
        return cls(
            connected=len(accounts), verified=verified, awaiting_action=len(accounts) - verified
        )


@dataclass(frozen=True, slots=True)
class AccountList:
    stats: Stats
    nodes: list[Account]


@dataclass(frozen=True, slots=True)
class Sender:
    """One entry of the sender picker."""

    account_id: str
    display_name: str
    provider: Provider
    sender_id: str
    sender_kind: SenderKind


class MessageDirection(Enum):
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"


class MessageStatus(Enum):
    QUEUED = "QUEUED"
    ACCEPTED = "ACCEPTED"
    SCHEDULED = "SCHEDULED"
    SENDING = "SENDING"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    UNDELIVERED = "UNDELIVERED"
    FAILED = "FAILED"
    RECEIVED = "RECEIVED"
    READ = "READ"
    CANCELED = "CANCELED"
    UNCONFIRMED = "UNCONFIRMED"


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    account_id: str
    direction: MessageDirection
    from_number: str
    to_number: str
    body: str
    status: MessageStatus
    provider_message_id: str | None
    error_code: int | None
    error_message: str | None
    segments: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessagePage:
    nodes: list[tuple[str, Message]]  # (cursor, message)
    has_next_page: bool
    end_cursor: str | None
