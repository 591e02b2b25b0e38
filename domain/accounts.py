"""An account as clients see it, the stat row, the sender picker, and the failure sentences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.vocabulary import (
    AccountStatus,
    FailureReason,
    SenderKind,
    SmsProvider,
    SmsRoute,
    StoredFailure,
    VerificationFailure,
    WebhookWiringStatus,
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
    FailureReason.ADDRESS_NOT_ALLOWED: (
        "The provider refuses this server's address: add it to the API key's IP whitelist, "
        "then verify again."
    ),
}

# Where a provider's advice differs from Twilio's: its own sentence for the same failure.
PROVIDER_FAILURE_MESSAGES: dict[SmsProvider, dict[StoredFailure, str]] = {
    SmsProvider.MSG91: {
        VerificationFailure.INVALID_CREDENTIALS: (
            "Invalid credentials: MSG91 rejected this API Key (authkey). Copy it again from the "
            "MSG91 panel (Authkey), save, and verify again."
        ),
        VerificationFailure.ACCOUNT_SUSPENDED: (
            "Account expired or banned: MSG91 reports this account cannot send. Contact your "
            "MSG91 account manager, then verify again."
        ),
        VerificationFailure.INVALID_FROM_NUMBER: (
            "Invalid Sender ID: MSG91 sends from a DLT header of 6 letters (e.g. ACMEIN) that "
            "is approved on the DLT portal and added in the MSG91 panel. Set it, save, and "
            "verify again."
        ),
        VerificationFailure.BASE_URL: (
            "Base URL: this account's Base URL is not allowed by the server's policy. Leave the "
            "Base URL empty (MSG91's API), save, and verify again."
        ),
        VerificationFailure.PROVIDER_UNAVAILABLE: (
            "MSG91 is unavailable: MSG91 did not answer after several attempts. Nothing is "
            "wrong with your settings as far as we can tell; verify again in a few minutes."
        ),
        FailureReason.PROVIDER_UNREACHABLE: (
            "This server cannot reach MSG91 (DNS, firewall or proxy): ask your administrator to "
            "allow outbound HTTPS to control.msg91.com, then verify again."
        ),
        FailureReason.TOKEN_UNREADABLE: (
            "The stored API Key cannot be read: enter it again and verify."
        ),
        FailureReason.ADDRESS_NOT_ALLOWED: (
            "MSG91 refuses this server's address: add this server's address to the "
            "key's IP whitelist in MSG91 (Authkey → the key → Whitelisted IPs), or turn the "
            "key's IP security off, then verify again."
        ),
    },
}


# The sentence of an unreadable token, for the places that write it.
CANNOT_DECRYPT_MESSAGE = FAILURE_MESSAGES[FailureReason.TOKEN_UNREADABLE]


def failure_sentence(stored: StoredFailure, provider: SmsProvider) -> str:
    """What a failure tells the admin to do, in the words of the account's provider."""
    return PROVIDER_FAILURE_MESSAGES.get(provider, {}).get(stored) or FAILURE_MESSAGES[stored]


def failure_shown(
    stored: StoredFailure | None, provider: SmsProvider = SmsProvider.TWILIO
) -> tuple[VerificationFailure | None, str | None]:
    """The failure and its sentence as clients see them, from the stored failure."""
    if stored is None:
        return None, None
    return public_failure(stored), failure_sentence(stored, provider)


@dataclass(slots=True)
class WebhookWiring:
    """Where the sender's inbound webhook stands: pointed at this server on Verify when asked
    for (``wireWebhooks``), and put back as it was when the account lets go of the sender.
    Not frozen, so that the GraphQL type can extend it."""

    status: WebhookWiringStatus
    inbound_url: str | None  # what the sender's inbound webhook points at, as last set or read
    previous_inbound_url: str | None  # what it pointed at before we changed it
    message: str | None  # what happened last, and what to do when it failed
    changed_at: datetime | None


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
    route: SmsRoute | None
    client_id: str
    auth_token_hint: str
    base_url: str
    send_rate_per_second: float
    status: AccountStatus
    failure: VerificationFailure | None
    failure_message: str | None
    trial: bool | None
    inbound_webhook_url: str | None
    webhooks: WebhookWiring
    status_webhook_url: str | None
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
