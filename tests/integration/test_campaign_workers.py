"""Campaigns on the job queue (procrastinate on PostgreSQL): a server with SMS_SERVE_WORKERS=0
only defers jobs, and a worker process sends them, each recipient once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import respx

from api.settings import Settings
from tests.conftest import PG_URL, Keys, phone
from tests.integration.campaign_steps import (
    CREATE,
    START,
    add,
    campaign_of,
    mutate,
    reaches,
    sent_to,
    twilio_takes_every_send,
)
from tests.integration.campaign_workers import campaign_worker
from tests.integration.messaging import PUBLIC_URL

pytestmark = pytest.mark.skipif(
    not (PG_URL or "").startswith("postgresql"), reason="needs SMS_TEST_DATABASE_URL=postgresql…"
)
TOS = sorted(phone(n) for n in range(8))


async def test_a_server_without_workers_sends_nothing_and_a_worker_sends_its_campaign(
    make_api: Any, keys: Keys, twilio: respx.Router, settings_factory: Callable[..., Settings]
) -> None:
    async with make_api(public_url=PUBLIC_URL, serve_workers=0) as api:
        _, campaign = await campaign_of(api, keys, twilio)
        route = twilio_takes_every_send(twilio)
        await add(api, keys.marketer, campaign["id"], TOS)
        await mutate(api, keys.marketer, START, id=campaign["id"])
        await asyncio.sleep(1.0)
        assert route.call_count == 0  # its job waits for a worker

        settings = settings_factory(public_url=PUBLIC_URL, retry_base_seconds=0.01)
        async with campaign_worker(settings, twilio, concurrency=2):
            done = await reaches(api, keys.sales, campaign["id"], "COMPLETED")

    assert sorted(sent_to(route)) == TOS
    assert (done["progress"]["sent"], done["progress"]["pending"]) == (len(TOS), 0)


async def test_two_workers_send_two_campaigns_each_recipient_once(
    make_api: Any, keys: Keys, twilio: respx.Router, settings_factory: Callable[..., Settings]
) -> None:
    async with make_api(public_url=PUBLIC_URL, serve_workers=0) as api:
        _, first = await campaign_of(api, keys, twilio, key="first")
        route = twilio_takes_every_send(twilio)
        fields = {"accountId": first["accountId"], "name": "Summer", "body": "Hello"}
        created = await mutate(
            api, keys.marketer, CREATE, input={**fields, "idempotencyKey": "second"}
        )
        second = created["campaign"]
        await add(api, keys.marketer, first["id"], TOS[:4])
        await add(api, keys.marketer, second["id"], TOS[4:])
        for campaign in (first, second):
            await mutate(api, keys.marketer, START, id=campaign["id"])

        settings = settings_factory(public_url=PUBLIC_URL, retry_base_seconds=0.01)
        async with (
            campaign_worker(settings, twilio, concurrency=1),
            campaign_worker(settings, twilio, concurrency=1),
        ):
            for campaign in (first, second):
                await reaches(api, keys.sales, campaign["id"], "COMPLETED")

    assert sorted(sent_to(route)) == TOS
