"""A campaign as clients see it, its recipients' states, and the rule its counters keep.

A campaign sends one body (or each recipient's own) to many recipients through one sender. Each
recipient is one row of the outbox, which is the record of what was handed to the provider:

    PENDING -> SENDING -> SENT | FAILED | SKIPPED, or UNCONFIRMED when the answer was lost

SENDING is committed, with the attempt's id, before the provider is called; a SENDING row that no
live attempt owns is never sent again: it turns UNCONFIRMED, and its delivery report settles it.
The campaign keeps its counters incrementally, in the transaction of every move, so that at every
committed moment ``total = pending + sent + failed + skipped + unconfirmed`` (SENDING rows count as
pending; ``total`` also counts the recipients skipped when they were added).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class CampaignStatus(Enum):
    DRAFT = "DRAFT"
    SENDING = "SENDING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"


class RecipientStatus(Enum):
    """Where one recipient of a campaign is in the outbox."""

    PENDING = "PENDING"
    SENDING = "SENDING"  # being handed over by the attempt named on the row
    SENT = "SENT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    UNCONFIRMED = "UNCONFIRMED"


class Outcome(Enum):
    """A recipient's first final delivery report, counted once."""

    DELIVERED = "DELIVERED"
    UNDELIVERED = "UNDELIVERED"  # undelivered, failed or canceled after it left

    @property
    def counter(self) -> str:
        return self.value.lower()


class PauseCause(Enum):
    """Why the server paused a campaign; resuming is refused while the cause holds."""

    INTEGRATION_DISABLED = "INTEGRATION_DISABLED"
    ACCOUNT_NOT_VERIFIED = "ACCOUNT_NOT_VERIFIED"
    ACCOUNT_REMOVED = "ACCOUNT_REMOVED"


PAUSE_MESSAGES = {
    PauseCause.INTEGRATION_DISABLED: (
        "Paused by the server: the SMS integration was turned off for this workspace. Turn it "
        "on, then resume."
    ),
    PauseCause.ACCOUNT_NOT_VERIFIED: (
        "Paused by the server: the campaign's SMS account is no longer verified (it failed a "
        "check, or its credentials or sender changed). Fix and verify it, then resume."
    ),
    PauseCause.ACCOUNT_REMOVED: (
        "Paused by the server: the campaign's SMS account was removed. Nothing more can be sent "
        "through it; cancel the campaign."
    ),
}

# The statuses a campaign can still move from; COMPLETED and CANCELED are final.
OPEN = frozenset({CampaignStatus.DRAFT, CampaignStatus.SENDING, CampaignStatus.PAUSED})


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    pending: int
    sent: int
    delivered: int
    undelivered: int
    failed: int
    skipped: int
    unconfirmed: int

    @property
    def balanced(self) -> bool:
        """The invariant every committed state keeps."""
        settled = self.pending + self.sent + self.failed + self.skipped + self.unconfirmed
        return self.total == settled


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    account_id: str
    body: str
    status: CampaignStatus
    status_message: str | None
    progress: Progress
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CampaignPage:
    nodes: list[tuple[str, Campaign]]  # (cursor, campaign)
    has_next_page: bool
    end_cursor: str | None
