"""Twilio's words for a message's status and its webhook forms, read into ours."""

from __future__ import annotations

from collections.abc import Mapping

from domain.vocabulary import MessageStatus
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


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _message_sid(form: Mapping[str, str]) -> str | None:
    return form.get("MessageSid") or form.get("SmsSid") or None


def delivery_report(form: Mapping[str, str]) -> DeliveryReport | None:
    """A status callback's report; None when it names no status or no message."""
    status = message_status(form.get("MessageStatus") or form.get("SmsStatus"))
    sid = _message_sid(form)
    if status is None or sid is None:
        return None
    return DeliveryReport(
        provider_message_id=sid, status=status, error_code=_int(form.get("ErrorCode"))
    )


def inbound_message(form: Mapping[str, str]) -> InboundSms | None:
    """An inbound message; None when it names no message or no sender."""
    sid = _message_sid(form)
    sender = (form.get("From") or "").strip()
    if sid is None or not sender:
        return None
    # Twilio's own reading of a STOP / START reply (Advanced Opt-Out), besides our keywords.
    opt_out_type = (form.get("OptOutType") or "").strip().upper()
    return InboundSms(
        provider_message_id=sid,
        from_number=sender,
        to_number=(form.get("To") or "").strip(),
        body=form.get("Body") or "",
        segments=_int(form.get("NumSegments")),
        opt=_OPT_SIGNALS.get(opt_out_type),
    )
