"""Delivery reports at campaign scale: one write transaction for a short batch of reports.

A 100,000-message campaign brings 300,000 status callbacks. Committing each on its own made the
commit (and, on SQLite, the single writer's turn) the cost of every callback. Reports are queued;
one task owned by the app takes whatever is waiting (after lingering ``linger_seconds`` for more,
at most ``max_batch``), applies each with its own conditional UPDATE in one transaction, commits,
and only then answers every waiting callback: an acknowledged callback is never lost.

A batch mixes workspaces, and any workspace admin can sign callbacks for an account of their
own: a batch is first written whole, and when a report's write fails (a value a column refuses,
a constraint it breaks) that transaction is rolled back and the batch written again with each
report in its own savepoint, so the failing one is answered with its error alone while the
others commit. Only a batch whose transaction fails (the database is down) answers every
callback in it with the error, so the provider retries them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.messages import Message, statuses_that_may_become
from domain.vocabulary import MessageStatus, SmsProvider
from resolvers.campaign_engine import settle_report
from resolvers.signers import SignerVersion
from resolvers.unit import unit_of_work
from storage import message_queries, queries
from storage.models import SmsMessageRow
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One signed delivery report: the message (the provider's id, or our id for a send the
    provider never confirmed) and the status it reached."""

    workspace_id: str
    account_id: str
    provider: SmsProvider
    provider_message_id: str
    message_id: str | None
    status: MessageStatus
    error_code: int | None
    signer_version: SignerVersion  # the account version its signature was checked at


class StaleSignerError(Exception):
    """The account changed since the secrets that checked this report's signature were read
    (a new token, a removal): nothing was written; check the signature again with the secrets
    as they are now."""


class IngestStoppedError(Exception):
    """The app is shutting down: the report was not recorded (the provider retries it)."""


_Pending = tuple[StatusReport, "asyncio.Future[SmsMessageRow | None]"]
Outcome = SmsMessageRow | Exception | None  # the message as it now is, unmoved, or the error
_STOP: Any = object()  # queued by stop(): write what came before it, then end


