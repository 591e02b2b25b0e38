"""Helpers of the campaign tests (unit layer): create, fill, run the engine to its end with the
fake clock, and read the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple

from domain.campaigns import Campaign, Progress
from resolvers import campaigns
from resolvers.campaign_engine import send_campaign_batch
from resolvers.campaigns import CampaignResult, RecipientInput
from tests.unit.world import World


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1415555{index:04d}" for index in range(start, start + count)]


async def created(world: World, account_id: str, key: str = "k1", body: str = "Hi") -> Campaign:
    result = await campaigns.create_campaign(
        world.services, world.caller, account_id, "Spring sale", body, key, world.template
    )
    assert result.errors == [], result.errors
    assert result.campaign is not None
    return result.campaign


async def add(world: World, campaign_id: str, tos: Sequence[str]) -> CampaignResult:
    recipients = [RecipientInput(to) for to in tos]
    return await campaigns.add_recipients(world.services, world.caller, campaign_id, recipients)


async def started(world: World, tos: Sequence[str], body: str = "Hi") -> Campaign:
    """A verified account's campaign to ``tos``, started (not run yet)."""
    account = await world.verified()
    campaign = await created(world, account.id, body=body)
    assert (await add(world, campaign.id, tos)).errors == []
    result = await campaigns.start_campaign(world.services, world.caller, campaign.id)
    assert result.errors == [], result.errors
    assert result.campaign is not None
    return result.campaign


async def run(world: World, campaign_id: str, *, most: int = 1_000) -> int:
    """Call the engine until it is done, moving the fake clock by each wait; how many calls."""
    for calls in range(1, most + 1):
        wait = await send_campaign_batch(world.services, campaign_id)
        if wait is None:
            return calls
        world.clock.advance(seconds=wait)
    raise AssertionError(f"the campaign was not done after {most} batches")


async def current(world: World, campaign_id: str) -> Campaign:
    found = await campaigns.get_campaign(world.services, world.caller, campaign_id)
    assert found is not None
    assert found.progress.balanced, found.progress
    return found


def counts(progress: Progress) -> tuple[int, ...]:
    """(total, pending, sent, delivered, undelivered, failed, skipped, unconfirmed)."""
    return astuple(progress)
