"""Verify: check the account and its sender against Twilio in one round trip, in the background.

``verify_account`` answers at once with VERIFYING; the check runs as a task. Its verdict is written
only if the credentials it checked are still current (a conditional UPDATE whose row count is
checked), and VERIFYING carries a lease so a check lost with its process is picked up again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from providers.errors import (
    BaseUrlUnreachable,
    ProviderUnavailable,
    TwilioError,
    TwilioRejected,
    TwilioUnreachable,
)
from providers.twilio import Credentials, TwilioClient
from resolvers import events
from resolvers.accounts import AccountResult, secret_binding, to_account
from resolvers.domain import (
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
from storage.types import utcnow

log = logging.getLogger(__name__)

STARTED = "Verification process started"
NO_SENDER = "Verification failed: this account has no sender"
IN_PROGRESS = FieldError(
    "id",
    ErrorCode.VERIFICATION_IN_PROGRESS,
    "A verification of this account is already running; its result will show on the card.",
)
# Twilio error codes that mean "these credentials are not an account you can use".
AUTHENTICATION_FAILED = 20003
CREDENTIAL_CODES = {AUTHENTICATION_FAILED, 20404}
CREDENTIAL_STATUSES = {401, 403, 404}
# How many checks of one Twilio account may be in flight at once.
PER_TWILIO_ACCOUNT = 2


@dataclass(frozen=True, slots=True)
class Verdict:
    failure: StoredFailure | None
    trial: bool | None = None
    # Why, for the operator's log: an exception class or a short fact, never upstream text.
    cause: str | None = None


async def verify_account(services: Services, caller: Caller, account_id: str) -> AccountResult:
    """Start a check: VERIFYING now, the verdict later (pushed to subscribers)."""
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
        services.verifier.start(services, row.id, row.credentials_version)
    return AccountResult(account=account, message=message)


class Verifier:
    """Runs checks as background tasks, bounded overall and per Twilio account."""

    def __init__(self, twilio: TwilioClient, *, max_in_flight: int) -> None:
        self.twilio = twilio
        self._slots = asyncio.Semaphore(max_in_flight)
        self._per_account: dict[str, tuple[asyncio.Semaphore, int]] = {}
        # Checks in flight by (account, credentials version): a check of new credentials starts
        # even while one of old credentials (whose verdict will be discarded) still runs.
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._all: set[asyncio.Task[None]] = set()

    def start(self, services: Services, account_id: str, version: int) -> None:
        key = (account_id, version)
        if key in self._running:
            return  # that very check is running: its verdict will answer this request too
        task = asyncio.create_task(self._check(services, account_id, version))
        self._running[key] = task
        self._all.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: tuple[str, int], task: asyncio.Task[None]) -> None:
        self._all.discard(task)
        if self._running.get(key) is task:
            del self._running[key]

    def _verdict_committed(self, key: tuple[str, int]) -> None:
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
        """Cancel running checks; their leases let the next start pick them up."""
        for task in list(self._all):
            task.cancel()
        await asyncio.gather(*self._all, return_exceptions=True)

    async def sweep(self, services: Services) -> int:
        """Claim checks whose lease expired (their process died) and run them again."""
        now = utcnow()
        lease_until = now + timedelta(seconds=services.verify_lease_seconds)
        async with services.writes() as session:
            claimed = await queries.claim_expired_checks(session, now, lease_until)
            await session.commit()
        for account_id, version in claimed:
            self.start(services, account_id, version)
        return len(claimed)

    async def _check(self, services: Services, account_id: str, version: int) -> None:
        try:
            async with self._slots:
                await self._check_now(services, account_id, version)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("verification of account %s crashed; its lease will retry it", account_id)

    async def _check_now(self, services: Services, account_id: str, version: int) -> None:
        async with services.reads() as session:
            row = await queries.account_by_id(session, account_id)
        if (
            row is None
            or row.status != AccountStatus.VERIFYING.value
            or row.credentials_version != version
        ):
            return
        token = services.secrets.decrypt(row.auth_token_ciphertext, bound_to=secret_binding(row.id))
        credentials = Credentials(row.client_id, token, row.base_url)
        assert row.sender_id is not None
        async with self._account_slot(row.client_id):
            # Time spent queued for a slot must not eat the lease: renew it as the calls start.
            async with services.writes() as session:
                renewed = await queries.renew_lease(
                    session,
                    account_id,
                    version,
                    utcnow() + timedelta(seconds=services.verify_lease_seconds),
                )
                await session.commit()
            if not renewed:
                return  # the credentials changed, or the account went, while this check waited
            verdict = await run_checks(self.twilio, credentials, row.sender_id)
        _log_verdict(account_id, verdict)
        await _record(
            services,
            row.workspace_id,
            account_id,
            version,
            verdict,
            on_committed=lambda: self._verdict_committed((account_id, version)),
        )

    def _account_slot(self, account_sid: str) -> _AccountSlot:
        return _AccountSlot(self._per_account, account_sid)


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


async def _record(
    services: Services,
    workspace_id: str,
    account_id: str,
    version: int,
    verdict: Verdict,
    *,
    on_committed: Callable[[], None],
) -> None:
    now = utcnow()
    async with services.writes() as session:
        row = await queries.account_by_id(session, account_id)
        if row is None:
            return
        before = to_account(row, services.public_url)
        written = await queries.record_verdict(
            session,
            account_id,
            version,
            status=(AccountStatus.FAILED if verdict.failure else AccountStatus.VERIFIED).value,
            failure=verdict.failure.value if verdict.failure else None,
            trial=verdict.trial,
            verified_at=None if verdict.failure else now,
            now=now,
        )
        await session.commit()
        on_committed()  # no await between the commit and this
        if not written:
            log.info("discarded a stale verdict for account %s", account_id)
            return
        await session.refresh(row)
    await events.account_changed(
        services, workspace_id, to_account(row, services.public_url), before=before
    )


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
        failure = _failure_of(account, VerificationFailure.INVALID_CREDENTIALS)
        return Verdict(failure, cause=_cause_of(account))
    if account.failure is not None:
        return account
    if isinstance(sender, BaseException):
        rejected = _SENDER_FAILURE[sender_kind_of(sender_id)]
        return Verdict(_failure_of(sender, rejected), account.trial, _cause_of(sender))
    if sender is not None:
        return Verdict(sender, account.trial, "the sender is not on this account")
    return account


_SENDER_FAILURE = {
    SenderKind.PHONE_NUMBER: VerificationFailure.INVALID_FROM_NUMBER,
    SenderKind.MESSAGING_SERVICE: VerificationFailure.INVALID_MESSAGING_SERVICE,
}


def _log_verdict(account_id: str, verdict: Verdict) -> None:
    """One INFO line per verdict: what the card says and the real cause behind it."""
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
        if error.code == AUTHENTICATION_FAILED or error.status == 401:
            return VerificationFailure.INVALID_CREDENTIALS
        return rejected
    if isinstance(error, TwilioError):
        return VerificationFailure.BASE_URL
    raise error


async def _check_account(twilio: TwilioClient, credentials: Credentials) -> Verdict:
    try:
        info = await twilio.fetch_account(credentials)
    except TwilioRejected as rejected:
        if rejected.status in CREDENTIAL_STATUSES or rejected.code in CREDENTIAL_CODES:
            return Verdict(VerificationFailure.INVALID_CREDENTIALS, cause=rejected.cause)
        raise
    if info.sid != credentials.account_sid:
        return Verdict(VerificationFailure.INVALID_CREDENTIALS, cause="another account answered")
    if info.status != "active":
        return Verdict(VerificationFailure.ACCOUNT_SUSPENDED, cause="the account is not active")
    return Verdict(None, trial={"Trial": True, "Full": False}.get(info.type or ""))


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
