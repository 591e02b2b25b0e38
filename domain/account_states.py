"""The account's state machine: every move between DRAFT, VERIFYING, VERIFIED and FAILED, and
what each one sets or clears (failure, trial, verifiedAt, lastCheckedAt, the next health check,
the check's lease).

Pure: a move names the statuses it may start from and the new value of each state column
(``KEEP``: untouched). Storage applies it with one conditional UPDATE (``queries.move_account``),
or onto the row a use case holds locked (``queries.apply_move``); every path that changes an
account's state goes through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import Enum
from typing import Any

from domain.vocabulary import AccountStatus, StoredFailure


class Keep(Enum):
    KEEP = "KEEP"


KEEP = Keep.KEEP
ANY_STATUS = frozenset(AccountStatus)


@dataclass(frozen=True, slots=True)
class AccountMove:
    """Where an account goes from ``allowed_from``; field names are the row's columns."""

    allowed_from: frozenset[AccountStatus]
    status: AccountStatus | Keep = KEEP
    failure: StoredFailure | Keep | None = KEEP
    trial: bool | Keep | None = KEEP
    verified_at: datetime | Keep | None = KEEP
    last_checked_at: datetime | Keep | None = KEEP
    next_check_at: datetime | Keep | None = KEEP
    # The running check's lease: every verdict gives it back.
    verify_lease_until: datetime | Keep | None = KEEP
    updated_at: datetime | Keep = KEEP
    # The credentials changed: checks of the old ones must not write their verdicts.
    new_credentials: bool = False

    def columns(self) -> dict[str, Any]:
        """The state columns this move writes, by name (``credentials_version`` aside)."""
        return {
            field.name: value
            for field in fields(self)
            if field.name not in ("allowed_from", "new_credentials")
            and (value := getattr(self, field.name)) is not KEEP
        }


def to_draft(now: datetime) -> AccountMove:
    """The credentials or the sender changed: nothing checked so far holds any more."""
    return AccountMove(
        ANY_STATUS,
        new_credentials=True,
        failure=None,
        trial=None,
        verified_at=None,
        status=AccountStatus.DRAFT,
        next_check_at=None,
        verify_lease_until=None,
        updated_at=now,
    )


def to_verifying(now: datetime, lease_until: datetime) -> AccountMove:
    """Verify started: the check holds a lease until its verdict (or until it is renewed)."""
    return AccountMove(
        ANY_STATUS,
        status=AccountStatus.VERIFYING,
        failure=None,
        verify_lease_until=lease_until,
        updated_at=now,
    )


def still_verified(now: datetime, next_check_at: datetime, trial: bool | None) -> AccountMove:
    """A health check passed: only when it ran and when the next one is due move."""
    return AccountMove(
        frozenset({AccountStatus.VERIFIED}),
        trial=KEEP if trial is None else trial,
        last_checked_at=now,
        next_check_at=next_check_at,
        verify_lease_until=None,
    )


def verify_later(lease_until: datetime) -> AccountMove:
    """The provider asked Verify to come back later: the account stays VERIFYING, its lease
    held until then, so the first sweep after it resumes the check."""
    return AccountMove(frozenset({AccountStatus.VERIFYING}), verify_lease_until=lease_until)


def to_verified(now: datetime, next_check_at: datetime, trial: bool | None) -> AccountMove:
    """Verify's check passed: what a passed health check moves, and the account turns VERIFIED
    (it sends) from VERIFYING."""
    return replace(
        still_verified(now, next_check_at, trial),
        allowed_from=frozenset({AccountStatus.VERIFYING}),
        status=AccountStatus.VERIFIED,
        failure=None,
        verified_at=now,
        updated_at=now,
    )


def check_again(at: datetime) -> AccountMove:
    """A health check could not tell (the provider did not answer): the account stays VERIFIED
    and is asked again at ``at``."""
    return AccountMove(
        frozenset({AccountStatus.VERIFIED}), next_check_at=at, verify_lease_until=None
    )


def to_failed(
    failure: StoredFailure,
    now: datetime,
    *,
    allowed_from: frozenset[AccountStatus] = ANY_STATUS,
    checked: bool = False,
    trial: bool | None = None,
) -> AccountMove:
    """The account cannot send, for ``failure``. ``checked``: the provider itself answered for
    the account (lastCheckedAt says when the provider last answered, not when it failed to)."""
    return AccountMove(
        allowed_from,
        status=AccountStatus.FAILED,
        failure=failure,
        trial=KEEP if trial is None else trial,
        verified_at=None,
        last_checked_at=now if checked else KEEP,
        next_check_at=None,
        verify_lease_until=None,
        updated_at=now,
    )
