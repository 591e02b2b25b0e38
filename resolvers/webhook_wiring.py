"""Webhooks wired on Verify: the sender's inbound webhook pointed at this server, and put back.

An account that asks for it (``wireWebhooks``) has its sender's inbound webhook pointed at its
inbound URL after each successful Verify, and at each health check while the wiring is PENDING
or FAILED; what the sender pointed at before is remembered on the account. When the account
lets go of the sender (sender changed or blanked, account removed, integration off, wiring no
longer asked for), exactly that is put back, but only where the provider still points at our
URL: what the customer changed since is never clobbered. A failure never touches the account's
own status: it stays usable, and ``webhooks.message`` says what to do.

The provider calls run in the background (``WebhookWirer``), at most a few at once and one at a
time per account; each outcome is written with one conditional UPDATE on the wiring's version
and announced as its own UPDATED event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.account_states import KEEP, Keep
from domain.vocabulary import AccountStatus, ErrorCode, VerificationFailure, WebhookWiringStatus
from domain.webhook_wiring import (
    Remembered,
    WiringMove,
    let_go,
    letting_go,
    not_wired,
    wired,
)
from providers.sms.errors import ProviderRefused, SmsProviderError
from providers.sms.port import Credentials, InboundWebhook, SmsPort
from resolvers.account_rows import inbound_webhook_url, stored_token, to_account
from resolvers.background import KeyedSlots, TaskSet
from resolvers.events import announce_account
from resolvers.services import PutBack, Services
from resolvers.unit import UnitOfWork, unit_of_work
from storage import queries
from storage.models import SmsAccountRow

log = logging.getLogger(__name__)

BY_HAND = "paste the inboundWebhookUrl by hand"
NO_PUBLIC_URL = (
    "Not wired: this server does not know its public address (SMS_PUBLIC_URL). Ask your "
    "administrator to set it; the wiring is tried again at the next health check."
)
# Where the wiring is tried again, while FAILED.
RETRIED = f"It is tried again at each health check; or {BY_HAND}."


def not_wired_message(error: SmsProviderError, label: str) -> str:
    """What a failed wiring tells the admin: why, and what to do (the account stays usable)."""
    if isinstance(error, ProviderRefused):
        if error.reason is ErrorCode.PROVIDER_REJECTED:  # the update itself was refused
            return (
                f"Not wired: {label} did not let these credentials change the sender's inbound "
                f"webhook. Use credentials allowed to change it and verify again, or {BY_HAND}."
            )
        if error.reason is VerificationFailure.INVALID_CREDENTIALS:
            return (
                f"Not wired: {label} refused these credentials when the sender's inbound webhook "
                f"was read. Verify the account again, or {BY_HAND}."
            )
        # The sender is not the account's, or cannot receive SMS: the adapter's sentence says.
        return f"Not wired: {error.description} Check the sender and verify again, or {BY_HAND}."
    return f"Not wired: {label} could not be reached. {RETRIED}"


def _shown(url: str | None) -> str:
    return url if url else "no inbound URL"


class WebhookWirer:
    """Runs wirings and put-backs as background tasks: at most ``max_in_flight`` at once, one
    at a time per account (a put-back and the next wiring of one account never interleave).
    ``stop`` cancels what still runs; ``wait_idle`` waits for it (tests, shutdown)."""

    def __init__(self, services: Services, max_in_flight: int) -> None:
        self._services = services
        self._slots = asyncio.Semaphore(max_in_flight)
        self._per_account = KeyedSlots(1)
        self._all = TaskSet()

    def wire(self, account_id: str, *, retry: bool = False) -> None:
        """Point the account's sender at this server, if it asks for it and is VERIFIED;
        ``retry`` (a health check): only while the wiring is PENDING or FAILED."""
        self._run(account_id, self._wire(account_id, retry))

    def put_back(self, job: PutBack) -> None:
        self._run(job.account_id, self._put_back(job))

    async def wait_idle(self) -> None:
        await self._all.wait_idle()

    async def stop(self) -> None:
        await self._all.cancel_all()

    def _run(self, account_id: str, work: Coroutine[Any, Any, None]) -> None:
        self._all.add(asyncio.create_task(self._in_turn(account_id, work)))

    async def _in_turn(self, account_id: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            async with self._per_account.held(account_id), self._slots:
                await work
        except asyncio.CancelledError:
            work.close()  # cancelled before it ran: never awaited, and no warning about it
            raise
        except Exception:
            log.exception("webhook wiring of account %s crashed", account_id)

    async def _wire(self, account_id: str, retry: bool) -> None:
        services = self._services
        async with services.reads() as session:
            row = await queries.account_by_id(session, account_id)
            if row is None or not _wants_wiring(row, retry):
                return
            if not await queries.integration_enabled(session, row.workspace_id):
                return  # turned on again, the next Verify wires it
        ours = inbound_webhook_url(services.public_url, row.id)
        token = stored_token(services.secrets, row)
        if token is None:
            return  # the account's own check fails it; nothing can be asked of the provider
        port = services.sms[row.provider]
        credentials = Credentials(row.client_id, token, row.base_url)
        assert row.sender_id is not None
        answer: InboundWebhook | None = None
        if ours is None:
            move = not_wired(NO_PUBLIC_URL, services.clock())
        else:
            try:
                move, answer = await _point_at(port, credentials, row, ours, services.clock)
            except SmsProviderError as error:
                log.info("webhook wiring of account %s failed: %s", account_id, error.cause)
                move = not_wired(not_wired_message(error, port.label), services.clock())
        if not _changes(row, move) or _still_wired(row, move):
            return  # as it was (a Verify again), or failing as before: nothing to tell
        if await self._record(account_id, move, row.webhook_version, announce=True):
            return
        if answer is not None and isinstance(move.previous, Remembered):
            # The account moved on while the provider was asked (sender changed, removed…):
            # what was just set is put back at once, as if the account had let go of it.
            # Nothing on the account speaks for this sender any more: only the log tells.
            job = PutBack(
                row.id,
                row.provider,
                credentials,
                row.sender_id,
                answer.url,
                move.previous,
                version=row.webhook_version,
                removed=True,
            )
            message, _ = await _put_back_once(port, job)
            log.info("account %s moved on while its webhook was wired: %s", row.id, message)

    async def _put_back(self, job: PutBack) -> None:
        port = self._services.sms[job.provider]
        message, url = await _put_back_once(port, job)
        log.info("webhook put-back of account %s: %s", job.account_id, message)
        move = let_go(message, url, self._services.clock())
        await self._record(job.account_id, move, job.version, announce=not job.removed)

    async def _record(
        self, account_id: str, move: WiringMove, version: int, *, announce: bool
    ) -> bool:
        """Write ``move`` on ``version`` and announce it; False when the account moved on."""
        services = self._services
        async with unit_of_work(services.writes) as unit:
            moved = await queries.move_wiring(unit.session, account_id, move, version=version)
            if moved is None:
                return False
            if announce and moved.removed_at is None:
                before = to_account(moved, services.public_url)  # the same status: UPDATED
                announce_account(unit, services, moved, before=before)
        return True


def _changes(row: SmsAccountRow, move: WiringMove) -> bool:
    """Whether ``move`` changes anything a client sees (its time aside)."""
    return any(
        getattr(row, name) != value
        for name, value in move.columns().items()
        if name != "webhook_changed_at"
    )


def _still_wired(row: SmsAccountRow, move: WiringMove) -> bool:
    """A wired sender that could not be checked again stays WIRED: it points at us as far as
    anyone knows, and only a WIRED account puts back what it remembers."""
    wired_now = row.webhook_status is WebhookWiringStatus.WIRED
    return wired_now and move.status is WebhookWiringStatus.FAILED


def _wants_wiring(row: SmsAccountRow, retry: bool) -> bool:
    if not row.wire_webhooks or row.status is not AccountStatus.VERIFIED or not row.sender_id:
        return False
    return not retry or row.webhook_status in (
        WebhookWiringStatus.PENDING,
        WebhookWiringStatus.FAILED,
    )


async def _point_at(
    port: SmsPort,
    credentials: Credentials,
    row: SmsAccountRow,
    ours: str,
    clock: Callable[[], datetime],
) -> tuple[WiringMove, InboundWebhook | None]:
    """Remember what the sender points at, then point it at ``ours`` with POST (nothing else
    routing replies elsewhere). The move, and the provider's answer when it was changed."""
    assert row.sender_id is not None
    current = await port.inbound_webhook(credentials, row.sender_id)
    if current.url != ours:
        previous = Remembered(current.url, current.method, current.routing)
    elif row.webhook_status is WebhookWiringStatus.WIRED:
        previous = _remembered(row)  # ours already (a Verify again): keep what was before it
    else:
        previous = Remembered(None, None, None)  # pasted by hand: nothing of theirs to keep
    if current == InboundWebhook(ours, "POST"):
        return wired(current.url, previous, clock()), None
    answer = await port.set_inbound_webhook(
        credentials, row.sender_id, InboundWebhook(ours, "POST")
    )
    return wired(answer.url, previous, clock()), answer


