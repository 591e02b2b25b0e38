"""Verify: check the account and its sender against Twilio in one round trip, in the background.

``verify_account`` answers at once with VERIFYING; the check runs as a task. Its verdict is written
only if the credentials it checked are still current (a conditional UPDATE whose row count is
checked), and VERIFYING carries a lease so a check lost with its process is picked up again.
Verified accounts are checked again on a schedule (health checks), the same way, without leaving
VERIFIED unless Twilio definitely refuses them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from providers.errors import (
    BaseUrlUnreachable,
    ProviderUnavailable,
    TwilioAskedToWait,
    TwilioError,
    TwilioRejected,
    TwilioUnreachable,
)
from providers.twilio import Credentials, TwilioClient
from resolvers import events
from resolvers.accounts import AccountResult, refuse_id, stored_token, to_account
from resolvers.domain import (
    CANNOT_DECRYPT,
    CANNOT_DECRYPT_MESSAGE,
    Account,
    AccountStatus,
    Caller,
    FailureReason,
    SenderKind,
    StoredFailure,
    VerificationFailure,
    public_failure,
)
from resolvers.errors import INTEGRATION_DISABLED, NOT_FOUND, ErrorCode, FieldError
from resolvers.services import Services
from resolvers.validation import sender_kind_of
from storage import queries
from storage.crypto import SecretBox
from storage.types import utcnow

log = logging.getLogger(__name__)

STARTED = "Verification process started"
NO_SENDER = "Verification failed: this account has no sender"
IN_PROGRESS = FieldError(
    "id",
    ErrorCode.VERIFICATION_IN_PROGRESS,
    "A verification of this account is already running; its result will show on the card.",
)
# How many checks of one Twilio account may be in flight at once.
PER_TWILIO_ACCOUNT = 2


@dataclass(frozen=True, slots=True)
class Verdict:
    failure: StoredFailure | None
    trial: bool | None = None
    # Why, for the operator's log: an exception class or a short fact, never upstream text.
    cause: str | None = None
    # Twilio asked to be called again in this many seconds (past the call's budget): no verdict
    # on the account, the check is rescheduled.
    retry_after: float | None = None

    @property
    def stored_failure(self) -> str | None:
        """What the failure column keeps: the public code, or the finer reason behind it."""
        return None if self.failure is None else self.failure.value


# No configured key opens the stored token: no call to Twilio can be made with it.
UNREADABLE = Verdict(FailureReason.TOKEN_UNREADABLE, cause="no configured key opens the token")


async def verify_account(services: Services, caller: Caller, account_id: str) -> AccountResult:
    """Start a check: VERIFYING now, the verdict later (pushed to subscribers)."""
    if refused := refuse_id(account_id):
        return refused
    now = utcnow()
    async with services.writes() as session:
        if not await queries.integration_enabled(session, caller.workspace_id):
            return AccountResult(errors=[INTEGRATION_DISABLED])
        row = await queries.live_account(session, caller.workspace_id, account_id, for_update=True)
        if row is None:
            return AccountResult(errors=[NOT_FOUND])
        lease = row.verify_lease_until
        if row.status == AccountStatus.VERIFYING.value and lease is not None and lease > now:
            return AccountResult(errors=[IN_PROGRESS])
        before = to_account(row, services.public_url)
        if row.sender_id is None:
            row.status = AccountStatus.FAILED.value
            row.failure = VerificationFailure.MISSING_SENDER.value
            row.verified_at = None
            message = NO_SENDER
        elif stored_token(services.secrets, row) is None:
            row.status = AccountStatus.FAILED.value
            row.failure = CANNOT_DECRYPT
            row.verified_at = None
            message = CANNOT_DECRYPT_MESSAGE
        else:
            row.status = AccountStatus.VERIFYING.value
            row.failure = None
            row.verify_lease_until = now + timedelta(seconds=services.verify_lease_seconds)
            message = STARTED
        row.updated_at = now
        session.add(row)
        await session.commit()
    account = to_account(row, services.public_url)
    await events.account_changed(services, caller.workspace_id, account, before=before)
    if account.status is AccountStatus.VERIFYING:
        services.verifier.start(row.id, row.credentials_version)
    return AccountResult(account=account, message=message)


class CheckKind(Enum):
    """Verify's check runs while the account is VERIFYING; a health check keeps it VERIFIED."""

    VERIFY = AccountStatus.VERIFYING.value
    HEALTH = AccountStatus.VERIFIED.value


