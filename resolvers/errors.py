"""Expected problems, returned in a mutation payload's ``errors`` (never raised to the client)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import ErrorCode


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
