"""Pure rules for a message's status: Twilio's words, and which change may follow which."""

from __future__ import annotations

from resolvers.domain import MessageStatus

_FROM_TWILIO = {
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

# How far along a message is. A callback moves a message forward only; terminal states are final.
_RANK = {
    MessageStatus.QUEUED: 1,
    MessageStatus.ACCEPTED: 1,
    MessageStatus.SCHEDULED: 1,
    MessageStatus.SENDING: 2,
    MessageStatus.SENT: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.UNDELIVERED: 4,
    MessageStatus.FAILED: 4,
    MessageStatus.CANCELED: 4,
    MessageStatus.READ: 5,
}
TERMINAL = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.UNDELIVERED,
        MessageStatus.FAILED,
        MessageStatus.CANCELED,
        MessageStatus.READ,
    }
)


def from_twilio(value: str | None) -> MessageStatus | None:
    return _FROM_TWILIO.get((value or "").strip().lower())


def statuses_that_may_become(new: MessageStatus) -> frozenset[MessageStatus]:
    """The current statuses a callback reporting ``new`` may replace (for a conditional UPDATE).

    An UNCONFIRMED send is settled by any report. Otherwise the report must move the message
    forward, and nothing replaces a terminal state except READ after DELIVERED.
    """
    allowed = {MessageStatus.UNCONFIRMED}
    rank = _RANK.get(new)
    if rank is None:
        return frozenset(allowed)
    for current, current_rank in _RANK.items():
        if current_rank < rank and (current not in TERMINAL or new is MessageStatus.READ):
            allowed.add(current)
    if new is MessageStatus.READ:
        allowed &= {MessageStatus.UNCONFIRMED, MessageStatus.DELIVERED, *_early()}
    return frozenset(allowed)


def _early() -> set[MessageStatus]:
    return {status for status, rank in _RANK.items() if rank < 4}
