"""Text hygiene: every string a client sends is checked here before a use case reads it (what
counts as text is ``domain.text``'s rule), and refused with a field error."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from domain.text import is_text
from domain.vocabulary import ErrorCode
from resolvers.errors import FieldError

# What a paste may carry around a value; the use cases trim it, so it is not refused.
_SURROUNDING = " \t\r\n"
# Our ids are lowercase UUIDs (storage.models.new_id); anything else cannot name a row.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def could_be_id(value: str) -> bool:
    """False for a string no row can have as its id: it reads as not found without a query."""
    return _ID.fullmatch(value) is not None


def text_errors(
    fields: Mapping[str, str | None], *, multiline: Collection[str] = ()
) -> list[FieldError]:
    """One INVALID error per field (by GraphQL name) whose value is not clean text."""
    errors = []
    for name, value in fields.items():
        if value is None or is_text(value.strip(_SURROUNDING), multiline=name in multiline):
            continue
        allowed = " (line breaks and tabs are fine)" if name in multiline else ""
        errors.append(
            FieldError(
                name,
                ErrorCode.INVALID,
                f"{name} must be plain text: control characters (such as NUL) and broken "
                f"characters (lone surrogates) are not allowed{allowed}.",
            )
        )
    return errors
