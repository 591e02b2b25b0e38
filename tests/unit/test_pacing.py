"""Pacing per sender, under a fake clock: campaign claims take only free budget, one-off sends
reserve the next slot ahead of them, and no one-second window holds more than the rate plus one
segment."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from domain.vocabulary import AccountStatus, ErrorCode
from resolvers import messages
from resolvers.pacing import Pacer, SenderBusy
from tests.pacing_windows import busiest_window
from tests.unit.world import MG_SID, World, world_on

TO = "+14155550199"


@pytest.fixture
def world(twilio_world: World) -> World:
    """Pacing is the provider's business only through the rate: these tests count in a Twilio
    phone number's and Messaging Service's defaults (1 and 10 segments a second)."""
    return twilio_world


def pacer(world: World) -> Pacer:
    return world.services.pacer


def now(world: World) -> float:
    return world.clock().timestamp()


async def test_a_campaign_claim_takes_only_free_budget_and_says_how_long_to_wait(
    world: World,
) -> None:
    account = await world.verified()
    assert await pacer(world).claim(account.id, 2.0, 1) == 0.0
    assert await pacer(world).claim(account.id, 2.0, 1) == pytest.approx(0.5)
    world.clock.advance(seconds=0.5)
    assert await pacer(world).claim(account.id, 2.0, 1) == 0.0


async def test_a_message_of_several_segments_waits_for_its_segments_but_the_last(
    world: World,
) -> None:
    account = await world.verified()
    assert await pacer(world).claim(account.id, 1.0, 1) == 0.0
    # The next slot is 1 s away; three segments pay two more gaps before they leave.
    assert await pacer(world).claim(account.id, 1.0, 3) == pytest.approx(3.0)
    world.clock.advance(seconds=3)
    assert await pacer(world).claim(account.id, 1.0, 3) == 0.0
    assert await pacer(world).claim(account.id, 1.0, 1) == pytest.approx(3.0)


async def test_a_one_off_send_reserves_the_next_slot_ahead_of_campaign_claims(
    world: World,
) -> None:
    account = await world.verified()
    assert await pacer(world).claim(account.id, 1.0, 1) == 0.0
    world.clock.advance(seconds=0.25)
    await pacer(world).wait_for_slot(account.id, 1.0, 1)
    assert world.clock.slept == [pytest.approx(0.75)]  # it waited for the next slot, at 1 s
    # The campaign finds the slot after it taken: it waits a whole gap more.
    assert await pacer(world).claim(account.id, 1.0, 1) == pytest.approx(1.0)


async def test_a_one_off_slot_further_away_than_the_wait_allowed_is_refused_and_takes_nothing(
    world: World,
) -> None:
    account = await world.verified()
    await pacer(world).wait_for_slot(account.id, 0.1, 1)
    with pytest.raises(SenderBusy) as refused:
        await pacer(world).wait_for_slot(account.id, 0.1, 1)
    assert refused.value.wait_seconds == pytest.approx(10.0)
    world.clock.advance(seconds=10)
    assert await pacer(world).claim(account.id, 0.1, 1) == 0.0


async def test_a_slowed_down_sender_takes_longer_gaps_until_the_slowdown_ends(
    world: World,
) -> None:
    account = await world.verified()
    await pacer(world).slow_down(account.id)  # 60 s at half the pace (the defaults)
    assert await pacer(world).claim(account.id, 1.0, 1) == 0.0
    assert await pacer(world).claim(account.id, 1.0, 1) == pytest.approx(2.0)
    world.clock.advance(seconds=60)
    assert await pacer(world).claim(account.id, 1.0, 1) == 0.0
    assert await pacer(world).claim(account.id, 1.0, 1) == pytest.approx(1.0)


async def test_no_one_second_window_holds_more_than_the_rate_plus_one_segment(
    world: World,
) -> None:
    account = await world.verified()
    rate = 3.0
    draw = random.Random(16)
    sent: list[tuple[float, int]] = []
    for _ in range(400):
        size = draw.choice([1, 1, 1, 2, 3])
        if draw.random() < 0.2:
            try:
                await pacer(world).wait_for_slot(account.id, rate, size)
            except SenderBusy:
                continue
            sent.append((now(world), size))
        elif await pacer(world).claim(account.id, rate, size) == 0.0:
            sent.append((now(world), size))
        world.clock.advance(seconds=draw.uniform(0, 0.2))
    assert busiest_window(sent) <= rate + 1
    span = sent[-1][0] - sent[0][0]
    assert sum(size for _, size in sent) / span > rate * 0.5  # it did keep sending


async def test_single_segment_claims_run_at_the_rate(world: World) -> None:
    account = await world.verified()
    sent = []
    for _ in range(200):
        wait = await pacer(world).claim(account.id, 10.0, 1)
        if wait == 0.0:
            sent.append((now(world), 1))
        else:
            world.clock.advance(seconds=wait)
    assert busiest_window(sent) <= 11
    assert (len(sent) - 1) / (sent[-1][0] - sent[0][0]) == pytest.approx(10.0, rel=0.01)


async def test_send_sms_waits_for_its_senders_slot(world: World) -> None:
    account = await world.verified()
    first = await messages.send_sms(
        world.services, world.caller, account.id, TO, "One", world.template
    )
    second = await messages.send_sms(
        world.services, world.caller, account.id, TO, "Two", world.template
    )
    assert (first.errors, second.errors) == ([], [])
    assert world.clock.slept == [pytest.approx(1.0)]  # a phone number: 1 segment a second
    assert [sms.body for sms in world.sms.sent] == ["One", "Two"]


async def test_send_sms_beyond_the_wait_allowed_is_refused_and_nothing_leaves(
    unit_database: Path,
) -> None:
    async with world_on(unit_database, send_max_wait_seconds=0.5) as world:
        account = await world.verified()
        await messages.send_sms(world.services, world.caller, account.id, TO, "One", world.template)
        refused = await messages.send_sms(
            world.services, world.caller, account.id, TO, "Two", world.template
        )
        assert refused.message is None
        assert [error.code for error in refused.errors] == [ErrorCode.TOO_MANY]
        assert "1.0 s away" in refused.errors[0].message
        assert [sms.body for sms in world.sms.sent] == ["One"]


async def test_a_new_account_takes_its_sender_kinds_default_rate(world: World) -> None:
    phone = await world.add()
    service = await world.add(sender_id=MG_SID)
    assert (phone.send_rate_per_second, service.send_rate_per_second) == (1.0, 10.0)


async def test_a_rate_left_at_its_default_follows_a_new_sender_kind(world: World) -> None:
    account = await world.add()
    moved = await world.update(account.id, sender_id=MG_SID)
    assert moved.account is not None
    assert moved.account.send_rate_per_second == 10.0


async def test_a_chosen_rate_stays_when_the_sender_changes_and_keeps_the_status(
    world: World,
) -> None:
    account = await world.verified()
    changed = await world.update(account.id, send_rate=2.5)
    assert changed.account is not None
    assert changed.account.status is AccountStatus.VERIFIED
    moved = await world.update(account.id, sender_id=MG_SID)
    assert moved.account is not None
    assert moved.account.send_rate_per_second == 2.5


@pytest.mark.parametrize("rate", [0.05, 500.5, float("inf")])
async def test_a_rate_outside_a_tenth_to_500_is_refused(world: World, rate: float) -> None:
    account = await world.add()
    refused = await world.update(account.id, send_rate=rate)
    assert [(e.field, e.code) for e in refused.errors] == [("sendRatePerSecond", ErrorCode.INVALID)]


async def test_a_campaign_batch_takes_the_free_slot_and_the_next_ones_within_its_look_ahead(
    world: World,
) -> None:
    account = await world.verified()
    delays, wait = await pacer(world).claim_batch(account.id, 10.0, [1, 1, 1, 1, 1])
    assert (delays, wait) == ([0.0, pytest.approx(0.1), pytest.approx(0.2)], 0.0)
    # Nothing is free now: nothing is taken, and it says when.
    none, wait = await pacer(world).claim_batch(account.id, 10.0, [1])
    assert none == []
    assert wait == pytest.approx(0.3)
    world.clock.advance(seconds=0.3)
    assert (await pacer(world).claim_batch(account.id, 10.0, [1]))[0] == [0.0]
