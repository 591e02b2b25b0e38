"""Expected problems, returned in a mutation payload's ``errors`` (never raised to the client)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import ErrorCode
from storage.db import is_outage as is_database_outage


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str | None  # the input field, as the API names it (senderId)
    code: ErrorCode
    message: str


def api_name(name: str) -> str:
    """A field's name as the API spells it: ``sender_id`` is ``senderId`` (as GraphQL names
    every field of the inputs)."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


NOT_FOUND = FieldError("id", ErrorCode.NOT_FOUND, "No SMS account with this id in your workspace.")
INTEGRATION_DISABLED = FieldError(
    None,
    ErrorCode.INTEGRATION_DISABLED,
    "The SMS integration is turned off for this workspace. Turn it on "
    "(setSmsIntegrationEnabled) to add or use SMS accounts.",
)


def is_outage(error: BaseException | None) -> bool:
    """Whether a use case failed because the database is unreachable right now: answered as a
    503 and retried, never reported as a crash."""
    return is_database_outage(error)
