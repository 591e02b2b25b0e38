"""Live updates: what changed on the SMS Accounts page and in the sender picker.

Published after the commit that made the change, on the workspace's own channels only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from domain.accounts import Account, Sender, Stats
from domain.campaigns import PauseCause
from domain.vocabulary import AccountStatus, Caller
from providers.bus import SubscriberOverflow
from resolvers.account_rows import to_account
from resolvers.campaign_pauses import pause_sending
from resolvers.senders import senders_of
from resolvers.services import Publisher, Services
from resolvers.unit import UnitOfWork
from storage import queries
from storage.models import SmsAccountRow

log = logging.getLogger(__name__)
T = TypeVar("T")


class AccountEventKind(Enum):
    ADDED = "ADDED"
    UPDATED = "UPDATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    REMOVED = "REMOVED"


@dataclass(frozen=True, slots=True)
class AccountEvent:
    kind: AccountEventKind
    account: Account
    previous_status: AccountStatus | None
    stats: Stats


@dataclass(frozen=True, slots=True)
class SendersChanged:
    senders: list[Sender]


class SubscriberTooSlowError(Exception):
    """Events were dropped for this subscriber: it must refetch and subscribe again."""


def accounts_channel(workspace_id: str) -> str:
    return f"sms-accounts:{workspace_id}"


def senders_channel(workspace_id: str) -> str:
    return f"sms-senders:{workspace_id}"


def workspace_of_cached_channel(channel: str) -> str | None:
    """The workspace whose cached reads an event on ``channel`` changes (None: no cached read)."""
    for prefix in (accounts_channel(""), senders_channel("")):
        if channel.startswith(prefix):
            return channel[len(prefix) :]
    return None


def in_sender_picker(account: Account | None) -> bool:
    return (
        account is not None
        and account.status is AccountStatus.VERIFIED
        and account.sender_id is not None
    )


async def account_changed(
    services: Publisher,
    workspace_id: str,
    account: Account,
    *,
    before: Account | None,
    removed: bool = False,
) -> None:
    """Publish the change of one account (and the picker, when it moved). Never raises."""
    try:
        if removed:
            kind = AccountEventKind.REMOVED
        elif before is None:
            kind = AccountEventKind.ADDED
        elif before.status is not account.status:
            kind = AccountEventKind.STATUS_CHANGED
        else:
            kind = AccountEventKind.UPDATED
        async with services.reads() as session:
            counts = await queries.status_counts(session, workspace_id)
        verified = counts.get(AccountStatus.VERIFIED, 0)
        connected = sum(counts.values())
        stats = Stats(connected=connected, verified=verified, awaiting_action=connected - verified)
        previous = before.status if before is not None else None
        await services.bus.publish(
            accounts_channel(workspace_id), AccountEvent(kind, account, previous, stats)
        )
        picker_moved = in_sender_picker(before) or (in_sender_picker(account) and not removed)
        if picker_moved:
            await senders_changed(services, workspace_id)
    except Exception:
        log.exception("could not publish an account change for workspace %s", workspace_id)


def announce_account(
    unit: UnitOfWork,
    services: Services,
    row: SmsAccountRow,
    *,
    before: Account | None,
    removed: bool = False,
) -> Account:
    """Change an account and announce it: the account as ``row`` now has it, published (with the
    stat row and the picker) once ``unit`` committed. ``before`` is what clients saw (None for a
    new account); the account is answered for the mutation's payload."""
    account = to_account(row, services.public_url)

    async def announce() -> None:
        await account_changed(services, row.workspace_id, account, before=before, removed=removed)

    if in_sender_picker(before) and (removed or not in_sender_picker(account)):
        # Its campaigns cannot go on: the server pauses them (resolvers.campaign_pauses).
        cause = PauseCause.ACCOUNT_REMOVED if removed else PauseCause.ACCOUNT_NOT_VERIFIED
        unit.after_commit(functools.partial(pause_sending, services, cause, account_id=row.id))
    unit.after_commit(announce)
    return account


def announce_senders(unit: UnitOfWork, services: Services, workspace_id: str) -> None:
    """The workspace's sender picker, published once ``unit`` committed."""

    async def announce() -> None:
        await senders_changed(services, workspace_id)

    unit.after_commit(announce)


async def senders_changed(services: Publisher, workspace_id: str) -> None:
    """Publish the whole new sender picker list of a workspace. Never raises."""
    try:
        senders = await senders_of(services, workspace_id)
        await services.bus.publish(senders_channel(workspace_id), SendersChanged(senders))
    except Exception:
        log.exception("could not publish the sender list of workspace %s", workspace_id)


_OVERFLOW = object()  # marks the place where a subscriber lost events


async def follow(services: Services, channel: str) -> AsyncIterator[object]:
    """The messages of ``channel`` from now on, with ``_OVERFLOW`` where some were dropped."""
    async with services.bus.subscribe(channel) as subscription:
        iterator = aiter(subscription)
        while True:
            try:
                yield await anext(iterator)
            except StopAsyncIteration:
                return
            except SubscriberOverflow:
                yield _OVERFLOW


async def strictly(services: Services, channel: str, kind: type[T], what: str) -> AsyncIterator[T]:
    """The ``kind`` messages of ``channel``; a subscriber that lost some must refetch ``what``."""
    async for message in follow(services, channel):
        if message is _OVERFLOW:
            raise SubscriberTooSlowError(
                f"Too many updates were missed: refetch {what} and subscribe again."
            )
        if isinstance(message, kind):
            yield message


async def account_events(services: Services, caller: Caller) -> AsyncIterator[AccountEvent]:
    """Every account change of the caller's workspace, in order, from now on."""
    async for event in strictly(
        services, accounts_channel(caller.workspace_id), AccountEvent, "smsAccounts"
    ):
        yield event


async def sender_lists(services: Services, caller: Caller) -> AsyncIterator[list[Sender]]:
    """The whole picker list each time it changes. A subscriber that falls behind gets the
    current list (read again) instead of the ones it missed."""
    async for message in follow(services, senders_channel(caller.workspace_id)):
        if message is _OVERFLOW:
            yield await senders_of(services, caller.workspace_id)
        elif isinstance(message, SendersChanged):
            yield message.senders
