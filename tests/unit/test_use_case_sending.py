"""Sending one SMS, as a use case: each answer the port can give, what is stored and announced,
and what it means for the account and the recipient (SQLite, a fake provider, no HTTP)."""

from __future__ import annotations

from domain.messages import Message
from domain.vocabulary import (
    AccountStatus,
    ErrorCode,
    MessageDirection,
    MessageStatus,
    SmsProvider,
    VerificationFailure,
)
from providers.sms.errors import (
    BaseUrlRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    Reason,
)
from resolvers import messages
from resolvers.events import AccountEvent
from resolvers.messages import SendResult
from storage import message_queries
from tests.fakes import fake_for
from tests.unit.world import PUBLIC_URL, World

TO = "+14155550100"


async def send(world: World, account_id: str, to: str = TO, body: str = "Hello") -> SendResult:
    return await messages.send_sms(
        world.services, world.caller, account_id, to, body, world.template
    )


def refusal(reason: Reason, code: int = 30007) -> ProviderRefused:
    return ProviderRefused(reason, code=code, description=f"Fakeco error {code}.", cause="fake")


async def test_a_message_is_handed_over_once_stored_and_announced(world: World) -> None:
    account = await world.verified()

    async with world.listening() as heard:
        result = await send(world, account.id)

    assert result.errors == []
    message = result.message
    assert message is not None
    assert (message.direction, message.status, message.segments) == (
        MessageDirection.OUTBOUND,
        MessageStatus.QUEUED,
        1,
    )
    assert message.provider_message_id == "FAKE00000001"
    [sent] = world.sms.sent
    assert (sent.sender, sent.to, sent.body) == (account.sender_id, TO, "Hello")
    assert (sent.dlt_entity_id, sent.dlt_template_id, sent.route) == (
        account.dlt_entity_id,
        world.template,
        account.route,
    )
    if world.sms.reports_per_account:  # reports come to the account's statusWebhookUrl
        assert sent.status_callback is None
    else:
        assert sent.status_callback == (
            f"{PUBLIC_URL}/webhooks/twilio/{account.id}/status?mid={message.id}"
        )
    assert [m for _, m in heard.messages if isinstance(m, Message)] == [message]


async def test_an_unanswered_send_stays_unconfirmed_and_is_never_repeated(world: World) -> None:
    account = await world.verified()
    world.sms.send_error = OutcomeUnknown("no answer")

    result = await send(world, account.id)

    assert result.message is not None
    assert result.message.status is MessageStatus.UNCONFIRMED
    assert [error.code for error in result.errors] == [ErrorCode.PROVIDER_UNAVAILABLE]
    assert len(world.sms.sent) == 1


async def test_a_refused_message_fails_alone_with_the_providers_code_in_our_words(
    world: World,
) -> None:
    account = await world.verified()
    world.sms.send_error = refusal(ErrorCode.PROVIDER_REJECTED)

    result = await send(world, account.id)

    assert result.message is not None
    assert (result.message.status, result.message.error_code) == (MessageStatus.FAILED, 30007)
    assert result.message.error_message == "Fakeco error 30007."
    assert [(e.code, e.message) for e in result.errors] == [
        (ErrorCode.PROVIDER_REJECTED, "Fakeco rejected the message: Fakeco error 30007.")
    ]
    assert (await world.row(account.id)).status is AccountStatus.VERIFIED


