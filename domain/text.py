"""What counts as text, and how big the numbers and texts a message keeps may be.

JSON and webhooks can carry text that is not text (a lone surrogate such as "\\ud800") and
control characters (NUL, escape sequences) that databases, logs and providers each treat
differently: such values are refused, never stored, sent or echoed. The limits are the columns'
(``storage.models`` uses them), so a value from outside is checked before its write could fail.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL and the surrogate range (only lone surrogates survive JSON decoding).
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# An SMS body may keep line breaks and tabs.
_NOT_MULTILINE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# GSM 03.38: the basic set (one septet each) and its extension (two septets each). A body with
# anything else is sent as UCS-2.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")

# The largest value every integer column holds: PostgreSQL's INTEGER is 32 bits (SQLite's are 64).
INTEGER_MAX = 2**31 - 1
# A phone number or a provider's id of a sender or a message, as a message keeps it.
MESSAGE_ADDRESS_LENGTH = 64


def is_text(value: str, *, multiline: bool = False) -> bool:
    pattern = _NOT_MULTILINE_TEXT if multiline else _NOT_TEXT
    return pattern.search(value) is None


def segments(body: str) -> int:
    """How many SMS segments ``body`` takes: GSM-7 160 septets alone or 153 a part, else
    UCS-2 70 UTF-16 units alone or 67 a part."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body):
        size = sum(2 if char in _GSM_EXTENDED else 1 for char in body)
        single, part = 160, 153
    else:
        size = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if size <= single else -(-size // part)
