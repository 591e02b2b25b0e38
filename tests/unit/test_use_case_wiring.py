"""Webhooks wired on Verify, as a use case: the sender's inbound webhook pointed at the account's
inbound URL when asked for, put back exactly as it was when the account lets go of the sender,
never clobbering what the customer changed since (SQLite, a fake provider, no HTTP)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from domain.vocabulary import AccountStatus, ErrorCode, VerificationFailure, WebhookWiringStatus
from providers.sms.errors import (
    ProviderRefused,
    ProviderUnavailable,
    ProviderUnreachable,
    SmsProviderError,
)
from providers.sms.port import InboundWebhook
from resolvers import accounts, integration, verification
from resolvers.events import AccountEvent, AccountEventKind
from resolvers.webhook_wiring import BY_HAND
from tests.unit.world import MG_SID, PHONE, PUBLIC_URL, World, world_on

THEIRS = InboundWebhook("https://crm.example.com/sms", "GET", "AP" + "2" * 32)


def ours(account_id: str) -> str:
    return f"{PUBLIC_URL}/webhooks/twilio/{account_id}/inbound"


def refusal(reason: ErrorCode | VerificationFailure, description: str) -> ProviderRefused:
    return ProviderRefused(reason, description=description, cause="the fake refused")


@pytest.fixture
def world(twilio_world: World) -> World:
    """Wiring points a sender's inbound webhook: only Twilio's senders have one (MSG91's replies
    need a virtual number this service does not manage)."""
    return twilio_world


async def wired_account(world: World) -> str:
    """A verified account whose number pointed at the customer's CRM, now wired to us."""
    world.sms.webhooks[PHONE] = THEIRS
    account = await world.verified(wire_webhooks=True)
    assert world.sms.webhooks[PHONE] == InboundWebhook(ours(account.id), "POST")
    return account.id


async def test_a_verified_account_that_asks_for_it_has_its_sender_pointed_at_its_inbound_url(
    world: World,
) -> None:
    world.sms.webhooks[PHONE] = THEIRS

    account = await world.verified(wire_webhooks=True)

    assert world.sms.webhooks[PHONE] == InboundWebhook(ours(account.id), "POST", None)
    webhooks = (await world.shown(account.id)).webhooks
    assert (webhooks.status, webhooks.inbound_url, webhooks.previous_inbound_url) == (
        WebhookWiringStatus.WIRED,
        ours(account.id),
        THEIRS.url,
    )
    assert webhooks.changed_at == world.clock.now


async def test_an_account_asking_for_wiring_waits_for_verify_and_one_not_asking_is_never_wired(
    world: World,
) -> None:
    asking = await world.add(wire_webhooks=True)
    assert asking.webhooks.status is WebhookWiringStatus.PENDING
    assert world.sms.calls_of("inbound_webhook") == []

    account = await world.verified(sender_id=MG_SID)

    assert (await world.shown(account.id)).webhooks.status is WebhookWiringStatus.OFF
    assert world.sms.calls_of("inbound_webhook") == []
    assert world.sms.webhook_changes == []


