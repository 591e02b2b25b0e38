"""Expected problems, returned in a mutation payload's ``errors`` (never raised to the client)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ErrorCode(Enum):
    REQUIRED = "REQUIRED"
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    INTEGRATION_DISABLED = "INTEGRATION_DISABLED"
    VERIFICATION_IN_PROGRESS = "VERIFICATION_IN_PROGRESS"
    ACCOUNT_NOT_VERIFIED = "ACCOUNT_NOT_VERIFIED"
    PROVIDER_REJECTED = "PROVIDER_REJECTED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    RECIPIENT_OPTED_OUT = "RECIPIENT_OPTED_OUT"


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str | None
    code: ErrorCode
    message: str


NOT_FOUND = FieldError("id", ErrorCode.NOT_FOUND, "No SMS account with this id in your workspace.")
INTEGRATION_DISABLED = FieldError(
    None,
    ErrorCode.INTEGRATION_DISABLED,
    "The SMS integration is turned off for this workspace. Turn it on "
    "(setSmsIntegrationEnabled) to add or use SMS accounts.",
)
