"""An account as clients see it, the stat row, the sender picker, and the failure sentences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.vocabulary import (
    AccountStatus,
    FailureReason,
    SenderKind,
    SmsProvider,
    StoredFailure,
    VerificationFailure,
    public_failure,
)

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
    FailureReason.PROVIDER_UNREACHABLE: (
        "This server cannot reach Twilio (DNS, firewall or proxy): ask your administrator to "
        "allow outbound HTTPS to api.twilio.com, then verify again."
    ),
    FailureReason.TOKEN_UNREADABLE: (
        "The stored Auth Token cannot be read: enter it again and verify."
    ),
}


# The sentence of an unreadable token, for the places that write it.
CANNOT_DECRYPT_MESSAGE = FAILURE_MESSAGES[FailureReason.TOKEN_UNREADABLE]


def failure_shown(
    stored: StoredFailure | None,
) -> tuple[VerificationFailure | None, str | None]:
    """The failure and its sentence as clients see them, from the stored failure."""
    if stored is None:
        return None, None
    return public_failure(stored), FAILURE_MESSAGES[stored]


@dataclass(slots=True)
class Account:
    """An SMS account as clients see it: never the token, only its hint.

    The one definition of an account's fields: the GraphQL type ``SmsAccount`` extends it, and
    the storage row has a column of the same name for each field stored as shown
    (``resolvers.account_rows``). Not frozen, so that the GraphQL type can extend it; nothing
    changes one after it is built.
    """

    id: str
    provider: SmsProvider
    display_name: str
    sender_id: str | None
    sender_kind: SenderKind | None
    dlt_entity_id: str | None
    client_id: str
    auth_token_hint: str
    base_url: str
    send_rate_per_second: float
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
    provider: SmsProvider
    sender_id: str
    sender_kind: SenderKind