class StatusBatcher:
    """Queue of reports and the one task that writes them, batch by batch."""

    def __init__(
        self,
        writes: async_sessionmaker[AsyncSession],
        publish: Callable[[str, Message], Awaitable[None]],
        to_message: Callable[[SmsMessageRow, SmsProvider], Message],
        *,
        max_batch: int,
        linger_seconds: float,
        campaign_changed: Callable[[str, str, None], Awaitable[None]] | None = None,
    ) -> None:
        self._writes = writes
        self._campaign_changed = campaign_changed
        self._publish = publish
        self._to_message = to_message
        self.max_batch = max_batch
        self.linger_seconds = linger_seconds
        # Bounded: beyond a few batches, callers wait (the provider's requests are back-pressured).
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_batch * 4)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def record(self, report: StatusReport) -> bool:
        """Apply one report once its batch committed; True when the message changed."""
        if self._task is None or self._stopping:
            raise IngestStoppedError
        done: asyncio.Future[SmsMessageRow | None] = asyncio.get_running_loop().create_future()
        await self._queue.put((report, done))
        row = await done
        return row is not None

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="status-batches")

    async def stop(self, timeout_seconds: float = 5.0) -> None:
        """Write what is queued, then end the task; what is left is answered with an error."""
        if self._task is None:
            return
        self._stopping = True
        await self._queue.put(_STOP)
        try:
            await asyncio.wait_for(self._task, timeout_seconds)
        except TimeoutError:
            log.warning("delivery reports were still being written at shutdown")
        self._task = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                item[1].set_exception(IngestStoppedError())

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stopped = await self._gather(batch)
            await self._write(batch)
            if stopped:
                return

    async def _gather(self, batch: list[_Pending]) -> bool:
        """Take what waits; linger once for more unless the batch is already full. True when the
        stop mark was taken."""
        if self._drain(batch):
            return True
        if len(batch) < self.max_batch and self.linger_seconds > 0:
            await asyncio.sleep(self.linger_seconds)
            return self._drain(batch)
        return False

    def _drain(self, batch: list[_Pending]) -> bool:
        while len(batch) < self.max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _STOP:
                return True
            batch.append(item)
        return False

    async def _write(self, batch: list[_Pending]) -> None:
        reports = [report for report, _ in batch]
        try:
            outcomes = await self._outcomes(reports)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled at shutdown: nothing was committed
                _fail(batch, IngestStoppedError())
                raise
            log.exception("a batch of %d delivery reports could not be written", len(batch))
            _fail(batch, exc)
            return
        for (report, done), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                if not done.done():
                    done.set_exception(outcome)
                continue
            if not done.done():
                done.set_result(outcome)
            if outcome is not None:
                await self._publish(report.workspace_id, self._to_message(outcome, report.provider))
        await self._campaigns_changed(batch, outcomes)

    async def _campaigns_changed(self, batch: list[_Pending], outcomes: list[Any]) -> None:
        """One notice per campaign whose messages this batch moved (its counters may have)."""
        if self._campaign_changed is None:
            return
        touched = {
            (report.workspace_id, outcome.campaign_id)
            for (report, _), outcome in zip(batch, outcomes, strict=True)
            if isinstance(outcome, SmsMessageRow) and outcome.campaign_id is not None
        }
        for workspace_id, campaign_id in touched:
            await self._campaign_changed(workspace_id, campaign_id, None)

    async def _outcomes(self, reports: list[StatusReport]) -> list[Outcome]:
        """Each report's outcome, committed. First the whole batch at once (each report a
        savepoint cost three round trips to the database instead of one); when a write fails,
        that transaction is rolled back and the batch is written again with each report in its
        own savepoint, so the failing one is answered alone and the others commit."""
        now = utcnow()
        try:
            async with unit_of_work(self._writes) as unit:
                return await _apply_batch(unit.session, reports, now, alone=False)
        except Exception as error:
            if isinstance(error, DBAPIError) and error.connection_invalidated:
                raise  # the connection is gone: nothing of the batch can be written
        async with unit_of_work(self._writes) as unit:
            return await _apply_batch(unit.session, reports, now, alone=True)


def _fail(batch: list[_Pending], error: Exception) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(error)


async def _apply_batch(
    session: AsyncSession, reports: list[StatusReport], now: datetime, *, alone: bool
) -> list[Outcome]:
    """Each report's outcome (``alone``: each in its own savepoint). One read checks every
    signer of the batch against its account as it is in this transaction: a report whose signer
    changed since is not applied."""
    live = await queries.signing_versions(session, list({r.account_id for r in reports}))
    apply = _apply_alone if alone else _apply
    return [
        await apply(session, report, now)
        if live.get(report.account_id) == report.signer_version
        else StaleSignerError()
        for report in reports
    ]


async def _apply_alone(
    session: AsyncSession, report: StatusReport, now: datetime
) -> SmsMessageRow | Exception | None:
    """Apply one report in a savepoint of the batch's transaction: the message as it now is,
    None when nothing moved, or the error its write met (rolled back, the batch goes on)."""
    try:
        async with session.begin_nested():
            return await _apply(session, report, now)
    except Exception as error:
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            raise  # the connection is gone: nothing of the batch can be written
        # One line, no traceback: a tenant can send such reports in a loop.
        log.warning(
            "a delivery report for account %s could not be written (%s); the rest of its "
            "batch goes on",
            report.account_id,
            type(error).__name__,
        )
        return error


async def _apply(
    session: AsyncSession, report: StatusReport, now: datetime
) -> SmsMessageRow | None:
    moved = await _advance(session, report, now)
    if moved is not None:
        await settle_report(session, moved, now)  # a campaign's message: its recipient too
    return moved


async def _advance(
    session: AsyncSession, report: StatusReport, now: datetime
) -> SmsMessageRow | None:
    return await message_queries.advance(
        session,
        report.account_id,
        provider_message_id=report.provider_message_id,
        message_id=report.message_id,
        status=report.status,
        allowed_from=statuses_that_may_become(report.status),
        error_code=report.error_code,
        now=now,
    )