async def _put_back_once(port: SmsPort, job: PutBack) -> tuple[str, str | Keep | None]:
    """Put back what ``job`` remembers where the sender still points at our URL: what
    happened, in a sentence, and what the sender points at now (KEEP: unknown)."""
    before = _shown(job.remembered.url)
    by_hand = f"point {job.sender}'s inbound webhook back at {before} by hand"
    if job.credentials is None:
        return f"Not put back: the stored Auth Token cannot be read; {by_hand}.", KEEP
    try:
        current = await port.inbound_webhook(job.credentials, job.sender)
        if job.ours is None or current.url != job.ours:
            return (
                f"Left {job.sender} alone: its inbound webhook no longer points at this server "
                f"(it was changed since to {_shown(current.url)}), so nothing was put back.",
                current.url,
            )
        remembered = job.remembered
        webhook = InboundWebhook(remembered.url, remembered.method, remembered.routing)
        answer = await port.set_inbound_webhook(job.credentials, job.sender, webhook)
    except SmsProviderError as error:
        log.info("webhook put-back of account %s failed: %s", job.account_id, error.cause)
        return f"Not put back: {port.label} refused or could not be reached; {by_hand}.", KEEP
    return f"Put back what {job.sender} pointed at before: {before}.", answer.url


def _remembered(row: SmsAccountRow) -> Remembered:
    return Remembered(
        row.webhook_previous_url, row.webhook_previous_method, row.webhook_previous_routing
    )


