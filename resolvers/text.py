"""Text hygiene: every string a client sends is checked here before a use case reads it.

JSON can carry text that is not text (a lone surrogate such as "\\ud800") and control characters
(NUL, escape sequences) that databases, logs and Twilio each treat differently. They are refused
with a field error, never stored, sent or echoed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from domain.vocabulary import ErrorCode
from resolvers.errors import FieldError

# C0 and C1 controls, DEL and the surrogate range (only lone surrogates survive JSON decoding).
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# An SMS body may keep line breaks and tabs.
_NOT_MULTILINE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# What a paste may carry around a value; the use cases trim it, so it is not refused.
_SURROUNDING = " \t\r\n"
# Our ids are lowercase UUIDs (storage.models.new_id); anything else cannot name a row.
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


def is_text(value: str, *, multiline: bool = False) -> bool:
    pattern = _NOT_MULTILINE_TEXT if multiline else _NOT_TEXT
    return pattern.search(value) is None


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
