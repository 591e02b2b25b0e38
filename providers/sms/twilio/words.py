"""Twilio's words for a message's status and its webhook forms, read into ours; a value Twilio
never sends is refused, naming its field."""

from __future__ import annotations

from collections.abc import Mapping

from domain.text import INTEGER_MAX, MESSAGE_ADDRESS_LENGTH, is_text
from domain.vocabulary import MessageStatus
from providers.sms.errors import MalformedWebhook
from providers.sms.port import DeliveryReport, InboundSms, OptSignal

_STATUSES = {
    "queued": MessageStatus.QUEUED,
    "accepted": MessageStatus.ACCEPTED,
    "scheduled": MessageStatus.SCHEDULED,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "partially_delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "receiving": MessageStatus.RECEIVED,
    "received": MessageStatus.RECEIVED,
    "read": MessageStatus.READ,
    "canceled": MessageStatus.CANCELED,
}
# Every status word Twilio sends (bench/webhooks.py posts each).
STATUS_WORDS = tuple(_STATUSES)
_OPT_SIGNALS = {"STOP": OptSignal.OPT_OUT, "START": OptSignal.OPT_IN}


def message_status(word: str | None) -> MessageStatus | None:
    """Our status for Twilio's word (``MessageStatus``, ``status``…); None for an unknown one."""
    return _STATUSES.get((word or "").strip().lower())


_MAX_DIGITS = len(str(INTEGER_MAX))


def _count(form: Mapping[str, str], name: str) -> int | None:
    """The whole number ``form[name]``; None when absent or empty (Twilio leaves some fields
    blank). Only ASCII digits count: ``str.isdigit`` also takes other scripts' digits and
    superscripts, which ``int`` reads or refuses. The value must fit the integer columns: a
    larger one would fail its write."""
    value = form.get(name)
    if not value:
        return None
    if len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
        number = int(value)
        if number <= INTEGER_MAX:
            return number
    raise MalformedWebhook(f"{name} must be a whole number from 0 to {INTEGER_MAX}")


def _text(
    form: Mapping[str, str], name: str, limit: int | None = None, *, multiline: bool = False
) -> str:
    """``form[name]`` ("" when absent) as it will be stored: plain text (PostgreSQL refuses NUL
    outright) no longer than its column holds."""
    value = form.get(name) or ""
    if is_text(value, multiline=multiline) and (limit is None or len(value) <= limit):
        return value
    at_most = "" if limit is None else f" of at most {limit} characters"
    raise MalformedWebhook(f"{name} must be plain text{at_most}")


def _message_sid(form: Mapping[str, str]) -> str:
    sid = _text(form, "MessageSid", MESSAGE_ADDRESS_LENGTH)
    return sid or _text(form, "SmsSid", MESSAGE_ADDRESS_LENGTH)


def delivery_report(form: Mapping[str, str]) -> DeliveryReport | None:
    """A status callback's report; None when it names no status or no message. Raises
    ``MalformedWebhook`` for a value Twilio never sends."""
    status = message_status(form.get("MessageStatus") or form.get("SmsStatus"))
    sid = _message_sid(form)
    if status is None or not sid:
        return None
    return DeliveryReport(
        provider_message_id=sid, status=status, error_code=_count(form, "ErrorCode")
    )


def inbound_message(form: Mapping[str, str]) -> InboundSms | None:
    """An inbound message; None when it names no message or no sender. Raises
    ``MalformedWebhook`` for a value Twilio never sends."""
    sid = _message_sid(form)
    sender = _text(form, "From", MESSAGE_ADDRESS_LENGTH).strip()
    to = _text(form, "To", MESSAGE_ADDRESS_LENGTH).strip()
    body = _text(form, "Body", multiline=True)
    if not sid or not sender:
        return None
    # Twilio's own reading of a STOP / START reply (Advanced Opt-Out), besides our keywords.
    opt_out_type = (form.get("OptOutType") or "").strip().upper()
    return InboundSms(
        provider_message_id=sid,
        from_number=sender,
        to_number=to,
        segments=_count(form, "NumSegments"),
        body=body,
        opt=_OPT_SIGNALS.get(opt_out_type),
    )
