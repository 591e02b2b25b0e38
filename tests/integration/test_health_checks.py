"""Scheduled health checks: a VERIFIED account is checked again once SMS_RECHECK_SECONDS have
passed (±10 % per account), stays VERIFIED while it is, and turns FAILED only when Twilio
definitely refuses it. Twilio is mocked with respx; everything else runs for real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx

from resolvers.events import accounts_channel, senders_channel
from tests.conftest import AUTH_TOKEN, PHONE, Api, Keys
from tests.integration.documents import ACCOUNT, SENDERS
from tests.integration.live import ACCOUNT_CHANGED, SENDERS_CHANGED, Live, Serve
from tests.integration.steps import (
    ACCOUNT_URL,
    BASE,
    added,
    enable,
    twilio_answers,
    update,
    verdict,
    verified_card,
    verify,
)
from tests.twilio_fixtures import account, error, incoming_numbers
from tests.ws_client import GraphQLSocket

# The shortest interval there is, and a sweep that notices a due account at once.
SOON = {"recheck_seconds": 1, "verify_sweep_seconds": 0.05}
ACTIVE = httpx.Response(200, json=account())
SUSPENDED = httpx.Response(200, json=account(status="suspended"))
UNAVAILABLE = httpx.Response(503, json=error(20500, 503))


def twilio_numbers(twilio: respx.Router) -> None:
    """Every account owns the test number, SMS capable."""
    numbers = rf"{BASE}/2010-04-01/Accounts/AC[0-9a-f]+/IncomingPhoneNumbers\.json"
    twilio.get(url__regex=numbers).respond(json=incoming_numbers((PHONE, True)))


async def card_of(api: Api, key: str, account_id: str) -> dict[str, Any]:
    card: dict[str, Any] = (await api.data(key, ACCOUNT, {"id": account_id}))["smsAccount"]
    return card


async def watch_until(
    api: Api, key: str, account_id: str, done: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], set[str]]:
    """Poll the card until ``done``: the card then, and every status seen on the way."""
    seen: set[str] = set()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        card = await card_of(api, key, account_id)
        seen.add(card["status"])
        if done(card):
            return card, seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"the card never got there: {card}")


@dataclass
class Feed:
    """One subscription on its own socket (so two feeds never interleave)."""

    ws: GraphQLSocket
    operation_id: str
    field: str

    async def next(self) -> Any:
        return (await self.ws.next_data(self.operation_id))[self.field]

    async def until(self, done: Callable[[Any], bool]) -> Any:
        """Skip what came before the first item for which ``done`` holds; that item."""
        while not done(item := await self.next()):
            pass
        return item


@asynccontextmanager
async def listening(live: Live, key: str) -> AsyncIterator[tuple[Feed, Feed]]:
    """Account events and sender lists of ``key``'s workspace, from now on."""
    async with live.socket(key) as accounts_ws, live.socket(key) as senders_ws:
        accounts = await live.subscribed(accounts_ws, key, ACCOUNT_CHANGED, accounts_channel)
        senders = await live.subscribed(senders_ws, key, SENDERS_CHANGED, senders_channel)
        yield (
            Feed(accounts_ws, accounts, "smsAccountChanged"),
            Feed(senders_ws, senders, "smsSendersChanged"),
        )