async def test_wiring_pushes_its_own_updated_event_after_the_verdict(world: World) -> None:
    account = await world.add(wire_webhooks=True)

    async with world.listening() as heard:
        await world.verify(account.id)

    events = [m for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert [(e.kind, e.account.status, e.account.webhooks.status) for e in events] == [
        (AccountEventKind.STATUS_CHANGED, AccountStatus.VERIFYING, WebhookWiringStatus.PENDING),
        (AccountEventKind.STATUS_CHANGED, AccountStatus.VERIFIED, WebhookWiringStatus.PENDING),
        (AccountEventKind.UPDATED, AccountStatus.VERIFIED, WebhookWiringStatus.WIRED),
    ]


async def test_a_messaging_service_is_wired_and_put_back_like_a_number(world: World) -> None:
    service_before = InboundWebhook(None, "POST", "defer to the numbers")
    world.sms.webhooks[MG_SID] = service_before
    account = await world.verified(wire_webhooks=True, sender_id=MG_SID)
    assert world.sms.webhooks[MG_SID] == InboundWebhook(ours(account.id), "POST")

    await world.update(account.id, wire_webhooks=False)

    assert world.sms.webhooks[MG_SID] == service_before


@pytest.mark.parametrize("new_sender", [MG_SID, ""])
async def test_changing_or_blanking_the_sender_puts_back_exactly_what_was_remembered(
    world: World, new_sender: str
) -> None:
    account_id = await wired_account(world)

    async with world.listening() as heard:
        await world.update(account_id, sender_id=new_sender)

    assert world.sms.webhooks[PHONE] == THEIRS  # url, method and the SMS application
    webhooks = (await world.shown(account_id)).webhooks
    assert webhooks.status is WebhookWiringStatus.PENDING  # still asked for: the next Verify
    assert webhooks.previous_inbound_url is None
    assert webhooks.message == f"Put back what {PHONE} pointed at before: {THEIRS.url}."
    wirings = [m.account.webhooks for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert [w.message for w in wirings] == [
        f"Putting back what {PHONE} pointed at before.",
        webhooks.message,
    ]


async def test_turning_wiring_off_puts_back_what_was_there_and_shows_off(world: World) -> None:
    account_id = await wired_account(world)

    await world.update(account_id, wire_webhooks=False)

    assert world.sms.webhooks[PHONE] == THEIRS
    shown = await world.shown(account_id)
    assert (shown.status, shown.webhooks.status) == (
        AccountStatus.VERIFIED,
        WebhookWiringStatus.OFF,
    )


async def test_removing_the_account_puts_back_what_was_there(world: World) -> None:
    account_id = await wired_account(world)

    removed = await accounts.remove_account(world.services, world.caller, account_id)
    await world.checks_done()

    assert removed.errors == []
    assert world.sms.webhooks[PHONE] == THEIRS


async def test_turning_the_integration_off_puts_back_and_waits_for_the_next_verify(
    world: World,
) -> None:
    account_id = await wired_account(world)

    await integration.set_integration_enabled(world.services, world.caller, False)
    await world.checks_done()

    assert world.sms.webhooks[PHONE] == THEIRS
    assert (await world.shown(account_id)).webhooks.status is WebhookWiringStatus.PENDING


async def test_a_url_the_customer_changed_since_is_never_clobbered(world: World) -> None:
    account_id = await wired_account(world)
    theirs_now = InboundWebhook("https://new-crm.example.com/in", "POST")
    world.sms.webhooks[PHONE] = theirs_now
    changes = len(world.sms.webhook_changes)

    await world.health_check(account_id)  # a health check does not rewire it
    await world.update(account_id, wire_webhooks=False)  # nor does the put-back touch it

    assert world.sms.webhooks[PHONE] == theirs_now
    assert len(world.sms.webhook_changes) == changes
    message = (await world.shown(account_id)).webhooks.message
    assert message is not None
    assert message.startswith(f"Left {PHONE} alone")


async def test_verifying_again_keeps_what_was_remembered_before_our_url(world: World) -> None:
    account_id = await wired_account(world)

    await world.verify(account_id)

    assert (await world.shown(account_id)).webhooks.previous_inbound_url == THEIRS.url
    assert len(world.sms.webhook_changes) == 1  # already ours: nothing to change


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (refusal(ErrorCode.PROVIDER_REJECTED, "Forbidden."), "did not let these credentials"),
        (
            refusal(VerificationFailure.INVALID_FROM_NUMBER, "The number cannot receive SMS."),
            "The number cannot receive SMS.",
        ),
        (ProviderUnavailable("busy"), "could not be reached"),
        (ProviderUnreachable("no route"), "could not be reached"),
    ],
)
async def test_a_failed_wiring_says_what_to_do_and_the_account_stays_verified(
    world: World, error: SmsProviderError, says: str
) -> None:
    if isinstance(error, ProviderRefused) and error.reason is ErrorCode.PROVIDER_REJECTED:
        world.sms.webhook_change_error = error  # read allowed, the update refused
    else:
        world.sms.webhook_error = error

    account = await world.verified(wire_webhooks=True)

    shown = await world.shown(account.id)
    assert (shown.status, shown.failure) == (AccountStatus.VERIFIED, None)
    assert shown.webhooks.status is WebhookWiringStatus.FAILED
    assert shown.webhooks.message is not None
    assert says in shown.webhooks.message
    assert BY_HAND in shown.webhooks.message


