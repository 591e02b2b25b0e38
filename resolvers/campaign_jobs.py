"""Campaigns on a job queue: procrastinate on PostgreSQL, jobs in our own database.

The job is ``resolvers.campaign_engine.send_campaign_batch`` (the one code path for what sending
a campaign does; on SQLite ``InProcessScheduler`` calls the same function). A job runs batches
of one campaign for up to ``slice_seconds``, sleeping the waits they answer, then defers the
campaign's next job after the wait and ends, so the campaigns on a worker take turns.

- **One job per campaign at a time**: every job of a campaign carries the lock
  ``campaign:<id>`` (no two run at once) and the queueing lock ``campaign:<id>`` (at most one
  waits), so ``wake`` is cheap and idempotent. Two at once would still never send a recipient
  twice (the outbox's claims are conditional UPDATEs): the locks only spare the work.
- **Retries**: a batch that raises (the database went away) is retried by procrastinate with a
  growing wait (``RETRY``); a job that failed for good is replaced by the sweep below.
- **Stalled jobs** (a worker killed mid-job, kill -9 or a lost host): each worker beats every
  ``heartbeat_seconds``; every ``RECOVERY_SECONDS`` the recovery task (a periodic task, run once
  per period across every worker) takes the campaign jobs of workers silent for
  ``stalled_seconds`` and retries them (procrastinate's documented stalled-job retry: the job
  turns ``todo`` again and another worker takes it). When the campaign's next job already waits
  (its queueing lock is taken), the stalled one is marked failed instead: it only held the lock.
  The recipients its worker was handing over stay SENDING until their hand-over lease ends, then
  turn UNCONFIRMED, never sent again. The same task wakes every SENDING campaign, so a campaign
  whose job was lost in any other way (a failed job, a server that defers with no worker) is
  picked up within one period.

Workers: ``concurrency`` jobs at once per process (0: this process defers jobs but sends
nothing, ``SMS_SERVE_WORKERS=0``). Successful jobs are deleted, so the job table does not grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job, Status

from resolvers.campaign_engine import send_campaign_batch
from resolvers.services import Services
from storage import campaign_queries
from storage.types import utcnow

log = logging.getLogger(__name__)

QUEUE = "campaigns"
BATCH_TASK = "send_campaign_batch"
RECOVERY_TASK = "recover_campaigns"
RECOVERY_SECONDS = 5  # a cron period in seconds: divides 60
RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=2)  # 2, 4, 8, 16, 32 s


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """How this process takes part (settings ``SMS_SERVE_WORKERS`` or ``worker --concurrency``,
    ``SMS_WORKER_HEARTBEAT_SECONDS``, ``SMS_WORKER_STALLED_SECONDS``,
    ``SMS_CAMPAIGN_JOB_SLICE_SECONDS``)."""

    concurrency: int = 4
    heartbeat_seconds: float = 2.0
    stalled_seconds: float = 6.0
    slice_seconds: float = 10.0
    shutdown_seconds: float = 5.0  # a stopping worker lets running jobs end their batch
    install_signal_handlers: bool = False  # True only in `sms-accounts worker`


def lock_of(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


class JobScheduler:
    """The ``CampaignScheduler`` at scale: ``wake`` defers a campaign's job; ``start`` opens the
    queue and, with a concurrency, runs a worker in this process; ``stop`` ends both."""

    def __init__(self, services: Services, app: procrastinate.App, plan: WorkerPlan) -> None:
        self._services = services
        self.app = app
        self.plan = plan
        self._opened = False
        self._opening = asyncio.Lock()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._batch = app.task(name=BATCH_TASK, queue=QUEUE, retry=RETRY)(self._batch_job)
        recovery = app.task(name=RECOVERY_TASK, queue=QUEUE)(self._recover)
        app.periodic(cron=f"* * * * * */{RECOVERY_SECONDS}")(recovery)

    async def _open(self) -> None:
        async with self._opening:
            if not self._opened:
                await self.app.open_async()
                self._opened = True

    async def wake(self, campaign_id: str) -> None:
        await self._defer(campaign_id, 0.0)

    async def _defer(self, campaign_id: str, delay: float) -> None:
        await self._open()
        job = self._batch.configure(
            lock=lock_of(campaign_id),
            queueing_lock=lock_of(campaign_id),
            schedule_at=utcnow() + timedelta(seconds=delay) if delay > 0 else None,
        )
        with contextlib.suppress(AlreadyEnqueued):  # its next job already waits: enough
            await job.defer_async(campaign_id=campaign_id)

    def start(self) -> None:
        self._stopping = False
        self._runner = asyncio.create_task(self._run(), name="campaign-worker")

    async def _run(self) -> None:
        await self._open()
        if self.plan.concurrency == 0:
            return  # this process only defers
        await self.app.run_worker_async(
            queues=[QUEUE],
            concurrency=self.plan.concurrency,
            update_heartbeat_interval=self.plan.heartbeat_seconds,
            stalled_worker_timeout=self.plan.stalled_seconds,
            shutdown_graceful_timeout=self.plan.shutdown_seconds,
            delete_jobs="successful",
            install_signal_handlers=self.plan.install_signal_handlers,
            listen_notify=True,
        )

    async def finished(self) -> None:
        """Until the worker stopped (a signal, in `sms-accounts worker`)."""
        if self._runner is not None:
            await self._runner

    async def stop(self) -> None:
        self._stopping = True
        if self._runner is not None:
            self._runner.cancel()  # the worker lets its jobs end their batch, then stops
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def _batch_job(self, campaign_id: str) -> None:
        """Batches of one campaign for up to a slice, then its next job after the wait."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.plan.slice_seconds
        while not self._stopping:
            delay = await send_campaign_batch(self._services, campaign_id)
            if delay is None:
                return  # done, paused, canceled or gone: a resume wakes it again
            if loop.time() + delay > end:
                break
            await asyncio.sleep(delay)
        else:
            delay = 0.0  # this worker stops: another one carries on at once
        await self._defer(campaign_id, delay)

    async def _recover(self, timestamp: int) -> None:
        """Retry the campaign jobs of stalled workers, and wake every SENDING campaign."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=BATCH_TASK, seconds_since_heartbeat=self.plan.stalled_seconds
        )
        for job in stalled:
            await self._retry_stalled(job)
        async with self._services.reads() as session:
            sending = await campaign_queries.sending_campaign_ids(session)
        for campaign_id in sending:
            await self.wake(campaign_id)

    async def _retry_stalled(self, job: Job) -> None:
        manager = self.app.job_manager
        log.warning("campaign job %s was left by a stalled worker: retrying it", job.id)
        try:
            await manager.retry_job(job)
        except Exception:  # its campaign's next job already waits: this one only held the lock
            assert job.id is not None
            await manager.finish_job_by_id_async(job.id, Status.FAILED, delete_job=False)


def job_queue(database_url: str, *, pool_size: int) -> procrastinate.App:
    """A procrastinate App on our PostgreSQL database (psycopg 3 speaks to it; our asyncpg URL
    is translated). Opened by its scheduler."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    conninfo: Any = url.render_as_string(hide_password=False)
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=1, max_size=max(2, pool_size)
    )
    return procrastinate.App(connector=connector)