# Outcomes of a health check that say the account cannot send: it turns FAILED. Any other
# failure (Twilio down, a timeout) says nothing about the account, which stays VERIFIED.
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

Publish = Callable[[str, Account, Account | None], Awaitable[None]]
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


class Verifier:
    """Runs checks as background tasks, bounded overall and per Twilio account.

    A check holds a lease on its account's row, claimed atomically (a conditional UPDATE) and
    renewed while the check runs, so each check runs on exactly one replica, and one whose
    process died is claimed by the next sweep of any replica once its short lease expires.
    """

    def __init__(
        self,
        *,
        reads: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        twilio: TwilioClient,
        publish: Publish,
        touched: Callable[[str], Awaitable[None]] | None = None,
        public_url: str | None,
        lease_seconds: float,
        recheck_seconds: float,
        max_in_flight: int,
        max_wait_seconds: float,
    ) -> None:
        self.twilio = twilio
        self._reads = reads
        self._writes = writes
        self._secrets = secrets
        self._publish = publish
        # A check that moved only what no event carries (lastCheckedAt) still changes what a
        # cached read shows: the workspace's cached reads are told so.
        self._touched = touched
        self._public_url = public_url
        self._lease = timedelta(seconds=lease_seconds)
        self._recheck_seconds = recheck_seconds
        self._max_wait_seconds = max_wait_seconds
        self._max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._per_account: dict[str, tuple[asyncio.Semaphore, int]] = {}
        # Checks in flight by (account, credentials version, kind): a check of new credentials
        # starts even while one of old credentials (whose verdict will be discarded) still runs.
        self._running: dict[_Key, asyncio.Task[None]] = {}
        self._all: set[asyncio.Task[None]] = set()

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
        self._all.discard(task)
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
        while self._all:
            await asyncio.gather(*self._all, return_exceptions=True)

    async def stop(self) -> None:
        """Cancel running checks and give their leases back, so that the next sweep of another
        replica resumes them instead of waiting for the leases to expire."""
        cancelled = list(self._running)
        for task in list(self._all):
            task.cancel()
        await asyncio.gather(*self._all, return_exceptions=True)
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
        now = utcnow()
        lease_until = now + self._lease
        legacy_cutoff = now - timedelta(seconds=self._recheck_seconds)
        async with self._writes() as session:
            resumed = await queries.claim_expired_checks(session, now, lease_until, room)
            due: list[tuple[str, int]] = []
            if len(resumed) < room:
                due = await queries.claim_due_health_checks(
                    session, now, legacy_cutoff, lease_until, room - len(resumed)
                )
            await session.commit()
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
        lease_until = None if give_back else utcnow() + self._lease
        async with self._writes() as session:
            renewed = await queries.renew_lease(
                session, account_id, version, kind.value, lease_until
            )
            await session.commit()
        return renewed

    async def _run(self, key: _Key) -> tuple[str, Verdict] | None:
        """(workspace, verdict) of the check, or None when the account is no longer its own."""
        account_id, version, kind = key
        async with self._slots:
            async with self._reads() as session:
                row = await queries.account_by_id(session, account_id)
            if row is None or row.status != kind.value or row.credentials_version != version:
                return None
            token = stored_token(self._secrets, row)
            if token is None:  # the key went between the verify and this check (or a sweep)
                return row.workspace_id, UNREADABLE
            credentials = Credentials(row.client_id, token, row.base_url)
            assert row.sender_id is not None
            async with self._account_slot(row.client_id):
                # The account may have changed while this check queued: make sure it is still
                # this check's before calling Twilio (this also renews the lease).
                if not await self._renew(key):
                    return None
                return row.workspace_id, await run_checks(self.twilio, credentials, row.sender_id)

    def _account_slot(self, account_sid: str) -> _AccountSlot:
        return _AccountSlot(self._per_account, account_sid)

    def _outcome(self, key: _Key, verdict: Verdict, now: datetime) -> dict[str, Any]:
        """The columns a check's verdict writes."""
        account_id, _, kind = key
        if verdict.retry_after is not None:
            return self._rescheduled(kind, verdict.retry_after, now)
        trial = {} if verdict.trial is None else {"trial": verdict.trial}
        if verdict.failure is None:
            due = next_health_check(account_id, now, self._recheck_seconds)
            confirmed = {"last_checked_at": now, "next_check_at": due, **trial}
            if kind is CheckKind.HEALTH:
                return confirmed
            return {
                **confirmed,
                "status": AccountStatus.VERIFIED.value,
                "failure": None,
                "verified_at": now,
                "updated_at": now,
            }
        definite = public_failure(verdict.failure) in DEFINITE_FAILURES
        if kind is CheckKind.VERIFY or definite:
            failed = {
                "status": AccountStatus.FAILED.value,
                "failure": verdict.stored_failure,
                "verified_at": None,
                "next_check_at": None,
                "updated_at": now,
                **trial,
            }
            # lastCheckedAt says when Twilio last answered for the account, not when it failed to.
            return {**failed, "last_checked_at": now} if definite else failed
        # Twilio could not say: the account stays VERIFIED and is asked again soon.
        retry = min(INCONCLUSIVE_RETRY_SECONDS, self._recheck_seconds)
        return {"next_check_at": now + timedelta(seconds=retry)}

    def _rescheduled(self, kind: CheckKind, retry_after: float, now: datetime) -> dict[str, Any]:
        """Twilio asked us to come back after the check's budget: that says nothing about the
        account, which keeps its status. The wait is capped (``max_wait_seconds``): a Verify
        stays VERIFYING with its lease held until then, so the first sweep after it resumes the
        check (and Verify answers "in progress" meanwhile); a health check is simply due then."""
        wait = timedelta(seconds=min(retry_after, self._max_wait_seconds))  # may be infinite
        if kind is CheckKind.VERIFY:
            return {"verify_lease_until": now + wait}
        inconclusive = timedelta(seconds=min(INCONCLUSIVE_RETRY_SECONDS, self._recheck_seconds))
        return {"next_check_at": now + max(wait, inconclusive)}

    async def _record(self, key: _Key, workspace_id: str, verdict: Verdict) -> None:
        account_id, version, kind = key
        _log_verdict(account_id, verdict)
        now = utcnow()
        async with self._writes() as session:
            row = await queries.account_by_id(session, account_id)
            if row is None:
                return
            before = to_account(row, self._public_url)
            written = await queries.record_check(
                session, account_id, version, kind.value, self._outcome(key, verdict, now)
            )
            await session.commit()
            self._verdict_committed(key)  # no await between the commit and this
            if not written:
                log.info("discarded a stale verdict for account %s", account_id)
                return
            await session.refresh(row)
        after = to_account(row, self._public_url)
        settled = kind is CheckKind.VERIFY and verdict.retry_after is None
        if settled or _as_shown(after) != _as_shown(before):
            await self._publish(workspace_id, after, before)
        elif self._touched is not None:
            await self._touched(workspace_id)


