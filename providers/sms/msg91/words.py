"""MSG91's words: its error codes and delivery-report status numbers read into ours, and the
delivery reports its webhook posts (v2: a form whose ``data`` field is a JSON string; v3: one
JSON object; v4: a JSON list of events). A value MSG91 never sends is refused, naming its field.
Reports are matched by ``requestId`` (what the send answered): an entry without one (the v4
sample in MSG91's help shows none in its ``data``) names no message of ours and is skipped, as
is a status number we do not track.

Sources (checked 2026-12-06):
- https://msg91.com/help/how-can-i-get-the-delivery-reports-on-my-webhook-url (the three
  webhook versions and their sample bodies; status 1 delivered, 2 failed, 9 NDNC, 16 and 25
  rejected, 17 blocked number)
- https://msg91.com/help/what-do-you-mean-by-api-security (error 418: the caller's address is
  not on the key's IP whitelist, which is on by default)
- MSG91's API error codes (https://api.msg91.com/apidoc/basic/error-code.php, as mirrored at
  https://msgwow.com/kb/article/what-are-all-the-error-codes-and-what-does-it-mean): 106
  missing and 207 invalid authentication key, 103 missing and 203 invalid sender ID ("6
  characters, alphabetic"), 202 invalid mobile number, 301 insufficient balance, 302 expired and
  303 banned account, 306 route unavailable at this hour, 310 SMS too long, 311 duplicate
  request within 10 seconds
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from domain.text import MESSAGE_ADDRESS_LENGTH, is_text
from domain.vocabulary import MessageStatus
from providers.sms.errors import MalformedWebhook
from providers.sms.port import DeliveryReport

# Error codes MSG91 answers with (as ``code`` in an error body).
MISSING_AUTH_KEY = 106
INVALID_AUTH_KEY = 207
BAD_CREDENTIALS = frozenset({MISSING_AUTH_KEY, INVALID_AUTH_KEY})
SENDER_REFUSED = frozenset({103, 203})
INVALID_MOBILE = 202
ACCOUNT_CLOSED = frozenset({302, 303})
ADDRESS_NOT_WHITELISTED = 418

# Delivery-report status numbers: 1 delivered, 2 failed, 9 NDNC, 16 and 25 rejected, 17 blocked.
DELIVERED = 1
_STATUSES = {
    DELIVERED: MessageStatus.DELIVERED,
    2: MessageStatus.UNDELIVERED,
    9: MessageStatus.FAILED,
    16: MessageStatus.FAILED,
    17: MessageStatus.FAILED,
    25: MessageStatus.FAILED,
}
# Every status number a report may carry (the fake MSG91 in tests posts each).
STATUS_NUMBERS = tuple(_STATUSES)
# v4 names the outcome as an event word; the words for the numbers above.
_EVENTS = {"delivered": DELIVERED, "failed": 2, "ndnc": 9, "rejected": 16, "blocked": 17}

_SENTENCES = {
    2: "The operator could not deliver the message (phone off or out of coverage, or the number "
    "is not in service).",
    9: "Not sent: the number is on India's NDNC (Do Not Disturb) registry, which promotional "
    "messages may not reach.",
    16: "Rejected: the message did not match a DLT template registered for this sender and "
    "entity, or the operator refused it.",
    17: "Blocked: this number is blocked from receiving messages from this sender.",
    25: "Rejected by the operator (DLT scrubbing: template, header or entity not matched).",
    MISSING_AUTH_KEY: "The API Key (authkey) is missing.",
    INVALID_AUTH_KEY: "MSG91 does not recognize this API Key (authkey).",
    103: "The Sender ID is missing.",
    203: "MSG91 refused the Sender ID: it must be a 6-letter DLT header added in the MSG91 panel.",
    INVALID_MOBILE: "MSG91 refused the recipient's number.",
    301: "The MSG91 account has too little balance to send this message.",
    302: "The MSG91 account has expired.",
    303: "The MSG91 account is banned.",
    306: "This route is not available at this hour (promotional messages: 10 AM to 9 PM).",
    310: "The message is too long for MSG91.",
    311: "MSG91 discarded a duplicate of a request made within 10 seconds.",
    ADDRESS_NOT_WHITELISTED: "MSG91 refuses this server's address: add it to the API key's IP "
    "whitelist in MSG91.",
}


def describe(code: int | None) -> str:
    """Our sentence for one of MSG91's error codes or report status numbers."""
    if code is None:
        return "MSG91 refused the request."
    return _SENTENCES.get(code, f"MSG91 error {code}.")


def status_of(number: int) -> MessageStatus | None:
    return _STATUSES.get(number)


def number_of(value: object) -> int | None:
    """A code or status as MSG91 writes it (a string of ASCII digits, or a JSON number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    return None


def account_reports(body: bytes, media_type: str) -> list[DeliveryReport]:
    """Every report one webhook post carries; raises ``MalformedWebhook`` for a post MSG91
    never makes. Entries naming no request or no status we know are skipped."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise MalformedWebhook("the body must be UTF-8") from None
    if media_type == "application/x-www-form-urlencoded":
        data = dict(parse_qsl(text, keep_blank_values=True)).get("data")
        if data is None:
            raise MalformedWebhook("data must hold the reports (MSG91 webhook v2)")
        parsed = _json(data, "data")
    elif media_type == "application/json":
        parsed = _json(text, "the body")
    else:
        raise MalformedWebhook("the body must be a form (v2) or JSON (v3, v4)")
    return [report for entry in _entries(parsed) if (report := _report(entry)) is not None]


def _json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedWebhook(f"{name} must be JSON") from None


def _entries(parsed: Any) -> Iterator[tuple[object, object]]:
    """(requestId, status) of each report in any of the three shapes."""
    for item in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(item, dict):
            raise MalformedWebhook("each report must be a JSON object")
        if isinstance(item.get("report"), list):  # v2: a request and its numbers' reports
            for line in item["report"]:
                if isinstance(line, dict):
                    yield item.get("requestId"), line.get("status")
        elif isinstance(item.get("data"), list):  # v4: an event and its data
            event = _EVENTS.get(str(item.get("event", "")).strip().lower())
            for line in item["data"]:
                if isinstance(line, dict):
                    request = line.get("requestId", item.get("requestId"))
                    yield request, line.get("status", event)
        else:  # v3: one report
            yield item.get("requestId"), item.get("status")


def _report(entry: tuple[object, object]) -> DeliveryReport | None:
    request_id, raw_status = entry
    if request_id is None or request_id == "":
        return None
    if not (
        isinstance(request_id, str)
        and is_text(request_id)
        and len(request_id) <= MESSAGE_ADDRESS_LENGTH
    ):
        raise MalformedWebhook(
            f"requestId must be plain text of at most {MESSAGE_ADDRESS_LENGTH} characters"
        )
    number = number_of(raw_status)
    status = None if number is None else status_of(number)
    if number is None or status is None:
        return None  # a status we do not track (e.g. submitted): nothing to record
    error_code = None if number == DELIVERED else number
    return DeliveryReport(provider_message_id=request_id, status=status, error_code=error_code)
