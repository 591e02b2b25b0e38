"""The webhook wiring's state machine: every move of an account's ``webhooks`` (OFF, PENDING,
WIRED, FAILED) and what each one sets or clears.

Pure, like ``account_states``: a move holds the new value of each wiring column (``KEEP``:
untouched). Storage applies it with one conditional UPDATE on the wiring's version
(``queries.move_wiring``), or onto a row a use case holds locked (``queries.apply_wiring``), and
every move bumps that version: the answer of a provider call started before another move is
then written nowhere (the account moved on while the provider was being asked).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from domain.account_states import KEEP, Keep
from domain.vocabulary import WebhookWiringStatus


@dataclass(frozen=True, slots=True)
class Remembered:
    """A sender's inbound webhook as it was before this server changed it, kept to be put back
    exactly: its URL, method and whatever else routes replies (the adapter's, untouched)."""

    url: str | None
    method: str | None
    routing: str | None


@dataclass(frozen=True, slots=True)
class WiringMove:
    """The wiring columns a move writes; names are the row's columns without ``webhook_``."""

    changed_at: datetime
    status: WebhookWiringStatus | Keep = KEEP
    message: str | Keep | None = KEEP
    inbound_url: str | Keep | None = KEEP
    # What to put back; written only with WIRED, cleared whenever it is put back.
    previous: Remembered | Keep | None = KEEP

    def columns(self) -> dict[str, Any]:
        """The columns this move writes, by name (the version aside: storage bumps it)."""
        written = {
            "webhook_" + field.name: getattr(self, field.name)
            for field in fields(self)
            if field.name != "previous" and getattr(self, field.name) is not KEEP
        }
        if self.previous is not KEEP:
            previous = self.previous or Remembered(None, None, None)
            written["webhook_previous_url"] = previous.url
            written["webhook_previous_method"] = previous.method
            written["webhook_previous_routing"] = previous.routing
        return written


def waiting(wanted: bool) -> WebhookWiringStatus:
    """Where the wiring waits while no sender of ours is wired: the next Verify, or nowhere."""
    return WebhookWiringStatus.PENDING if wanted else WebhookWiringStatus.OFF


def asked(wanted: bool, now: datetime) -> WiringMove:
    """The admin asked for wiring (or stopped asking) while nothing is wired."""
    return WiringMove(now, status=waiting(wanted), message=None)


def wired(inbound_url: str | None, previous: Remembered, now: datetime) -> WiringMove:
    """The sender's inbound webhook points at this server; ``previous`` is what it was."""
    return WiringMove(
        now,
        status=WebhookWiringStatus.WIRED,
        message=None,
        inbound_url=inbound_url,
        previous=previous,
    )


def not_wired(message: str, now: datetime) -> WiringMove:
    """The provider refused or could not be reached: ``message`` says what to do."""
    return WiringMove(now, status=WebhookWiringStatus.FAILED, message=message)


def letting_go(wanted: bool, message: str, now: datetime) -> WiringMove:
    """The account lets go of a wired sender (sender changed or blanked, account removed,
    integration off, wiring no longer asked for): what was remembered is being put back."""
    return WiringMove(now, status=waiting(wanted), message=message, previous=None)


def let_go(message: str, inbound_url: str | Keep | None, now: datetime) -> WiringMove:
    """The put-back ended: what happened, and what the sender's inbound webhook is now (KEEP:
    the provider could not say)."""
    return WiringMove(now, message=message, inbound_url=inbound_url)
