"""Verify and the health checks, as use cases: each verdict the port can give, and how the
account's state moves on it (SQLite, a fake provider, no HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.vocabulary import (
    AccountStatus,
    ErrorCode,
    FailureReason,
    StoredFailure,
    VerificationFailure,
    public_failure,
)
from providers.sms.errors import (
    BaseUrlUnreachable,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUnreachable,
    SmsProviderError,
)
from providers.sms.port import AccountFacts
from resolvers import accounts, verification
from resolvers.events import AccountEvent, AccountEventKind
from tests.unit.world import SECRET, World


def refused(reason: VerificationFailure | FailureReason) -> ProviderRefused:
    return ProviderRefused(reason, description="refused", cause="the fake refused")


async def test_verify_answers_verifying_at_once_and_the_verdict_follows(world: World) -> None:
    account = await world.add()
    world.sms.facts = AccountFacts(suspended=False, trial=True)

    async with world.listening() as heard:
        started = await verification.verify_account(world.services, world.caller, account.id)
        assert started.account is not None
        assert started.account.status is AccountStatus.VERIFYING
        assert started.message == verification.STARTED
        await world.checks_done()

    shown = await accounts.get_account(world.services, world.caller, account.id)
    assert shown is not None
    assert (shown.status, shown.trial, shown.failure) == (AccountStatus.VERIFIED, True, None)
    assert shown.verified_at == shown.last_checked_at == world.clock.now
    statuses = [m.account.status for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert statuses == [AccountStatus.VERIFYING, AccountStatus.VERIFIED]
    client_id = account.client_id  # Twilio: the Account SID; MSG91: the sender's header
    assert world.sms.calls_of("check_account") == [("check_account", client_id, SECRET)]
    assert world.sms.calls_of("check_sender") == [("check_sender", client_id, account.sender_id)]


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (refused(VerificationFailure.INVALID_CREDENTIALS), VerificationFailure.INVALID_CREDENTIALS),
        (ProviderUnavailable("busy"), VerificationFailure.PROVIDER_UNAVAILABLE),
        (ProviderUnreachable("no route"), FailureReason.PROVIDER_UNREACHABLE),
        (BaseUrlUnreachable("not the API"), VerificationFailure.BASE_URL),
    ],
)
async def test_each_refusal_of_the_account_fails_it_with_its_reason(
    world: World, error: SmsProviderError, failure: StoredFailure
) -> None:
    account = await world.add()
    world.sms.account_error = error

    await world.verify(account.id)

    row = await world.row(account.id)
    assert (row.status, row.failure) == (AccountStatus.FAILED, failure)


@pytest.mark.parametrize(
    "failure",
    [
        VerificationFailure.INVALID_FROM_NUMBER,
        VerificationFailure.INVALID_MESSAGING_SERVICE,
        VerificationFailure.INVALID_CREDENTIALS,
    ],
)
async def test_a_refused_sender_fails_the_account_with_its_reason(
    world: World, failure: VerificationFailure
) -> None:
    account = await world.add()
    world.sms.sender_error = refused(failure)

    await world.verify(account.id)

    shown = await accounts.get_account(world.services, world.caller, account.id)
    assert shown is not None
    assert (shown.status, shown.failure) == (AccountStatus.FAILED, failure)
    assert shown.failure_message is not None


async def test_a_suspended_account_fails_and_the_account_check_comes_first(world: World) -> None:
    account = await world.add()
    world.sms.facts = AccountFacts(suspended=True, trial=False)
    world.sms.sender_error = refused(VerificationFailure.INVALID_FROM_NUMBER)

    await world.verify(account.id)

    row = await world.row(account.id)
    assert (row.status, row.failure) == (
        AccountStatus.FAILED,
        VerificationFailure.ACCOUNT_SUSPENDED,
    )


async def test_an_account_without_a_sender_fails_at_once_without_a_call(
    twilio_world: World,
) -> None:
    world = twilio_world  # an MSG91 account cannot lose its header
    account = await world.add()
    await world.update(account.id, sender_id="")

    result = await world.verify(account.id)

    assert result.message == verification.NO_SENDER
    assert result.account is not None
    assert result.account.failure is VerificationFailure.MISSING_SENDER
    assert world.sms.calls == []


async def test_a_second_verify_while_the_check_holds_its_lease_starts_nothing(
    world: World,
) -> None:
    account = await world.add()
    await verification.verify_account(world.services, world.caller, account.id)

    again = await verification.verify_account(world.services, world.caller, account.id)
    await world.checks_done()

    assert [error.code for error in again.errors] == [ErrorCode.VERIFICATION_IN_PROGRESS]
    assert len(world.sms.calls_of("check_account")) == 1


async def test_a_verdict_on_credentials_changed_meanwhile_is_discarded(world: World) -> None:
    account = await world.add()
    await verification.verify_account(world.services, world.caller, account.id)
    await world.update(account.id, auth_token="0" * 32)  # before the check ran

    await world.checks_done()

    row = await world.row(account.id)
    assert row.status is AccountStatus.DRAFT


async def test_a_health_check_that_passes_moves_only_its_dates(world: World) -> None:
    account = await world.verified()
    before = await world.row(account.id)
    world.clock.advance(days=1)

    await world.health_check(account.id)

    after = await world.row(account.id)
    assert after.status is AccountStatus.VERIFIED
    assert after.verified_at == before.verified_at
    assert after.last_checked_at == world.clock.now
    assert after.next_check_at > world.clock.now + timedelta(hours=20)


async def test_a_health_check_the_provider_refuses_fails_the_account(world: World) -> None:
    account = await world.verified()
    world.sms.account_error = refused(VerificationFailure.INVALID_CREDENTIALS)

    async with world.listening() as heard:
        await world.health_check(account.id)

    row = await world.row(account.id)
    assert (row.status, row.next_check_at, row.verify_lease_until) == (
        AccountStatus.FAILED,
        None,
        None,
    )
    kinds = [m.kind for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert kinds == [AccountEventKind.STATUS_CHANGED]


async def test_a_health_check_that_cannot_tell_keeps_the_account_and_asks_again_soon(
    world: World,
) -> None:
    account = await world.verified()
    world.sms.account_error = ProviderUnavailable("busy")

    await world.health_check(account.id)

    row = await world.row(account.id)
    assert row.status is AccountStatus.VERIFIED
    assert row.next_check_at == world.clock.now + timedelta(
        seconds=verification.INCONCLUSIVE_RETRY_SECONDS
    )


async def test_the_sweep_claims_due_health_checks(world: World) -> None:
    account = await world.verified()
    world.clock.advance(days=2)

    resumed, health_checks = await world.runtime.verifier.sweep()
    await world.checks_done()

    assert (resumed, health_checks) == (0, 1)
    assert (await world.row(account.id)).last_checked_at == world.clock.now


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (
            refused(FailureReason.ADDRESS_NOT_ALLOWED),
            "add this server's address to the key's IP whitelist in MSG91",
        ),
        (ProviderUnreachable("no route"), "This server cannot reach MSG91"),
        (refused(VerificationFailure.INVALID_FROM_NUMBER), "6 letters"),
        (refused(VerificationFailure.INVALID_CREDENTIALS), "API Key (authkey)"),
    ],
)
async def test_an_msg91_failure_reads_in_msg91s_words(
    msg91_world: World, error: SmsProviderError, advice: str
) -> None:
    world = msg91_world
    account = await world.add()
    world.sms.account_error = error

    await world.verify(account.id)

    shown = await accounts.get_account(world.services, world.caller, account.id)
    assert shown is not None
    assert shown.status is AccountStatus.FAILED
    assert isinstance(error.reason, VerificationFailure | FailureReason)
    assert shown.failure is public_failure(error.reason)
    assert shown.failure_message is not None
    assert advice in shown.failure_message
    assert "Twilio" not in shown.failure_message