class _AccountSlot:
    """At most PER_TWILIO_ACCOUNT checks of one Twilio account at once (semaphores refcounted)."""

    def __init__(self, table: dict[str, tuple[asyncio.Semaphore, int]], key: str) -> None:
        self._table = table
        self._key = key

    async def __aenter__(self) -> None:
        semaphore, users = self._table.get(self._key, (asyncio.Semaphore(PER_TWILIO_ACCOUNT), 0))
        self._table[self._key] = (semaphore, users + 1)
        await semaphore.acquire()

    async def __aexit__(self, *exc: object) -> None:
        semaphore, users = self._table[self._key]
        semaphore.release()
        if users <= 1:
            del self._table[self._key]
        else:
            self._table[self._key] = (semaphore, users - 1)


async def run_checks(twilio: TwilioClient, credentials: Credentials, sender_id: str) -> Verdict:
    """The account and the sender, concurrently; the account's verdict comes first."""
    sender_check: Awaitable[VerificationFailure | None]
    if sender_id.startswith("+"):
        sender_check = _check_phone_number(twilio, credentials, sender_id)
    else:
        sender_check = _check_messaging_service(twilio, credentials, sender_id)
    account, sender = await asyncio.gather(
        _check_account(twilio, credentials), sender_check, return_exceptions=True
    )
    if isinstance(account, BaseException):
        return _verdict_of(account, VerificationFailure.INVALID_CREDENTIALS)
    if account.failure is not None:
        return account
    if isinstance(sender, BaseException):
        verdict = _verdict_of(sender, _SENDER_FAILURE[sender_kind_of(sender_id)])
        return replace(verdict, trial=account.trial)
    if sender is not None:
        return Verdict(sender, account.trial, "the sender is not on this account")
    return account