def holding(services: Services, row: SmsAccountRow, *, removed: bool = False) -> PutBack | None:
    """The put-back of the account's wired sender as it is now (None when nothing is wired):
    taken before a change that may let go of it."""
    if row.webhook_status is not WebhookWiringStatus.WIRED or row.sender_id is None:
        return None
    token = stored_token(services.secrets, row)
    credentials = None if token is None else Credentials(row.client_id, token, row.base_url)
    return PutBack(
        account_id=row.id,
        provider=row.provider,
        credentials=credentials,
        sender=row.sender_id,
        ours=row.webhook_inbound_url,
        remembered=_remembered(row),
        version=row.webhook_version,
        removed=removed,
    )


def let_go_of(
    unit: UnitOfWork, services: Services, row: SmsAccountRow, held: PutBack, *, wanted: bool
) -> None:
    """The account lets go of its wired sender (``held``): the wiring waits again (PENDING
    while ``wanted``, else OFF) and, once ``unit`` committed, what was remembered is put back."""
    message = f"Putting back what {held.sender} pointed at before."
    queries.apply_wiring(row, letting_go(wanted, message, services.clock()))
    row.wire_webhooks = wanted
    job = replace(held, version=row.webhook_version)

    async def start_the_put_back() -> None:
        services.wiring.put_back(job)

    unit.after_commit(start_the_put_back)