def checked_after(first: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    return lambda card: card["lastCheckedAt"] != first["lastCheckedAt"]


async def test_a_verified_account_is_checked_again_once_its_interval_has_passed(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)
    async with make_api(**SOON) as api:
        first = await verified_card(api, keys)
        again, statuses = await watch_until(api, keys.admin, first["id"], checked_after(first))

    assert first["lastCheckedAt"] == first["verifiedAt"]
    assert again["lastCheckedAt"] > first["lastCheckedAt"]
    assert statuses == {"VERIFIED"}  # no VERIFYING while it is checked again
    assert again["verifiedAt"] == first["verifiedAt"]
    assert routes["account"].call_count >= 2
    assert routes["numbers"].call_count >= 2


async def test_an_account_is_not_checked_again_before_its_interval(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)
    async with make_api(recheck_seconds=3600, verify_sweep_seconds=0.05) as api:
        card = await verified_card(api, keys)
        await asyncio.sleep(0.5)  # ten sweeps
        now = await card_of(api, keys.admin, card["id"])

    assert routes["account"].call_count == 1
    assert now["lastCheckedAt"] == card["lastCheckedAt"]


async def test_a_suspension_found_by_a_health_check_fails_the_account_and_empties_the_picker(
    serve: Serve,
    keys: Keys,
    twilio: respx.Router,
) -> None:
    twilio_answers(twilio, account_reply=[ACTIVE, SUSPENDED])
    async with serve(**SOON) as live, listening(live, keys.admin) as (accounts, senders):
        card = await verified_card(live.api, keys)
        await senders.until(bool)  # the verified card joined the picker
        event = await accounts.until(lambda event: event["account"]["status"] == "FAILED")
        picker = await senders.next()
        listed = (await live.api.data(keys.marketer, SENDERS))["smsSenders"]
        failed = await card_of(live.api, keys.admin, card["id"])

    assert event["kind"] == "STATUS_CHANGED"
    assert event["previousStatus"] == "VERIFIED"
    assert event["account"]["failure"] == "ACCOUNT_SUSPENDED"
    assert event["stats"]["verified"] == 0
    assert picker == listed == []
    assert failed["failure"] == "ACCOUNT_SUSPENDED"
    assert failed["verifiedAt"] is None
    assert failed["lastCheckedAt"] > card["lastCheckedAt"]


async def test_a_released_number_found_by_a_health_check_fails_the_account(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    released = httpx.Response(200, json=incoming_numbers())
    owned = httpx.Response(200, json=incoming_numbers((PHONE, True)))
    twilio_answers(twilio, numbers_reply=[owned, released])
    async with make_api(**SOON) as api:
        card = await verified_card(api, keys)
        failed, statuses = await watch_until(
            api, keys.admin, card["id"], lambda now: now["status"] != "VERIFIED"
        )

    assert failed["status"] == "FAILED"
    assert failed["failure"] == "INVALID_FROM_NUMBER"
    assert statuses == {"VERIFIED", "FAILED"}


async def test_twilio_being_down_keeps_the_account_verified_and_it_is_tried_again(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    # Verify, then a health check that meets four 503s (all its attempts), then one that works.
    routes = twilio_answers(twilio, account_reply=[ACTIVE, *[UNAVAILABLE] * 4, ACTIVE])
    async with make_api(**SOON) as api:
        first = await verified_card(api, keys)
        again, statuses = await watch_until(api, keys.admin, first["id"], checked_after(first))
        calls_then = routes["account"].call_count

    assert statuses == {"VERIFIED"}
    assert again["failure"] is None
    # The inconclusive check moved nothing: lastCheckedAt moved only with the answer after it.
    assert calls_then >= 6


async def test_a_health_check_that_changes_nothing_a_client_shows_pushes_no_event(
    serve: Serve,
    keys: Keys,
    twilio: respx.Router,
) -> None:
    routes = twilio_answers(twilio)
    async with serve(**SOON) as live, listening(live, keys.admin) as (accounts, senders):
        first = await verified_card(live.api, keys)
        await accounts.until(lambda event: event["account"]["status"] == "VERIFIED")
        await senders.until(bool)
        await watch_until(live.api, keys.admin, first["id"], checked_after(first))
        assert routes["account"].call_count >= 2
        await update(live.api, keys.admin, first["id"], displayName="Renamed")
        # The next events after Verify's are the rename's: the health check pushed none.
        event = await accounts.next()
        picker = await senders.next()

    assert event["kind"] == "UPDATED"
    assert event["account"]["displayName"] == "Renamed"
    assert [sender["displayName"] for sender in picker] == ["Renamed"]


async def test_an_edit_made_while_a_health_check_runs_wins_over_its_verdict(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    asked, release = asyncio.Event(), asyncio.Event()
    replies = [ACTIVE]

    async def first_active_then_slowly_suspended(request: httpx.Request) -> httpx.Response:
        if replies:
            return replies.pop()
        asked.set()
        await release.wait()
        return SUSPENDED

    twilio.get(ACCOUNT_URL).mock(side_effect=first_active_then_slowly_suspended)
    twilio_numbers(twilio)
    async with make_api(**SOON) as api:
        card = await verified_card(api, keys)
        await asyncio.wait_for(asked.wait(), 15)
        edited = await update(api, keys.admin, card["id"], authToken="0" * 32)
        release.set()
        await api.runtime.verifier.wait_idle()
        after = await card_of(api, keys.admin, card["id"])

    assert edited["errors"] == []
    assert after["status"] == "DRAFT"
    assert after["failure"] is None


async def test_two_replicas_run_each_due_health_check_once(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    calls: dict[str, int] = {}
    held = asyncio.Event()

    async def count_then_hold_health_checks(request: httpx.Request) -> httpx.Response:
        sid = request.url.path.split("/")[3].removesuffix(".json")
        calls[sid] = calls.get(sid, 0) + 1
        if calls[sid] > 1:
            await held.wait()  # the health check stays in flight, holding its lease
        return httpx.Response(200, json=account(sid))

    twilio.get(url__regex=rf"{BASE}/2010-04-01/Accounts/AC[0-9a-f]+\.json").mock(
        side_effect=count_then_hold_health_checks
    )
    twilio_numbers(twilio)
    sids = [f"AC{n:032x}" for n in range(1, 9)]
    replica = {**SOON, "verify_lease_seconds": 2}
    async with make_api(**replica) as a, make_api(**replica) as b:
        await enable(a, keys.admin)
        for sid in sids:
            card = await added(a, keys.admin, clientId=sid, authToken=AUTH_TOKEN)
            await verified_card_on(a, keys, card["id"])
        await until(lambda: all(calls.get(sid, 0) >= 2 for sid in sids))
        await asyncio.sleep(5)  # more than two leases: every sweep of both replicas had its go
        seen = dict(calls)
        held.set()
        await b.runtime.verifier.wait_idle()

    assert seen == dict.fromkeys(sids, 2)  # Verify's check, then one health check each


async def verified_card_on(api: Api, keys: Keys, account_id: str) -> None:
    await verify(api, keys.admin, account_id)
    assert (await verdict(api, keys.admin, account_id))["status"] == "VERIFIED"


async def until(condition: Callable[[], bool], within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("reply", "failure", "checked"),
    [(SUSPENDED, "ACCOUNT_SUSPENDED", True), (UNAVAILABLE, "PROVIDER_UNAVAILABLE", False)],
    ids=["twilio-refused", "twilio-down"],
)
async def test_last_checked_at_says_when_twilio_last_answered_for_the_account(
    api: Api, keys: Keys, twilio: respx.Router, reply: httpx.Response, failure: str, checked: bool
) -> None:
    twilio_answers(twilio, account_reply=reply)

    card = await verified_card(api, keys)

    assert card["failure"] == failure
    assert (card["lastCheckedAt"] is not None) is checked
