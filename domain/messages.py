"""A message as clients see it, and the pure rule of which status may follow which (it feeds
the one conditional UPDATE a delivery report makes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.vocabulary import MessageDirection, MessageStatus


@dataclass(slots=True)
class Message:
    """A message as clients see it; ``schema.types.SmsMessage`` extends it (not frozen, so that
    it can; nothing changes one after it is built)."""

    id: str
    account_id: str
    direction: MessageDirection
    from_number: str
    to_number: str
    body: str
    status: MessageStatus
    provider_message_id: str | None
    error_code: int | None
    error_message: str | None
    segments: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessagePage:
    nodes: list[tuple[str, Message]]  # (cursor, message)
    has_next_page: bool
    end_cursor: str | None


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
