"""The product's words: every enum a client, a use case, a column or a provider adapter shares."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the workspace of the API key and its role."""

    workspace_id: str
    role: Role
    key_id: str


class Role(Enum):
    ADMIN = "admin"
    MARKETER = "marketer"
    SALES = "sales"


class SmsProvider(Enum):
    TWILIO = "TWILIO"
    MSG91 = "MSG91"


class SmsRoute(Enum):
    """The kind of traffic a sender carries, where the provider asks (India: transactional
    messages any time, promotional ones in the day)."""

    TRANSACTIONAL = "TRANSACTIONAL"
    PROMOTIONAL = "PROMOTIONAL"


class AccountStatus(Enum):
    DRAFT = "DRAFT"
    VERIFYING = "VERIFYING"
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"


class SenderKind(Enum):
    PHONE_NUMBER = "PHONE_NUMBER"
    MESSAGING_SERVICE = "MESSAGING_SERVICE"
    ALPHANUMERIC = "ALPHANUMERIC"


class WebhookWiringStatus(Enum):
    """Where an account's sender stands on having its inbound webhook pointed at this server."""

    OFF = "OFF"  # not asked for: the admin pastes the inbound URL by hand
    PENDING = "PENDING"  # asked for: done after the next successful Verify (or health check)
    WIRED = "WIRED"  # the sender's inbound webhook points at this server
    FAILED = "FAILED"  # the provider refused or could not be reached; the account stays usable


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

    # This server's network cannot reach the provider's own hosts (DNS, firewall, proxy). The
    # stored spelling predates a second provider.
    PROVIDER_UNREACHABLE = "TWILIO_UNREACHABLE"
    # No configured key opens the account's Auth Token (a lost key, a tampered row): the fix is
    # the one for bad credentials, entering the token again.
    TOKEN_UNREADABLE = "UNREADABLE_TOKEN"  # noqa: S105 (a failure code, not a secret)
    # The provider refuses calls from this server's address (an API key's IP whitelist): the
    # provider is unavailable to us until the address is added, nothing in the account is wrong.
    ADDRESS_NOT_ALLOWED = "ADDRESS_NOT_ALLOWED"

    @property
    def failure(self) -> VerificationFailure:
        return _REASON_FAILURES[self]


_REASON_FAILURES = {
    FailureReason.PROVIDER_UNREACHABLE: VerificationFailure.PROVIDER_UNAVAILABLE,
    FailureReason.TOKEN_UNREADABLE: VerificationFailure.INVALID_CREDENTIALS,
    FailureReason.ADDRESS_NOT_ALLOWED: VerificationFailure.PROVIDER_UNAVAILABLE,
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


class ErrorCode(Enum):
    """The code of an expected problem in a payload's ``errors`` (GraphQL ``SmsErrorCode``)."""

    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    INTEGRATION_DISABLED = "INTEGRATION_DISABLED"
    VERIFICATION_IN_PROGRESS = "VERIFICATION_IN_PROGRESS"
    ACCOUNT_NOT_VERIFIED = "ACCOUNT_NOT_VERIFIED"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    RECIPIENT_OPTED_OUT = "RECIPIENT_OPTED_OUT"
    TOO_MANY = "TOO_MANY"
    CAMPAIGN_NOT_EDITABLE = "CAMPAIGN_NOT_EDITABLE"


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


class MessageDirection(Enum):
    OUTBOUND = "OUTBOUND"
    INBOUND = "INBOUND"
