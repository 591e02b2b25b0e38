"""One sender's pace held across connections on PostgreSQL: two servers' pacers (each its own
engine and connections) draw on one sender at once, campaign claims and one-off sends mixed, and
no one-second window holds more than the rate plus one segment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from resolvers.pacing import Pacer, PaceRules, SenderBusy
from storage.db import create_engine, create_sessionmakers
from storage.types import utcnow
from tests.conftest import PG_URL, Api, Keys
from tests.integration.steps import added, enable
from tests.pacing_windows import busiest_window

pytestmark = pytest.mark.skipif(
    not (PG_URL or "").startswith("postgresql"), reason="needs SMS_TEST_DATABASE_URL=postgresql…"
)
RATE = 20.0
RUN_SECONDS = 2.5


@asynccontextmanager
async def pacers(database_url: str, count: int) -> AsyncIterator[list[Pacer]]:
    engines = [create_engine(database_url) for _ in range(count)]
    try:
        built = []
        for engine in engines:
            reads, writes = create_sessionmakers(engine)
            built.append(Pacer(reads, writes, PaceRules(), utcnow))
        yield built
    finally:
        for engine in engines:
            await engine.dispose()


async def draw(pacer: Pacer, account_id: str, sent: list[tuple[float, int]], one_off: bool) -> None:
    """Send as fast as the pace allows until the run ends, noting when each send left."""
    end = time.time() + RUN_SECONDS
    while time.time() < end:
        if one_off:
            try:
                await pacer.wait_for_slot(account_id, RATE, 1)
            except SenderBusy:
                continue
            sent.append((time.time(), 1))
            await asyncio.sleep(0.2)  # a one-off now and then, among the campaign's sends
            continue
        wait = await pacer.claim(account_id, RATE, 1)
        if wait == 0.0:
            sent.append((time.time(), 1))
        else:
            await asyncio.sleep(wait)


async def test_two_servers_drawing_on_one_sender_never_exceed_its_pace(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    sent: list[tuple[float, int]] = []
    async with pacers(database_url, 2) as both:
        tasks = [
            draw(pacer, account["id"], sent, one_off=index == 0)
            for pacer in both
            for index in range(3)
        ]
        await asyncio.gather(*tasks)
    assert busiest_window(sent) <= RATE + 1
    assert len(sent) >= RATE * RUN_SECONDS * 0.6  # the budget was used, not starved
