"""Campaigns as use cases: create, recipients, start, the engine's hand-overs, pause, resume and
cancel, the server's own pauses, and at-most-once (SQLite, a fake provider and clock)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.campaigns import CampaignStatus, RecipientStatus
from domain.vocabulary import ErrorCode, MessageStatus, VerificationFailure
from providers.sms.errors import OutcomeUnknown, ProviderAskedToWait, ProviderRefused
from resolvers import campaigns, integration, messages, webhooks
from resolvers.accounts import remove_account
from resolvers.campaign_engine import InProcessScheduler, send_campaign_batch
from resolvers.campaigns import RecipientInput
from storage import message_queries
from storage.models import SmsCampaignRecipientRow
from tests.campaigning import add, counts, created, current, numbers, run, started
from tests.unit.world import PUBLIC_URL, World, world_on


def refusal(reason: object, code: int = 21614) -> ProviderRefused:
    return ProviderRefused(reason, code=code, description=f"Fakeco error {code}.", cause="fake")  # type: ignore[arg-type]


async def outbox(world: World, campaign_id: str) -> dict[str, RecipientStatus]:
    async with world.services.reads() as session:
        rows = (
            await session.execute(
                select(SmsCampaignRecipientRow).where(
                    SmsCampaignRecipientRow.campaign_id == campaign_id  # type: ignore[arg-type]
                )
            )
        ).scalars()
        return {row.to_number: row.status for row in rows}


async def test_a_create_retried_with_the_same_key_answers_the_same_campaign(world: World) -> None:
    account = await world.verified()

    first = await created(world, account.id, key="spring-1")
    again = await created(world, account.id, key="spring-1")
    other = await created(world, account.id, key="spring-2")

    assert again.id == first.id
    assert other.id != first.id
    assert first.status is CampaignStatus.DRAFT
    assert first.status_message is None


async def test_a_create_names_every_problem_of_its_fields(world: World) -> None:
    account = await world.verified()

    result = await campaigns.create_campaign(
        world.services, world.caller, account.id, " ", "x" * 1601, ""
    )

    assert sorted((e.field, e.code) for e in result.errors if e.field) == [
        ("body", ErrorCode.INVALID),
        ("idempotencyKey", ErrorCode.INVALID),
        ("name", ErrorCode.REQUIRED),
    ]


async def test_duplicates_invalid_numbers_and_opted_out_recipients_are_counted_as_skipped(
    world: World,
) -> None:
    account = await world.verified()
    campaign = await created(world, account.id)
    async with world.services.writes() as session:
        await message_queries.opt_out(
            session, world.caller.workspace_id, "+14155550002", world.clock()
        )
        await session.commit()

    first = await add(world, campaign.id, [*numbers(3), " +14155550000", "0415 555", "+1 415"])
    second = await add(world, campaign.id, numbers(2, start=2))

    assert first.errors == []
    assert second.errors == []
    assert second.campaign is not None
    # total 8: +14155550000..02 (one opted out), a duplicate, two invalid; then ...02 (opted
    # out) and ...03 (new)
    assert counts(second.campaign.progress) == (8, 3, 0, 0, 0, 0, 5, 0)
    assert await outbox(world, campaign.id) == {
        "+14155550000": RecipientStatus.PENDING,
        "+14155550001": RecipientStatus.PENDING,
        "+14155550003": RecipientStatus.PENDING,
    }


async def test_a_call_over_the_limit_is_refused_whole_with_too_many(unit_database: Path) -> None:
    async with world_on(unit_database, campaign_recipients_per_call=3) as world:
        account = await world.verified()
        campaign = await created(world, account.id)

        refused = await add(world, campaign.id, numbers(4))

        assert [(e.field, e.code) for e in refused.errors] == [("recipients", ErrorCode.TOO_MANY)]
        assert counts((await current(world, campaign.id)).progress)[0] == 0


async def test_a_campaign_over_its_limit_is_refused_whole_with_too_many(
    unit_database: Path,
) -> None:
    async with world_on(unit_database, campaign_max_recipients=5) as world:
        account = await world.verified()
        campaign = await created(world, account.id)
        assert (await add(world, campaign.id, numbers(4))).errors == []

        refused = await add(world, campaign.id, numbers(2, start=10))

        assert [e.code for e in refused.errors] == [ErrorCode.TOO_MANY]
        assert (await current(world, campaign.id)).progress.total == 4


async def test_recipients_are_taken_only_while_draft(world: World) -> None:
    campaign = await started(world, numbers(1))

    refused = await add(world, campaign.id, numbers(1, start=5))

    assert [e.code for e in refused.errors] == [ErrorCode.CAMPAIGN_NOT_EDITABLE]
    assert (await current(world, campaign.id)).progress.total == 1


async def test_each_recipient_is_handed_over_once_with_a_callback_naming_its_row(
    world: World,
) -> None:
    campaign = await started(world, numbers(5), body="Spring is here")

    await run(world, campaign.id)

    done = await current(world, campaign.id)
    assert done.status is CampaignStatus.COMPLETED
    assert done.completed_at is not None
    assert counts(done.progress) == (5, 0, 5, 0, 0, 0, 0, 0)
    assert sorted(sent.to for sent in world.sms.sent) == numbers(5)
    assert {sent.body for sent in world.sms.sent} == {"Spring is here"}
    page = await messages.list_messages(
        world.services, world.caller, account_id=None, direction=None, first=10, after=None
    )
    callbacks = {sent.status_callback for sent in world.sms.sent}
    assert callbacks == {
        f"{PUBLIC_URL}/webhooks/twilio/{m.account_id}/status?mid={m.id}" for _, m in page.nodes
    }


async def test_the_pace_of_the_sender_spaces_the_hand_overs(world: World) -> None:
    campaign = await started(world, numbers(4))
    begun = world.clock()

    await run(world, campaign.id)

    # The account's default rate is one segment a second: four messages take three seconds.
    assert (world.clock() - begun).total_seconds() == pytest.approx(3.0, abs=0.01)


async def test_a_refused_recipient_fails_alone_and_the_rest_go_on(world: World) -> None:
    campaign = await started(world, numbers(2))
    world.sms.send_error = refusal(ErrorCode.PROVIDER_REJECTED)
    await send_campaign_batch(world.services, campaign.id)
    world.sms.send_error = None

    await run(world, campaign.id)

    assert counts((await current(world, campaign.id)).progress) == (2, 0, 1, 0, 0, 1, 0, 0)


async def test_a_provider_asking_to_wait_puts_the_recipient_back_for_after_the_wait(
    world: World,
) -> None:
    campaign = await started(world, numbers(1))
    world.sms.send_error = ProviderAskedToWait(30.0)

    wait = await send_campaign_batch(world.services, campaign.id)

    assert wait == 30.0
    assert counts((await current(world, campaign.id)).progress) == (1, 1, 0, 0, 0, 0, 0, 0)
    world.sms.send_error = None
    await run(world, campaign.id)
    assert len(world.sms.sent) == 2  # the one the provider never took, then the one it did
    assert counts((await current(world, campaign.id)).progress) == (1, 0, 1, 0, 0, 0, 0, 0)


async def test_a_recipient_who_opted_out_after_being_added_is_skipped_at_send_time(
    world: World,
) -> None:
    campaign = await started(world, numbers(2))
    async with world.services.writes() as session:
        await message_queries.opt_out(
            session, world.caller.workspace_id, numbers(1)[0], world.clock()
        )
        await session.commit()

    await run(world, campaign.id)

    assert [sent.to for sent in world.sms.sent] == numbers(2)[1:]
    assert counts((await current(world, campaign.id)).progress) == (2, 0, 1, 0, 0, 0, 1, 0)


async def test_a_paused_campaign_hands_nothing_over_until_resumed(world: World) -> None:
    campaign = await started(world, numbers(3))
    await send_campaign_batch(world.services, campaign.id)

    paused = await campaigns.pause_campaign(world.services, world.caller, campaign.id)

    assert paused.campaign is not None
    assert paused.campaign.status is CampaignStatus.PAUSED
    assert paused.campaign.status_message is None
    assert await send_campaign_batch(world.services, campaign.id) is None
    assert len(world.sms.sent) == 1
    resumed = await campaigns.resume_campaign(world.services, world.caller, campaign.id)
    assert resumed.campaign is not None
    assert resumed.campaign.status is CampaignStatus.SENDING
    world.clock.advance(seconds=1)
    await run(world, campaign.id)
    assert len(world.sms.sent) == 3


async def test_cancel_marks_every_recipient_left_skipped(world: World) -> None:
    campaign = await started(world, numbers(3))
    await send_campaign_batch(world.services, campaign.id)

    canceled = await campaigns.cancel_campaign(world.services, world.caller, campaign.id)

    assert canceled.campaign is not None
    assert canceled.campaign.status is CampaignStatus.CANCELED
    assert counts(canceled.campaign.progress) == (3, 0, 1, 0, 0, 0, 2, 0)
    assert await send_campaign_batch(world.services, campaign.id) is None
    again = await campaigns.resume_campaign(world.services, world.caller, campaign.id)
    assert [e.code for e in again.errors] == [ErrorCode.CAMPAIGN_NOT_EDITABLE]


async def test_turning_the_integration_off_pauses_sending_campaigns_until_it_is_back(
    world: World,
) -> None:
    campaign = await started(world, numbers(2))

    await integration.set_integration_enabled(world.services, world.caller, False)

    paused = await current(world, campaign.id)
    assert paused.status is CampaignStatus.PAUSED
    assert paused.status_message is not None
    assert "integration" in paused.status_message
    refused = await campaigns.resume_campaign(world.services, world.caller, campaign.id)
    assert [e.code for e in refused.errors] == [ErrorCode.INTEGRATION_DISABLED]
    assert (await current(world, campaign.id)).status is CampaignStatus.PAUSED
    await integration.set_integration_enabled(world.services, world.caller, True)
    resumed = await campaigns.resume_campaign(world.services, world.caller, campaign.id)
    assert resumed.errors == []
    assert resumed.campaign is not None
    assert resumed.campaign.status_message is None
    await run(world, campaign.id)
    assert counts((await current(world, campaign.id)).progress) == (2, 0, 2, 0, 0, 0, 0, 0)


async def test_an_account_no_longer_verified_pauses_its_campaigns_and_spends_no_one(
    world: World,
) -> None:
    campaign = await started(world, numbers(2))
    account_id = (await current(world, campaign.id)).account_id

    await world.update(account_id, auth_token="a-new-token-of-32-characters-000")

    paused = await current(world, campaign.id)
    assert paused.status is CampaignStatus.PAUSED
    assert paused.status_message is not None
    assert "no longer verified" in paused.status_message
    assert counts(paused.progress) == (2, 2, 0, 0, 0, 0, 0, 0)
    refused = await campaigns.resume_campaign(world.services, world.caller, campaign.id)
    assert [e.code for e in refused.errors] == [ErrorCode.ACCOUNT_NOT_VERIFIED]
    await world.verify(account_id)
    assert (await campaigns.resume_campaign(world.services, world.caller, campaign.id)).errors == []


async def test_a_sender_the_provider_refuses_pauses_the_campaign_without_failing_anyone(
    world: World,
) -> None:
    campaign = await started(world, numbers(2))
    world.sms.send_error = refusal(VerificationFailure.INVALID_FROM_NUMBER, code=21606)

    await run(world, campaign.id)

    paused = await current(world, campaign.id)
    assert paused.status is CampaignStatus.PAUSED
    assert counts(paused.progress) == (2, 2, 0, 0, 0, 0, 0, 0)


async def test_a_removed_account_pauses_its_campaigns_for_good(world: World) -> None:
    campaign = await started(world, numbers(1))

    await remove_account(world.services, world.caller, campaign.account_id)

    paused = await current(world, campaign.id)
    assert paused.status is CampaignStatus.PAUSED
    assert paused.status_message is not None
    assert "removed" in paused.status_message
    refused = await campaigns.resume_campaign(world.services, world.caller, campaign.id)
    assert [(e.field, e.code) for e in refused.errors] == [("accountId", ErrorCode.NOT_FOUND)]


async def report(world: World, account_id: str, message_id: str, sid: str, status: str) -> None:
    sender = await webhooks.signing_account(world.services, account_id)
    assert sender is not None
    fields = {"id": sid, "status": status}
    await webhooks.record_status(world.runtime.batcher, sender, account_id, fields, message_id)


async def test_an_unanswered_send_is_unconfirmed_then_settled_by_its_report(
    batching: World,
) -> None:
    world = batching
    campaign = await started(world, numbers(1))
    world.sms.send_error = OutcomeUnknown("no answer")

    await run(world, campaign.id)
    unconfirmed = await current(world, campaign.id)
    [sent] = world.sms.sent
    message_id = sent.status_callback.rsplit("=", 1)[1] if sent.status_callback else ""
    await report(world, campaign.account_id, message_id, "SID1", MessageStatus.DELIVERED.value)

    settled = await current(world, campaign.id)
    assert unconfirmed.status is CampaignStatus.COMPLETED
    assert counts(unconfirmed.progress) == (1, 0, 0, 0, 0, 0, 0, 1)
    assert counts(settled.progress) == (1, 0, 1, 1, 0, 0, 0, 0)


async def test_a_hand_over_whose_owner_died_is_never_sent_again(batching: World) -> None:
    """The process handing a recipient over dies between the provider's call and its answer:
    another run finds the SENDING row past its lease, makes it UNCONFIRMED and never resends
    it; the delivery report settles it."""
    world = batching
    campaign = await started(world, numbers(1))
    called, never = asyncio.Event(), asyncio.Event()
    send = world.sms.send

    async def hanging(credentials, message):  # type: ignore[no-untyped-def]
        await send(credentials, message)
        called.set()
        await never.wait()

    world.sms.send = hanging  # type: ignore[method-assign]
    dying = asyncio.create_task(send_campaign_batch(world.services, campaign.id))
    await called.wait()
    dying.cancel()  # the process is gone: its answer is never written
    world.sms.send = send  # type: ignore[method-assign]
    assert await send_campaign_batch(world.services, campaign.id) == 1.0  # still owned
    world.clock.advance(seconds=21)

    await run(world, campaign.id)

    assert len(world.sms.sent) == 1
    left = await current(world, campaign.id)
    assert left.status is CampaignStatus.COMPLETED
    assert counts(left.progress) == (1, 0, 0, 0, 0, 0, 0, 1)
    [sent] = world.sms.sent
    assert sent.status_callback is not None
    message_id = sent.status_callback.rsplit("=", 1)[1]
    await report(world, campaign.account_id, message_id, "SID9", MessageStatus.UNDELIVERED.value)
    assert counts((await current(world, campaign.id)).progress) == (1, 0, 1, 0, 1, 0, 0, 0)


async def test_campaigns_of_another_workspace_are_not_found(world: World) -> None:
    campaign = await started(world, numbers(1))
    stranger = replace(world.caller, workspace_id="another")

    assert await campaigns.get_campaign(world.services, stranger, campaign.id) is None
    refused = await campaigns.pause_campaign(world.services, stranger, campaign.id)
    assert [e.code for e in refused.errors] == [ErrorCode.NOT_FOUND]
    result = await campaigns.add_recipients(
        world.services, stranger, campaign.id, [RecipientInput("+14155550999")]
    )
    assert [e.code for e in result.errors] == [ErrorCode.NOT_FOUND]


async def test_the_in_process_scheduler_runs_a_campaign_to_its_end_and_keeps_no_task(
    unit_database: Path,
) -> None:
    async with world_on(unit_database) as world:
        scheduler = world.runtime.campaigns
        assert isinstance(scheduler, InProcessScheduler)  # SQLite: the embedded default's
        scheduler.start()
        try:
            account = await world.verified()
            await world.update(account.id, send_rate=500.0)
            campaign = await created(world, account.id)
            await add(world, campaign.id, numbers(3))

            await campaigns.start_campaign(world.services, world.caller, campaign.id)
            for _ in range(500):
                if (await current(world, campaign.id)).status is CampaignStatus.COMPLETED:
                    break
                world.clock.advance(seconds=1)  # the pace's time is the fake clock's
                await asyncio.sleep(0.01)

            assert (await current(world, campaign.id)).status is CampaignStatus.COMPLETED
            for _ in range(100):  # the task ends right after its last batch
                if scheduler.running == 0:
                    break
                await asyncio.sleep(0.01)
            assert scheduler.running == 0
        finally:
            await scheduler.stop()
