"""Verify: check the account and its sender with its provider, concurrently, in the background.

``verify_account`` answers at once with VERIFYING; the check runs as a task. Its verdict is written
only if the credentials it checked are still current (a conditional UPDATE whose row count is
checked), and VERIFYING carries a lease so a check lost with its process is picked up again.
Verified accounts are checked again on a schedule (health checks), the same way, without leaving
VERIFIED unless the provider definitely refuses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from domain.account_states import (
    AccountMove,
    check_again,
    still_verified,
    to_failed,
    to_verified,
    to_verifying,
    verify_later,
)
from domain.accounts import Account, failure_sentence
from domain.vocabulary import (
    AccountStatus,
    Caller,
    ErrorCode,
    FailureReason,
    StoredFailure,
    VerificationFailure,
    public_failure,
)
from providers.sms.errors import ProviderAskedToWait, SmsProviderError
from providers.sms.port import Credentials, SmsPort
from resolvers.account_rows import stored_token, to_account
from resolvers.accounts import AccountResult, refuse_id
from resolvers.background import KeyedSlots, TaskSet
from resolvers.errors import INTEGRATION_DISABLED, NOT_FOUND, FieldError
from resolvers.events import announce_account
from resolvers.services import Services
from resolvers.unit import unit_of_work
from storage import queries
from storage.db import is_outage

log = logging.getLogger(__name__)

STARTED = "Verification process started"
NO_SENDER = "Verification failed: this account has no sender"
IN_PROGRESS = FieldError(
    "id",
    ErrorCode.VERIFICATION_IN_PROGRESS,
    "A verification of this account is already running; its result will show on the card.",
)
# How many checks of one provider account may be in flight at once.
PER_PROVIDER_ACCOUNT = 2


@dataclass(frozen=True, slots=True)
class Verdict:
    failure: StoredFailure | None
    trial: bool | None = None
    # Why, for the operator's log: an exception class or a short fact, never upstream text.
    cause: str | None = None
    # The provider asked to be called again in this many seconds (past the call's budget): no
    # verdict on the account, the check is rescheduled.
    retry_after: float | None = None


# No configured key opens the stored token: no call to the provider can be made with it.
UNREADABLE = Verdict(FailureReason.TOKEN_UNREADABLE, cause="no configured key opens the token")


async def verify_account(services: Services, caller: Caller, account_id: str) -> AccountResult:
    """Start a check: VERIFYING now, the verdict later (pushed to subscribers)."""
    if refused := refuse_id(account_id):
        return refused
    now = services.clock()
    async with unit_of_work(services.writes) as unit:
        session = unit.session
        if not await queries.integration_enabled(session, caller.workspace_id):
            return AccountResult(errors=[INTEGRATION_DISABLED])
        row = await queries.live_account(session, caller.workspace_id, account_id, for_update=True)
        if row is None:
            return AccountResult(errors=[NOT_FOUND])
        lease = row.verify_lease_until
        if row.status is AccountStatus.VERIFYING and lease is not None and lease > now:
            return AccountResult(errors=[IN_PROGRESS])
        before = to_account(row, services.public_url)
        if row.sender_id is None:
            move, message = to_failed(VerificationFailure.MISSING_SENDER, now), NO_SENDER
        elif stored_token(services.secrets, row) is None:
            move = to_failed(FailureReason.TOKEN_UNREADABLE, now)
            message = failure_sentence(FailureReason.TOKEN_UNREADABLE, row.provider)
        else:
            lease_until = now + timedelta(seconds=services.verify_lease_seconds)
            move, message = to_verifying(now, lease_until), STARTED
        queries.apply_move(row, move)
        account = announce_account(unit, services, row, before=before)
        if account.status is AccountStatus.VERIFYING:
            check = (row.id, row.credentials_version)

            async def start_the_check() -> None:
                services.verifier.start(*check)

            unit.after_commit(start_the_check)
    return AccountResult(account=account, message=message)


class CheckKind(Enum):
    """Verify's check runs while the account is VERIFYING; a health check keeps it VERIFIED."""

    VERIFY = AccountStatus.VERIFYING
    HEALTH = AccountStatus.VERIFIED


# Outcomes of a health check that say the account cannot send: it turns FAILED. Any other
# failure (the provider down, a timeout) says nothing about the account, which stays VERIFIED.
DEFINITE_FAILURES = frozenset(
    {
        VerificationFailure.INVALID_CREDENTIALS,
        VerificationFailure.ACCOUNT_SUSPENDED,
        VerificationFailure.INVALID_FROM_NUMBER,
        VerificationFailure.INVALID_MESSAGING_SERVICE,
    }
)
HEALTH_CHECK_JITTER = 0.10
INCONCLUSIVE_RETRY_SECONDS = 300.0