_SENDER_FAILURE = {
    SenderKind.PHONE_NUMBER: VerificationFailure.INVALID_FROM_NUMBER,
    SenderKind.MESSAGING_SERVICE: VerificationFailure.INVALID_MESSAGING_SERVICE,
}


def _verdict_of(error: BaseException, rejected: VerificationFailure) -> Verdict:
    """The verdict of a check that raised ``error``; ``rejected`` is what Twilio's refusal of
    the thing checked means."""
    waited = error.retry_after if isinstance(error, TwilioAskedToWait) else None
    return Verdict(_failure_of(error, rejected), cause=_cause_of(error), retry_after=waited)


def _log_verdict(account_id: str, verdict: Verdict) -> None:
    """One INFO line per verdict: what the card says and the real cause behind it."""
    if verdict.retry_after is not None:
        log.info(
            "verification of account %s rescheduled: Twilio asked to wait %.0f s (cause=%s)",
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
    return error.cause if isinstance(error, TwilioError) else type(error).__name__


def _failure_of(error: BaseException, rejected: VerificationFailure) -> StoredFailure:
    if isinstance(error, TwilioUnreachable):
        return FailureReason.TWILIO_UNREACHABLE
    if isinstance(error, ProviderUnavailable):
        return VerificationFailure.PROVIDER_UNAVAILABLE
    if isinstance(error, BaseUrlUnreachable):
        return VerificationFailure.BASE_URL
    if isinstance(error, TwilioRejected):
        # On a sender, "not found" (404 / 20404) means the sender, not the account.
        if error.bad_credentials:
            return VerificationFailure.INVALID_CREDENTIALS
        return rejected
    if isinstance(error, TwilioError):
        return VerificationFailure.BASE_URL
    raise error


async def _check_account(twilio: TwilioClient, credentials: Credentials) -> Verdict:
    try:
        info = await twilio.fetch_account(credentials)
    except TwilioRejected as rejected:
        # On the account itself, "not found" means these credentials are not an account.
        if rejected.bad_credentials or rejected.no_such_resource:
            return Verdict(VerificationFailure.INVALID_CREDENTIALS, cause=rejected.cause)
        raise
    if info.sid != credentials.account_sid:
        return Verdict(VerificationFailure.INVALID_CREDENTIALS, cause="another account answered")
    if not info.active:
        return Verdict(VerificationFailure.ACCOUNT_SUSPENDED, cause="the account is not active")
    return Verdict(None, trial=info.trial)


async def _check_phone_number(
    twilio: TwilioClient, credentials: Credentials, phone_number: str
) -> VerificationFailure | None:
    numbers = await twilio.incoming_numbers(credentials, phone_number)
    if any(number.phone_number == phone_number and number.sms for number in numbers):
        return None
    return VerificationFailure.INVALID_FROM_NUMBER


async def _check_messaging_service(
    twilio: TwilioClient, credentials: Credentials, service_sid: str
) -> VerificationFailure | None:
    service = await twilio.fetch_messaging_service(credentials, service_sid)
    if service.sid == service_sid and service.account_sid == credentials.account_sid:
        return None
    return VerificationFailure.INVALID_MESSAGING_SERVICE