async def test_a_health_check_wires_what_failed_before(world: World) -> None:
    world.sms.webhook_error = ProviderUnavailable("busy")
    account = await world.verified(wire_webhooks=True)
    world.sms.webhook_error = None

    await world.health_check(account.id)

    assert (await world.shown(account.id)).webhooks.status is WebhookWiringStatus.WIRED
    assert world.sms.webhooks[PHONE].url == ours(account.id)


async def test_asking_for_wiring_on_a_verified_account_wires_it_at_once(world: World) -> None:
    account = await world.verified()

    await world.update(account.id, wire_webhooks=True)

    assert (await world.shown(account.id)).webhooks.status is WebhookWiringStatus.WIRED


async def test_without_a_public_address_the_wiring_fails_and_says_so(unit_database: Path) -> None:
    async with world_on(unit_database, public_url=None) as world:
        account = await world.verified(wire_webhooks=True)

        webhooks = (await world.shown(account.id)).webhooks
        assert webhooks.status is WebhookWiringStatus.FAILED
        assert webhooks.message is not None
        assert "this server does not know its public address (SMS_PUBLIC_URL)" in webhooks.message
        assert world.sms.calls_of("inbound_webhook") == []


async def test_a_sender_changed_while_it_was_being_wired_is_put_back_at_once(
    world: World,
) -> None:
    world.sms.webhooks[PHONE] = THEIRS
    world.sms.webhook_gate = asyncio.Event()
    account = await world.add(wire_webhooks=True)
    await verification.verify_account(world.services, world.caller, account.id)
    await world.runtime.verifier.wait_idle()  # verified; the wiring waits on the provider

    await accounts.update_account(world.services, world.caller, account.id, {"sender_id": MG_SID})
    world.sms.webhook_gate.set()
    await world.checks_done()

    assert world.sms.webhooks[PHONE] == THEIRS
    assert [sender for sender, _ in world.sms.webhook_changes] == [PHONE, PHONE]
    assert (await world.shown(account.id)).webhooks.status is WebhookWiringStatus.PENDING


async def test_verifying_again_what_is_wired_as_it_was_tells_nobody(world: World) -> None:
    account_id = await wired_account(world)

    async with world.listening() as heard:
        await world.verify(account_id)

    events = [m for _, m in heard.messages if isinstance(m, AccountEvent)]
    assert [e.kind for e in events] == [AccountEventKind.STATUS_CHANGED] * 2


async def test_a_wired_sender_that_cannot_be_read_again_stays_wired_and_is_still_put_back(
    world: World,
) -> None:
    account_id = await wired_account(world)
    world.sms.webhook_error = ProviderUnavailable("busy")
    await world.verify(account_id)
    assert (await world.shown(account_id)).webhooks.status is WebhookWiringStatus.WIRED
    world.sms.webhook_error = None

    await world.update(account_id, wire_webhooks=False)

    assert world.sms.webhooks[PHONE] == THEIRS


async def test_wiring_is_refused_for_a_provider_whose_senders_have_no_inbound_webhook(
    msg91_world: World,
) -> None:
    world = msg91_world
    refused = await accounts.add_account(
        world.services, world.caller, world.provider, world.form(), wire_webhooks=True
    )
    account = await world.verified()
    edit = await accounts.update_account(
        world.services, world.caller, account.id, {}, wire_webhooks=True
    )

    assert [(e.field, e.code) for e in refused.errors] == [("wireWebhooks", ErrorCode.INVALID)]
    assert [(e.field, e.code) for e in edit.errors] == [("wireWebhooks", ErrorCode.INVALID)]
    assert (await world.shown(account.id)).webhooks.status is WebhookWiringStatus.OFF
    assert world.sms.webhook_changes == []