_Key = tuple[str, int, CheckKind]


def next_health_check(account_id: str, checked_at: datetime, interval_seconds: float) -> datetime:
    """``interval_seconds`` after the check, ±10 %: the same offset every time for one account, so
    accounts verified together come due spread over a fifth of the interval."""
    digest = hashlib.sha256(account_id.encode()).digest()
    spread = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF * 2 - 1
    return checked_at + timedelta(seconds=interval_seconds * (1 + HEALTH_CHECK_JITTER * spread))


def _as_shown(account: Account) -> Account:
    """What a client shows of an account: a moved lastCheckedAt alone is not news."""
    return replace(account, last_checked_at=None)


@dataclass(frozen=True, slots=True)
class CheckSchedule:
    """When and how many checks run (README "Checks, leases and health checks")."""

    lease_seconds: float  # a check owns its account this long without renewing
    recheck_seconds: float  # a VERIFIED account is checked again this long after (±10 %)
    sweep_seconds: float  # expired leases and due health checks are looked for this often
    max_in_flight: int  # checks running at once in this process
    # The longest a provider's Retry-After postpones a check (past it, the check runs again).
    max_wait_seconds: float


class Verifier:
    """Runs checks as background tasks, bounded overall and per provider account.

    A check holds a lease on its account's row, claimed atomically (a conditional UPDATE) and
    renewed while the check runs, so each check runs on exactly one replica, and one whose
    process died is claimed by the next sweep of any replica once its short lease expires.
    """

    def __init__(
        self,
        services: Services,
        schedule: CheckSchedule,
        touched: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        # What the checks run on (its ``verifier`` is not used: this is the verifier).
        self._services = services
        # A check that moved only what no event carries (lastCheckedAt) still changes what a
        # cached read shows: the workspace's cached reads are told so.
        self._touched = touched
        self._sweep_seconds = schedule.sweep_seconds
        self._stopping = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None
        self._lease = timedelta(seconds=schedule.lease_seconds)
        self._recheck_seconds = schedule.recheck_seconds
        self._max_wait_seconds = schedule.max_wait_seconds
        self._max_in_flight = schedule.max_in_flight
        self._slots = asyncio.Semaphore(schedule.max_in_flight)
        self._per_account = KeyedSlots(PER_PROVIDER_ACCOUNT)
        # Checks in flight by (account, credentials version, kind): a check of new credentials
        # starts even while one of old credentials (whose verdict will be discarded) still runs.
        self._running: dict[_Key, asyncio.Task[None]] = {}
        self._all = TaskSet()

    def start(self, account_id: str, version: int, kind: CheckKind = CheckKind.VERIFY) -> None:
        """Run a check whose lease this process holds."""
        key = (account_id, version, kind)
        if key in self._running:
            return  # that very check is running: its verdict will answer this request too
        task = asyncio.create_task(self._check(key))
        self._running[key] = task
        self._all.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: _Key, task: asyncio.Task[None]) -> None:
        if self._running.get(key) is task:
            del self._running[key]

    def _verdict_committed(self, key: _Key) -> None:
        """From the verdict's commit on, a new verify of the same credentials needs a new check."""
        self._running.pop(key, None)

    @property
    def in_flight(self) -> int:
        return len(self._all)

    async def wait_idle(self) -> None:
        """For shutdown and tests: wait until no check runs."""
        await self._all.wait_idle()

    def start_sweeping(self) -> None:
        """Sweep at once, then every sweep interval, until ``stop``."""
        self._stopping.clear()
        self._sweeper = asyncio.create_task(self._sweep_until_stopped(), name="verification-sweep")

    async def _sweep_until_stopped(self) -> None:
        """Pick up checks whose process died, and due health checks."""
        interval = self._sweep_seconds
        delay = interval
        while not self._stopping.is_set():
            try:
                resumed, health_checks = await self.sweep()
                if resumed:
                    log.info("resumed %d verification(s) whose lease had expired", resumed)
                if health_checks:
                    log.info("started %d health check(s) of verified accounts", health_checks)
                delay = interval
            except Exception as exc:
                # A database outage is waited out, more patiently each time (up to 4 intervals).
                if not is_outage(exc):
                    log.exception("verification sweep failed; trying again later")
                elif delay == interval:
                    log.warning("verification sweep: database unavailable; backing off")
                delay = min(delay * 2, interval * 4)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def stop(self) -> None:
        """Stop sweeping (a sweep in progress finishes its transaction rather than be cut
        mid-query), cancel running checks and give their leases back, so that the next sweep of
        another replica resumes them instead of waiting for the leases to expire."""
        self._stopping.set()
        if self._sweeper is not None:
            try:
                await asyncio.wait_for(self._sweeper, 5)
            except TimeoutError:
                log.warning("the verification sweep did not stop in time")
            self._sweeper = None
        cancelled = list(self._running)
        await self._all.cancel_all()
        try:
            for key in cancelled:
                await self._renew(key, give_back=True)
        except Exception:
            log.warning("could not give back the leases of %d check(s)", len(cancelled))

    async def sweep(self) -> tuple[int, int]:
        """Claim checks whose lease expired (their process died), then due health checks, no
        more than this process has room for, and run them: (resumed, health checks started)."""
        room = self._max_in_flight - self.in_flight
        if room <= 0:
            return 0, 0
        now = self._services.clock()
        lease_until = now + self._lease
        legacy_cutoff = now - timedelta(seconds=self._recheck_seconds)
        async with unit_of_work(self._services.writes) as unit:
            resumed = await queries.claim_expired_checks(unit.session, now, lease_until, room)
            due: list[tuple[str, int]] = []
            if len(resumed) < room:
                due = await queries.claim_due_health_checks(
                    unit.session, now, legacy_cutoff, lease_until, room - len(resumed)
                )
        for account_id, version in resumed:
            self.start(account_id, version, CheckKind.VERIFY)
        for account_id, version in due:
            self.start(account_id, version, CheckKind.HEALTH)
        return len(resumed), len(due)

    async def _check(self, key: _Key) -> None:
        account_id = key[0]
        try:
            async with self._renewing(key):
                checked = await self._run(key)
            if checked is not None:
                await self._record(key, *checked)
                verdict = checked[1]
                if verdict.failure is None and verdict.retry_after is None:
                    # A passed check wires the sender's webhooks when asked for (a health
                    # check only retries a wiring that is still PENDING or FAILED).
                    self._services.wiring.wire(account_id, retry=key[2] is CheckKind.HEALTH)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("verification of account %s crashed; its lease will retry it", account_id)

    @asynccontextmanager
    async def _renewing(self, key: _Key) -> AsyncIterator[None]:
        """Renew the check's lease every third of it until the check ends (queued or running)."""
        renewal = asyncio.create_task(self._renew_every(key, self._lease.total_seconds() / 3))
        try:
            yield
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)

    async def _renew_every(self, key: _Key, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                if not await self._renew(key):
                    return  # no longer this check's account: its verdict will be discarded
            except Exception:
                log.warning("could not renew the lease of account %s; trying again", key[0])

    async def _renew(self, key: _Key, *, give_back: bool = False) -> bool:
        """Renew the lease for its full length, or give it back."""
        account_id, version, kind = key
        lease_until = None if give_back else self._services.clock() + self._lease
        async with unit_of_work(self._services.writes) as unit:
            return await queries.renew_lease(
                unit.session, account_id, version, kind.value, lease_until
            )

    async def _run(self, key: _Key) -> tuple[str, Verdict] | None:
        """(workspace, verdict) of the check, or None when the account is no longer its own."""
        account_id, version, kind = key
        async with self._slots:
            async with self._services.reads() as session:
                row = await queries.account_by_id(session, account_id)
            if row is None or row.status != kind.value or row.credentials_version != version:
                return None
            token = stored_token(self._services.secrets, row)
            if token is None:  # the key went between the verify and this check (or a sweep)
                return row.workspace_id, UNREADABLE
            credentials = Credentials(row.client_id, token, row.base_url)
            assert row.sender_id is not None
            port = self._services.sms[row.provider]
            async with self._per_account.held(row.client_id):
                # The account may have changed while this check queued: make sure it is still
                # this check's before calling the provider (this also renews the lease).
                if not await self._renew(key):
                    return None
                return row.workspace_id, await run_checks(port, credentials, row.sender_id)

    def _move(self, key: _Key, verdict: Verdict, now: datetime) -> AccountMove:
        """Where a check's verdict takes the account."""
        account_id, _, kind = key
        if verdict.retry_after is not None:
            return self._rescheduled(kind, verdict.retry_after, now)
        if verdict.failure is None:
            due = next_health_check(account_id, now, self._recheck_seconds)
            if kind is CheckKind.HEALTH:
                return still_verified(now, due, verdict.trial)
            return to_verified(now, due, verdict.trial)
        definite = public_failure(verdict.failure) in DEFINITE_FAILURES
        if kind is CheckKind.VERIFY or definite:
            return to_failed(
                verdict.failure,
                now,
                allowed_from=frozenset({kind.value}),
                checked=definite,
                trial=verdict.trial,
            )
        # The provider could not say: the account stays VERIFIED and is asked again soon.
        retry = min(INCONCLUSIVE_RETRY_SECONDS, self._recheck_seconds)
        return check_again(now + timedelta(seconds=retry))

    def _rescheduled(self, kind: CheckKind, retry_after: float, now: datetime) -> AccountMove:
        """The provider asked us to come back after the check's budget: that says nothing about
        the account, which keeps its status. The wait is capped (``max_wait_seconds``): a Verify
        stays VERIFYING with its lease held until then, so the first sweep after it resumes the
        check (and Verify answers "in progress" meanwhile); a health check is simply due then."""
        wait = timedelta(seconds=min(retry_after, self._max_wait_seconds))  # may be infinite
        if kind is CheckKind.VERIFY:
            return verify_later(now + wait)
        inconclusive = timedelta(seconds=min(INCONCLUSIVE_RETRY_SECONDS, self._recheck_seconds))
        return check_again(now + max(wait, inconclusive))

    async def _record(self, key: _Key, workspace_id: str, verdict: Verdict) -> None:
        account_id, version, kind = key
        _log_verdict(account_id, verdict)
        services = self._services
        move = self._move(key, verdict, services.clock())
        async with unit_of_work(services.writes) as unit:
            unit.on_commit(lambda: self._verdict_committed(key))
            row = await queries.account_by_id(unit.session, account_id)
            if row is None:
                return
            before = to_account(row, services.public_url)
            moved = await queries.move_account(unit.session, account_id, move, version=version)
            if moved is None:
                log.info("discarded a stale verdict for account %s", account_id)
                return
            after = to_account(moved, services.public_url)
            settled = kind is CheckKind.VERIFY and verdict.retry_after is None
            if settled or _as_shown(after) != _as_shown(before):
                announce_account(unit, services, moved, before=before)
            elif self._touched is not None:
                unit.after_commit(functools.partial(self._touched, workspace_id))


async def run_checks(port: SmsPort, credentials: Credentials, sender_id: str) -> Verdict:
    """The account and the sender, concurrently; the account's verdict comes first."""
    account, sender = await asyncio.gather(
        port.check_account(credentials),
        port.check_sender(credentials, sender_id),
        return_exceptions=True,
    )
    if isinstance(account, BaseException):
        return _verdict_of(account)
    if account.suspended:
        return Verdict(VerificationFailure.ACCOUNT_SUSPENDED, cause="the account is not active")
    if isinstance(sender, BaseException):
        return replace(_verdict_of(sender), trial=account.trial)
    return Verdict(None, trial=account.trial)


def _verdict_of(error: BaseException) -> Verdict:
    """The verdict of a check that raised ``error``."""
    waited = error.retry_after if isinstance(error, ProviderAskedToWait) else None
    return Verdict(_failure_of(error), cause=_cause_of(error), retry_after=waited)


def _log_verdict(account_id: str, verdict: Verdict) -> None:
    """One INFO line per verdict: what the card says and the real cause behind it."""
    if verdict.retry_after is not None:
        log.info(
            "verification of account %s rescheduled: the provider asked to wait %.0f s (cause=%s)",
            account_id,
            verdict.retry_after,
            verdict.cause or "none",
        )
        return
    stored = verdict.failure
    failure = "none" if stored is None else public_failure(stored).value
    if isinstance(stored, FailureReason):
        failure += f" ({stored.value})"
    log.info(
        "verification verdict account=%s failure=%s cause=%s",
        account_id,
        failure,
        verdict.cause or "none",
    )


def _cause_of(error: BaseException) -> str:
    return error.cause if isinstance(error, SmsProviderError) else type(error).__name__


def _failure_of(error: BaseException) -> StoredFailure:
    """The stored failure a check's error stands for; anything but a provider error is a bug."""
    if not isinstance(error, SmsProviderError):
        raise error
    reason = error.reason
    if isinstance(reason, VerificationFailure | FailureReason):
        return reason
    # A reason about a single request (never raised by a check): nothing speaks for the account.
    return VerificationFailure.BASE_URL
