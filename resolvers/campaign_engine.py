"""The campaign engine: one task function that moves the outbox, and two ways to schedule it.

``send_campaign_batch(services, campaign_id)`` is the whole of what sending a campaign does. Each
call hands over what the sender's pace allows now, at most ``CampaignSettings.batch_size``
recipients, and answers when to call it again:

- ``None``: nothing more to do for this campaign until someone wakes it (it completed, was
  paused or canceled, or is gone);
- a number of seconds (``0.0``: at once): call again then (the pace's wait, a provider's request
  to wait, or recipients still being handed over elsewhere).

It is safe to call at any time, from any process, any number of times, and to lose a call: the
outbox, not the job, records what was sent. At most one call per campaign should run at a time
(a scheduler's per-campaign lock); two at once still never send a recipient twice (each claim is
a conditional UPDATE), they only waste a claim.

A hand-over: SENDING is committed with an attempt id (and the message stored UNCONFIRMED, its
id the recipient's, named by its status callback) before the provider is called; the answers are
written in one transaction. A SENDING row whose attempt's lease (``handover_lease_seconds``) ran
out has no live owner: it turns UNCONFIRMED and is never sent again, and its delivery report
(``settle_report``) moves it to SENT and on to delivered or undelivered.

Who calls it (``resolvers.services.CampaignScheduler``): ``InProcessScheduler`` below on the
embedded default (one process, SQLite); a job queue at scale, whose job calls this function and
schedules itself again after the seconds answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.campaigns import CampaignStatus, Outcome, RecipientStatus
from domain.text import segments
from domain.vocabulary import (
    ErrorCode,
    FailureReason,
    MessageDirection,
    MessageStatus,
    VerificationFailure,
)
from providers.sms.errors import (
    BaseUrlRefused,
    OutcomeUnknown,
    ProviderAskedToWait,
    ProviderRateLimited,
    ProviderRefused,
    SenderQueueFull,
    SmsProviderError,
)
from providers.sms.port import Credentials, OutgoingSms, SentSms
from resolvers.account_rows import stored_token
from resolvers.campaign_events import announce_campaign
from resolvers.campaign_pauses import pause_sending, stop_cause
from resolvers.messages import _fail_account, status_callback
from resolvers.services import CampaignScheduler, Services
from resolvers.unit import unit_of_work
from storage import campaign_queries, message_queries, queries
from storage.models import (
    SmsAccountRow,
    SmsCampaignRecipientRow,
    SmsCampaignRow,
    SmsMessageRow,
    new_id,
)

__all__ = ["CampaignScheduler", "InProcessScheduler", "send_campaign_batch", "settle_report"]

log = logging.getLogger(__name__)
Answer = SentSms | SmsProviderError


async def send_campaign_batch(services: Services, campaign_id: str) -> float | None:
    """Hand over what the pace allows now; None when done, else the seconds until the next
    call (see the module)."""
    async with services.reads() as session:
        campaign = await campaign_queries.campaign(session, None, campaign_id)
        if campaign is None or campaign.status is not CampaignStatus.SENDING:
            return None
        account = await queries.account_by_id(session, campaign.account_id)
        enabled = await queries.integration_enabled(session, campaign.workspace_id)
    await _settle_unowned(services, campaign)
    cause = stop_cause(account, enabled)
    if cause is not None:
        scope = {"workspace_id": campaign.workspace_id} if not enabled else {}
        await pause_sending(services, cause, account_id=campaign.account_id, **scope)
        return None
    assert account is not None
    token = stored_token(services.secrets, account)
    if token is None:  # fails the account, which pauses its campaigns
        lost = FailureReason.TOKEN_UNREADABLE
        await _fail_account(services, account.id, account.credentials_version, lost)
        return 1.0
    async with services.reads() as session:
        pending = await campaign_queries.next_pending(
            session, campaign_id, services.campaign_settings.batch_size
        )
    if not pending:
        return await _complete(services, campaign)
    leave_at, pace_wait = await _allowance(services, account, campaign, pending)
    if not leave_at:
        return pace_wait
    attempt = await _claim(services, campaign, account, pending[: len(leave_at)])
    if not attempt.rows:
        return 0.0  # paused or canceled meanwhile: the next call sees it
    credentials = Credentials(account.client_id, token, account.base_url)
    slots = dict(zip((row.id for row in pending), leave_at, strict=False))
    answers = await _hand_over(services, account, campaign, credentials, attempt.rows, slots)
    return max(pace_wait, await _record(services, campaign, account, attempt, answers))


async def _allowance(
    services: Services,
    account: SmsAccountRow,
    campaign: SmsCampaignRow,
    pending: Sequence[SmsCampaignRecipientRow],
) -> tuple[list[float], float]:
    """When each of the first of ``pending`` the sender's shared pace lets go may leave (the
    loop's clock; the first now, the next within the pacer's look-ahead), their segments taken
    from its budget; and, when none may, how long until one may."""
    sizes = [segments(row.body or campaign.body) for row in pending]
    delays, wait = await services.pacer.claim_batch(account.id, account.send_rate_per_second, sizes)
    now = asyncio.get_running_loop().time()
    return [now + delay for delay in delays], wait


@dataclass(slots=True)
class _Attempt:
    id: str
    rows: list[SmsCampaignRecipientRow] = field(default_factory=list)


async def _claim(
    services: Services,
    campaign: SmsCampaignRow,
    account: SmsAccountRow,
    pending: Sequence[SmsCampaignRecipientRow],
) -> _Attempt:
    """Commit SENDING (and the messages, UNCONFIRMED) before anything leaves; recipients who
    opted out since they were added are SKIPPED instead."""
    attempt = _Attempt(new_id())
    now = services.clock()
    until = now + timedelta(seconds=services.campaign_settings.handover_lease_seconds)
    ids = [row.id for row in pending]
    async with unit_of_work(services.writes) as unit:
        session = unit.session
        skipped = await campaign_queries.skip_opted_out(
            session, campaign.workspace_id, campaign.id, ids
        )
        if skipped:
            row = await campaign_queries.add_counts(
                session, campaign.id, now, pending=-skipped, skipped=skipped
            )
            assert row is not None
            announce_campaign(unit, services, row)
        if not await campaign_queries.hold_sending(session, campaign.id):
            return attempt  # paused or canceled meanwhile: nothing is claimed
        attempt.rows = await campaign_queries.claim(session, campaign.id, ids, attempt.id, until)
        await campaign_queries.insert_messages(
            session, [_message(campaign, account, row, now) for row in attempt.rows]
        )
    return attempt


def _message(
    campaign: SmsCampaignRow, account: SmsAccountRow, row: SmsCampaignRecipientRow, now: datetime
) -> dict[str, object]:
    assert account.sender_id is not None
    return {
        "id": row.id,
        "workspace_id": campaign.workspace_id,
        "account_id": account.id,
        "direction": MessageDirection.OUTBOUND,
        "from_number": account.sender_id,
        "to_number": row.to_number,
        "body": row.body or campaign.body,
        "status": MessageStatus.UNCONFIRMED,  # until the provider answers
        "campaign_id": campaign.id,
        "created_at": now,
        "updated_at": now,
    }


async def _hand_over(
    services: Services,
    account: SmsAccountRow,
    campaign: SmsCampaignRow,
    credentials: Credentials,
    rows: list[SmsCampaignRecipientRow],
    leave_at: dict[str, float],
) -> list[Answer]:
    """Each claimed recipient handed to the provider once, at its slot of the sender's pace
    (within the pacer's look-ahead, so a pause still answers within a second)."""
    port = services.sms[account.provider]
    assert account.sender_id is not None
    loop = asyncio.get_running_loop()

    async def send(row: SmsCampaignRecipientRow) -> Answer:
        wait = leave_at.get(row.id, 0.0) - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        callback = status_callback(services, port, account.id, row.id)
        # A 429 comes back at once (nothing is sent again inside the call): the engine backs
        # off, and nothing leaves after a pause answered.
        outgoing = OutgoingSms(
            account.sender_id or "",
            row.to_number,
            row.body or campaign.body,
            callback,
            dlt_entity_id=account.dlt_entity_id,
            dlt_template_id=campaign.dlt_template_id,
            route=account.route,
            wait_out_rate_limits=False,
        )
        try:
            return await port.send(credentials, outgoing)
        except SmsProviderError as error:
            return error

    return list(await asyncio.gather(*(send(row) for row in rows)))


@dataclass(slots=True)
class _Verdict:
    status: RecipientStatus  # PENDING: nothing was taken, it is handed over again later
    wait: float = 0.0  # how long the provider asked us to wait
    account_failure: VerificationFailure | None = None
    queue_full: bool = False  # the sender's queue at the provider is full: slow it down


def _verdict(answer: Answer, services: Services) -> _Verdict:
    """What one answer means for its recipient. Only what the provider may have taken is spent:
    whatever it did not take goes back to PENDING."""
    if isinstance(answer, SentSms):
        return _Verdict(RecipientStatus.SENT)
    if isinstance(answer, OutcomeUnknown):
        return _Verdict(RecipientStatus.UNCONFIRMED)
    retry = services.campaign_settings.retry_seconds
    if isinstance(answer, BaseUrlRefused):
        return _Verdict(RecipientStatus.PENDING, account_failure=VerificationFailure.BASE_URL)
    if isinstance(answer, ProviderRateLimited):  # not processed: send it again after the wait
        wait = retry if answer.retry_after is None else min(answer.retry_after, 60 * retry)
        return _Verdict(
            RecipientStatus.PENDING, wait=wait, queue_full=isinstance(answer, SenderQueueFull)
        )
    if isinstance(answer, ProviderRefused):
        if answer.reason is ErrorCode.RECIPIENT_OPTED_OUT:
            return _Verdict(RecipientStatus.SKIPPED)
        if isinstance(answer.reason, VerificationFailure):  # the account, not this recipient
            return _Verdict(RecipientStatus.PENDING, account_failure=answer.reason)
        return _Verdict(RecipientStatus.FAILED)
    if isinstance(answer, ProviderAskedToWait):
        return _Verdict(RecipientStatus.PENDING, wait=min(answer.retry_after, 60 * retry))
    return _Verdict(RecipientStatus.PENDING, wait=retry)  # unavailable: nothing was taken


async def _record(
    services: Services,
    campaign: SmsCampaignRow,
    account: SmsAccountRow,
    attempt: _Attempt,
    answers: list[Answer],
) -> float:
    """Write every answer of a hand-over, with the counters, in one transaction."""
    verdicts = [_verdict(answer, services) for answer in answers]
    groups: dict[RecipientStatus, list[str]] = {}
    for row, verdict in zip(attempt.rows, verdicts, strict=True):
        groups.setdefault(verdict.status, []).append(row.id)
    now = services.clock()
    async with unit_of_work(services.writes) as unit:
        deltas = await _move_recipients(unit.session, attempt.id, groups)
        for row, answer in zip(attempt.rows, answers, strict=True):
            await _record_message(unit.session, campaign, row, answer, now)
        updated = await campaign_queries.add_counts(unit.session, campaign.id, now, **deltas)
        assert updated is not None
        if updated.status is CampaignStatus.CANCELED and RecipientStatus.PENDING in groups:
            left = await campaign_queries.skip_pending(unit.session, campaign.id)
            updated = await campaign_queries.add_counts(
                unit.session, campaign.id, now, pending=-left, skipped=left
            )
            assert updated is not None
        announce_campaign(unit, services, updated)
    if any(verdict.queue_full for verdict in verdicts):
        await services.pacer.slow_down(account.id)
    failure = next((v.account_failure for v in verdicts if v.account_failure), None)
    if failure is not None:  # fails the account, which pauses its campaigns
        await _fail_account(services, account.id, account.credentials_version, failure)
    return max(verdict.wait for verdict in verdicts)


async def _move_recipients(
    session: AsyncSession, attempt_id: str, groups: dict[RecipientStatus, list[str]]
) -> dict[str, int]:
    """Each recipient of the attempt to its verdict; the counters' deltas. One turned
    UNCONFIRMED meanwhile (its lease ran out) is settled by the answer that came after all."""
    deltas: dict[str, int] = {}
    for status, ids in groups.items():
        moved = await campaign_queries.finish(
            session, ids, attempt_id, RecipientStatus.SENDING, status
        )
        if status is RecipientStatus.PENDING:
            await campaign_queries.forget_messages(session, moved)
            continue
        _count(deltas, "pending", status, len(moved))
        late = [recipient for recipient in ids if recipient not in set(moved)]
        if late and status is not RecipientStatus.UNCONFIRMED:
            settled = await campaign_queries.finish(
                session, late, attempt_id, RecipientStatus.UNCONFIRMED, status
            )
            _count(deltas, "unconfirmed", status, len(settled))
    return deltas


def _count(deltas: dict[str, int], was: str, status: RecipientStatus, moved: int) -> None:
    deltas[was] = deltas.get(was, 0) - moved
    name = status.value.lower()
    deltas[name] = deltas.get(name, 0) + moved


async def _record_message(
    session: AsyncSession,
    campaign: SmsCampaignRow,
    row: SmsCampaignRecipientRow,
    answer: Answer,
    now: datetime,
) -> None:
    if isinstance(answer, SentSms):
        values = dict(
            provider_message_id=answer.provider_message_id,
            segments=answer.segments,
            error_code=answer.error_code,
            error_message=answer.error_message,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                await campaign_queries.record_message(session, row.id, answer.status, values)
        except IntegrityError:
            # A provider's ids are unique: one seen twice is not this message's. Keep the
            # answer without it rather than lose the batch's.
            log.warning("message %s: the provider answered with an id already stored", row.id)
            values["provider_message_id"] = None
            await campaign_queries.record_message(session, row.id, answer.status, values)
    elif isinstance(answer, ProviderRefused) and not isinstance(answer.reason, VerificationFailure):
        if answer.reason is ErrorCode.RECIPIENT_OPTED_OUT:
            await message_queries.opt_out(session, campaign.workspace_id, row.to_number, now)
        values = dict(error_code=answer.code, error_message=answer.description, updated_at=now)
        await campaign_queries.record_message(session, row.id, MessageStatus.FAILED, values)


async def _complete(services: Services, campaign: SmsCampaignRow) -> float | None:
    """Nothing PENDING: COMPLETED once nothing is being handed over either; else look again
    soon (a hand-over elsewhere finishes, or its lease runs out)."""
    now = services.clock()
    values = {"status": CampaignStatus.COMPLETED, "completed_at": now, "updated_at": now}
    async with unit_of_work(services.writes) as unit:
        done = await campaign_queries.move_campaign(
            unit.session,
            campaign.id,
            {CampaignStatus.SENDING},
            values,
            only_if_nothing_pending=True,
        )
        if done is not None:
            announce_campaign(unit, services, done, status_changed=True)
    if done is not None:
        return None
    return min(1.0, services.campaign_settings.handover_lease_seconds)


async def _settle_unowned(services: Services, campaign: SmsCampaignRow) -> None:
    """SENDING recipients whose attempt's lease ran out (its process died mid-hand-over) turn
    UNCONFIRMED: never sent again, settled by their delivery reports."""
    now = services.clock()
    async with unit_of_work(services.writes) as unit:
        lost = await campaign_queries.unowned_to_unconfirmed(unit.session, campaign.id, now)
        if lost:
            log.warning(
                "campaign %s: %d recipient(s) left mid-hand-over are UNCONFIRMED", campaign.id, lost
            )
            row = await campaign_queries.add_counts(
                unit.session, campaign.id, now, pending=-lost, unconfirmed=lost
            )
            assert row is not None
            announce_campaign(unit, services, row)


_FINAL = {
    MessageStatus.DELIVERED: Outcome.DELIVERED,
    MessageStatus.READ: Outcome.DELIVERED,
    MessageStatus.UNDELIVERED: Outcome.UNDELIVERED,
    MessageStatus.FAILED: Outcome.UNDELIVERED,
    MessageStatus.CANCELED: Outcome.UNDELIVERED,
}


async def settle_report(session: AsyncSession, message: SmsMessageRow, now: datetime) -> bool:
    """A delivery report moved ``message``: settle its recipient if UNCONFIRMED (SENT: it did
    leave) and count its first final outcome. True when the campaign's counters moved."""
    if message.campaign_id is None:
        return False
    deltas: dict[str, int] = {}
    if message.status is not MessageStatus.UNCONFIRMED and await campaign_queries.confirm(
        session, message.id
    ):
        deltas.update(unconfirmed=-1, sent=1)
    outcome = _FINAL.get(message.status)
    if outcome is not None and await campaign_queries.set_outcome(session, message.id, outcome):
        deltas[outcome.counter] = 1
    if deltas:
        await campaign_queries.add_counts(session, message.campaign_id, now, **deltas)
    return bool(deltas)


class InProcessScheduler:
    """The embedded default's scheduler: one task per SENDING campaign in this process, calling
    ``send_campaign_batch`` until it answers None. ``wake`` starts a campaign's task or cuts its
    wait short; a sweep every ``sweep_seconds`` (and at start) wakes every SENDING campaign, so
    one started elsewhere (a restart, the CLI) is picked up. A task ends when its campaign needs
    nothing more: tasks never outnumber SENDING campaigns. ``stop`` lets each finish the batch
    it is in (its hand-overs are recorded), then cancels what is left. Not started, it schedules
    nothing (the unit tests call ``send_campaign_batch`` themselves)."""

    def __init__(self, services: Services, *, sweep_seconds: float) -> None:
        self._services = services
        self._sweep_seconds = sweep_seconds
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._woken: dict[str, asyncio.Event] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._running = False

    async def wake(self, campaign_id: str) -> None:
        if not self._running:
            return  # started, it sweeps up every SENDING campaign
        woken = self._woken.get(campaign_id)
        if woken is not None:
            woken.set()
            return
        woken = self._woken[campaign_id] = asyncio.Event()
        self._tasks[campaign_id] = asyncio.create_task(
            self._run(campaign_id, woken), name=f"campaign-{campaign_id}"
        )

    def start(self) -> None:
        self._running = True
        self._sweeper = asyncio.create_task(self._sweep(), name="campaign-sweep")

    async def stop(self, timeout_seconds: float = 5.0) -> None:
        self._running = False
        if self._sweeper is not None:
            self._sweeper.cancel()
        for woken in self._woken.values():
            woken.set()  # a task waiting out its pace ends now
        tasks = [*self._tasks.values(), *([self._sweeper] if self._sweeper else [])]
        done, running = await asyncio.wait(tasks, timeout=timeout_seconds) if tasks else ((), ())
        for task in running:
            task.cancel()
        for task in [*done, *running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._sweeper = None

    @property
    def running(self) -> int:
        """Campaign tasks alive now (for tests and health: never more than SENDING campaigns)."""
        return len(self._tasks)

    async def _sweep(self) -> None:
        while True:
            try:
                async with self._services.reads() as session:
                    sending = await campaign_queries.sending_campaign_ids(session)
                for campaign_id in sending:
                    await self.wake(campaign_id)
            except Exception:
                log.exception("could not look for SENDING campaigns; trying again")
            await asyncio.sleep(self._sweep_seconds)

    async def _run(self, campaign_id: str, woken: asyncio.Event) -> None:
        failures = 0
        try:
            while self._running:
                woken.clear()
                try:
                    delay = await send_campaign_batch(self._services, campaign_id)
                    failures = 0
                except Exception:
                    failures += 1
                    delay = min(30.0, 0.5 * 2**failures)
                    log.exception(
                        "campaign %s: a batch failed; again in %.1f s", campaign_id, delay
                    )
                if delay is None and not woken.is_set():
                    return
                if delay:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), delay)
                else:
                    await asyncio.sleep(0)  # others run between batches
        finally:
            del self._tasks[campaign_id]
            del self._woken[campaign_id]
