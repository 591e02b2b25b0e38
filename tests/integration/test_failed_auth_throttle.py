"""Failed authentication is slowed: past the threshold of failed key (or webhook signature)
checks in one second, one client address gets 429 with Retry-After; a live key always passes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Api, Keys
from tests.integration.documents import INTEGRATION

THRESHOLD = 3  # low, so that THRESHOLD + 1 failures surely fall within one second
BAD_KEY = "sms_00000000_not-a-key"
PUBLIC_URL = "https://sms.example.com"


@pytest.fixture
async def strict_api(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    async with make_api(auth_failures_per_second=THRESHOLD, public_url=PUBLIC_URL) as built:
        yield built


async def query(api: Api, key: str) -> httpx.Response:
    return await api.post(key, INTEGRATION)


async def test_too_many_failed_key_checks_get_429_with_retry_after(strict_api: Api) -> None:
    statuses = [(await query(strict_api, BAD_KEY)).status_code for _ in range(THRESHOLD)]
    refused = await query(strict_api, BAD_KEY)

    assert statuses == [401] * THRESHOLD
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}

    await asyncio.sleep(float(refused.headers["retry-after"]))
    assert (await query(strict_api, BAD_KEY)).status_code == 401


async def test_a_caller_with_a_live_key_is_never_slowed(strict_api: Api, keys: Keys) -> None:
    for _ in range(THRESHOLD * 5):
        assert (await query(strict_api, keys.sales)).status_code == 200
    for _ in range(THRESHOLD + 1):
        await query(strict_api, BAD_KEY)

    # The address is over the limit, yet the live key still goes through.
    assert (await query(strict_api, BAD_KEY)).status_code == 429
    assert (await query(strict_api, keys.sales)).status_code == 200


async def test_successes_do_not_count_towards_the_limit(strict_api: Api, keys: Keys) -> None:
    statuses = []
    for _ in range(THRESHOLD):
        assert (await query(strict_api, keys.sales)).status_code == 200
        statuses.append((await query(strict_api, BAD_KEY)).status_code)

    assert statuses == [401] * THRESHOLD


async def test_too_many_failed_webhook_signatures_get_429(strict_api: Api) -> None:
    async def forged() -> httpx.Response:
        return await strict_api.http.post(
            "/webhooks/twilio/00000000-0000-0000-0000-000000000000/status",
            content="MessageSid=SM1&MessageStatus=delivered",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": "forged",
            },
        )

    statuses = [(await forged()).status_code for _ in range(THRESHOLD)]
    refused = await forged()

    assert statuses == [403] * THRESHOLD
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
