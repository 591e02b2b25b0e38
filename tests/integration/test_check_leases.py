"""Leases of running checks between replicas (apps of ``create_app`` on one database)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import respx

from tests.conftest import PHONE, Keys
from tests.integration.steps import ACCOUNT_URL, NUMBERS_URL, added, enable, verdict, verify
from tests.twilio_fixtures import account, incoming_numbers

# A lease far longer than the test: only a lease given back lets the other replica in.
LONG_LEASE = {"verify_lease_seconds": 600, "verify_sweep_seconds": 0.05}


async def test_a_replica_that_stops_gives_its_checks_back_to_the_others_at_once(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    arrived = asyncio.Event()
    answers: list[str] = []

    async def first_never_answered(request: httpx.Request) -> httpx.Response:
        if not answers:
            answers.append("lost")
            arrived.set()
            await asyncio.Event().wait()  # cancelled when its replica stops
        answers.append("answered")
        return httpx.Response(200, json=account())

    twilio.get(ACCOUNT_URL).mock(side_effect=first_never_answered)
    twilio.get(NUMBERS_URL).respond(json=incoming_numbers((PHONE, True)))
    async with make_api(**LONG_LEASE) as a:
        await enable(a, keys.admin)
        card = await added(a, keys.admin)
        await verify(a, keys.admin, card["id"])
        await asyncio.wait_for(arrived.wait(), 10)
    async with make_api(**LONG_LEASE) as b:
        final = await verdict(b, keys.admin, card["id"])

    assert final["status"] == "VERIFIED"
    assert answers == ["lost", "answered"]
