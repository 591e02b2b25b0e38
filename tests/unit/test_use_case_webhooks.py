"""What a provider's webhooks tell the use cases: delivery reports, replies, STOP and START, and
which secrets sign them (SQLite, a fake provider, no HTTP)."""

from __future__ import annotations

import pytest

from domain.messages import Message
from domain.vocabulary import MessageDirection, MessageStatus
from resolvers import messages, webhooks
from resolvers.accounts import remove_account
from resolvers.webhooks import SigningAccount
from storage import message_queries
from tests.fakes import SIGNATURE_HEADER, sign
from tests.unit.world import SECRET, World

CUSTOMER = "+14155550100"


async def signer(world: World, account_id: str) -> SigningAccount:
    found = await webhooks.signing_account(world.services, account_id)
    assert found is not None
    return found


async def sent_message(world: World) -> tuple[str, Message]:
    account = await world.verified()
    result = await messages.send_sms(world.services, world.caller, account.id, CUSTOMER, "Hi")
    assert result.message is not None
    return account.id, result.message


async def report(world: World, account_id: str, message: Message, status: str, **form: str) -> bool:
    sender = await signer(world, account_id)
    assert message.provider_message_id is not None
    fields = {"id": message.provider_message_id, "status": status, **form}
    return await webhooks.record_status(
        world.runtime.batcher, sender, account_id, fields, message.id
    )


async def test_a_delivery_report_moves_the_message_forward_only(batching: World) -> None:
    world = batching
    account_id, message = await sent_message(world)

    async with world.listening() as heard:
        delivered = await report(world, account_id, message, "DELIVERED")
        backwards = await report(world, account_id, message, "SENT")
        replayed = await report(world, account_id, message, "DELIVERED")

    assert (delivered, backwards, replayed) == (True, False, False)
    [pushed] = [m for _, m in heard.messages if isinstance(m, Message)]
    assert pushed.status is MessageStatus.DELIVERED


async def test_an_undelivered_report_keeps_the_providers_code_in_our_words(
    batching: World,
) -> None:
    world = batching
    account_id, message = await sent_message(world)

    await report(world, account_id, message, "UNDELIVERED", code="30003")

    page = await messages.list_messages(
        world.services, world.caller, account_id=None, direction=None, first=10, after=None
    )
    [(_, shown)] = page.nodes
    assert (shown.status, shown.error_code) == (MessageStatus.UNDELIVERED, 30003)
    assert shown.error_message == "Fakeco error 30003."


async def test_a_form_that_names_no_report_changes_nothing(batching: World) -> None:
    world = batching
    account_id, message = await sent_message(world)

    assert not await report(world, account_id, message, "NOT-A-STATUS")


async def test_a_reply_is_stored_once_and_announced(world: World) -> None:
    account = await world.verified()
    sender = await signer(world, account.id)
    form = {"id": "IN1", "from": CUSTOMER, "to": account.sender_id or "", "body": "Thanks!"}

    async with world.listening() as heard:
        first = await webhooks.record_inbound(world.services, sender, account.id, form)
        again = await webhooks.record_inbound(world.services, sender, account.id, form)

    assert (first, again) == (True, False)
    [pushed] = [m for _, m in heard.messages if isinstance(m, Message)]
    assert (pushed.direction, pushed.body, pushed.from_number) == (
        MessageDirection.INBOUND,
        "Thanks!",
        CUSTOMER,
    )


@pytest.mark.parametrize(
    ("stop", "start"),
    [({"body": " stop "}, {"body": "START"}), ({"opt": "OPT_OUT"}, {"opt": "OPT_IN"})],
)
async def test_stop_opts_the_number_out_and_start_back_in(
    world: World, stop: dict[str, str], start: dict[str, str]
) -> None:
    """By our keywords, or by the provider's own reading of the reply."""
    account = await world.verified()
    sender = await signer(world, account.id)
    workspace = world.caller.workspace_id

    await webhooks.record_inbound(
        world.services, sender, account.id, {"id": "IN1", "from": CUSTOMER, **stop}
    )
    async with world.services.reads() as session:
        out = await message_queries.is_opted_out(session, workspace, CUSTOMER)
    await webhooks.record_inbound(
        world.services, sender, account.id, {"id": "IN2", "from": CUSTOMER, **start}
    )
    async with world.services.reads() as session:
        back = await message_queries.is_opted_out(session, workspace, CUSTOMER)

    assert (out, back) == (True, False)


async def test_webhooks_are_checked_by_the_accounts_port_with_its_secret(world: World) -> None:
    account = await world.add()
    form = [("id", "IN1"), ("from", CUSTOMER)]
    url = "https://sms.example.com/webhooks/twilio/x/inbound"

    sender = await signer(world, account.id)

    assert sender.port is world.sms
    assert sender.workspace_id == world.caller.workspace_id
    assert sender.secrets == [SECRET]
    assert sender.port.signature_valid(
        url, form, {SIGNATURE_HEADER: sign(url, form, SECRET)}, sender.secrets
    )
    assert not sender.port.signature_valid(url, form, {SIGNATURE_HEADER: "forged"}, sender.secrets)


async def test_the_previous_secret_signs_until_its_grace_period_ends(world: World) -> None:
    account = await world.add()
    await world.update(account.id, auth_token="0" * 32)

    during = await signer(world, account.id)
    world.clock.advance(seconds=world.services.webhook_token_grace_seconds + 1)
    after = await signer(world, account.id)

    assert during.secrets == ["0" * 32, SECRET]
    assert after.secrets == ["0" * 32]


async def test_an_unknown_or_removed_account_has_no_signer(world: World) -> None:
    account = await world.add()

    await remove_account(world.services, world.caller, account.id)

    assert await webhooks.signing_account(world.services, account.id) is None
    assert await webhooks.signing_account(world.services, "no-such-account") is None