async def test_a_gone_sender_fails_the_send_and_the_account(world: World) -> None:
    account = await world.verified()
    world.sms.send_error = refusal(VerificationFailure.INVALID_FROM_NUMBER, 21606)

    async with world.listening() as heard:
        await send(world, account.id)

    row = await world.row(account.id)
    assert (row.status, row.failure) == (
        AccountStatus.FAILED,
        VerificationFailure.INVALID_FROM_NUMBER,
    )
    assert row.next_check_at is None
    [event] = [m for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert event.account.status is AccountStatus.FAILED


async def test_a_recipient_who_replied_stop_is_opted_out_and_refused_next_time(
    world: World,
) -> None:
    account = await world.verified()
    world.sms.send_error = refusal(ErrorCode.RECIPIENT_OPTED_OUT, 21610)

    await send(world, account.id)
    again = await send(world, account.id)

    assert [error.code for error in again.errors] == [ErrorCode.RECIPIENT_OPTED_OUT]
    assert len(world.sms.sent) == 1
    async with world.services.reads() as session:
        assert await message_queries.is_opted_out(session, world.caller.workspace_id, TO)


async def test_a_provider_that_cannot_be_reached_fails_the_message_not_the_account(
    world: World,
) -> None:
    account = await world.verified()
    world.sms.send_error = ProviderUnavailable("down")

    result = await send(world, account.id)

    assert result.message is not None
    assert result.message.status is MessageStatus.FAILED
    assert result.message.error_message == messages.unreachable(world.sms.label)
    assert (await world.row(account.id)).status is AccountStatus.VERIFIED


async def test_a_base_url_the_policy_now_refuses_fails_the_account(world: World) -> None:
    account = await world.verified()
    world.sms.send_error = BaseUrlRefused("not allowed")

    result = await send(world, account.id)

    assert [(e.field, e.code) for e in result.errors] == [
        ("accountId", ErrorCode.ACCOUNT_NOT_VERIFIED)
    ]
    assert (await world.row(account.id)).failure is VerificationFailure.BASE_URL


async def test_a_draft_account_sends_nothing(world: World) -> None:
    account = await world.add()

    result = await send(world, account.id)

    assert [error.code for error in result.errors] == [ErrorCode.ACCOUNT_NOT_VERIFIED]
    assert world.sms.sent == []


async def test_the_messages_page_shows_the_providers_codes_in_our_words(world: World) -> None:
    account = await world.verified()
    world.sms.sent_error_code = 30003

    await send(world, account.id)
    page = await messages.list_messages(
        world.services, world.caller, account_id=None, direction=None, first=10, after=None
    )

    [(_, message)] = page.nodes
    assert (message.error_code, message.error_message) == (30003, "Fakeco error 30003.")


async def test_the_dlt_template_id_is_required_where_the_provider_takes_one_and_refused_elsewhere(
    world: World,
) -> None:
    account = await world.verified()
    takes_one = world.sms.takes_dlt_template_id
    first_try = "" if takes_one else "1207161234567890123"

    refused = await messages.send_sms(world.services, world.caller, account.id, TO, "Hi", first_try)
    malformed = await messages.send_sms(world.services, world.caller, account.id, TO, "Hi", "T-1")

    expected = ErrorCode.REQUIRED if takes_one else ErrorCode.INVALID
    assert [(e.field, e.code) for e in refused.errors] == [("dltTemplateId", expected)]
    assert [(e.field, e.code) for e in malformed.errors] == [("dltTemplateId", ErrorCode.INVALID)]
    assert world.sms.sent == []  # nothing left, nothing stored
    page = await messages.list_messages(
        world.services, world.caller, account_id=None, direction=None, first=10, after=None
    )
    assert page.nodes == []


def test_the_dlt_template_check_is_one_the_campaign_path_can_call() -> None:
    """Campaigns check their dltTemplateId with the same rule as sendSms."""
    msg91 = fake_for(SmsProvider.MSG91)
    twilio = fake_for(SmsProvider.TWILIO)

    assert messages.check_dlt_template_id(msg91, " 1207161234567890123 ") == (
        "1207161234567890123",
        None,
    )
    assert messages.check_dlt_template_id(twilio, None) == (None, None)
    _, problem = messages.check_dlt_template_id(twilio, "1207", "input.dltTemplateId")
    assert problem is not None
    assert problem.field == "input.dltTemplateId"
