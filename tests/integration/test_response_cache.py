"""The hot-read response cache: a read after any change reflects it; roles, workspaces and
revoked keys never get an answer that is not theirs.

Each test first reads until the answer comes from the cache (``x-cache: hit``), then makes the
change through its real path, then reads again: a missed invalidation serves the stale bytes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from resolvers.api_keys import revoke_api_key
from storage.db import create_engine, create_sessionmakers
from tests.conftest import Api, Keys, phone
from tests.integration.documents import ACCOUNT, ACCOUNTS, INTEGRATION, REMOVE, SENDERS
from tests.integration.messaging import send, verified_account
from tests.integration.test_accounts import added, enable, update
from tests.integration.test_sending import twilio_sends
from tests.integration.test_verification import twilio_answers, verdict, verify
from tests.twilio_fixtures import error

TO = "+14155550100"
TOGGLE_OFF = "mutation { setSmsIntegrationEnabled(enabled: false) { errors { code } } }"


async def cached(api: Api, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """Read twice; the second answer must be a hit with the same bytes. Returns the data."""
    first = await api.post(key, query, variables)
    second = await api.post(key, query, variables)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("x-cache") == "hit", second.text
    assert second.content == first.content
    return second.json()["data"]


async def fresh(api: Api, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The next read must not come from the cache."""
    response = await api.post(key, query, variables)
    assert response.status_code == 200
    assert response.headers.get("x-cache") != "hit", response.text
    return response.json()["data"]


async def test_a_repeated_read_is_answered_from_the_cache_with_the_same_bytes(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Alerts")

    data = await cached(api, keys.admin, ACCOUNTS)

    assert [node["displayName"] for node in data["smsAccounts"]["nodes"]] == ["Alerts"]


async def test_adding_an_account_invalidates_the_accounts_page(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    await cached(api, keys.admin, ACCOUNTS)

    await added(api, keys.admin, displayName="New")

    page = (await fresh(api, keys.admin, ACCOUNTS))["smsAccounts"]
    assert page["stats"]["connected"] == 1


async def test_editing_an_account_invalidates_its_card(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="Before")
    await cached(api, keys.admin, ACCOUNT, {"id": account["id"]})

    await update(api, keys.admin, account["id"], displayName="After")

    card = (await fresh(api, keys.admin, ACCOUNT, {"id": account["id"]}))["smsAccount"]
    assert card["displayName"] == "After"


async def test_removing_an_account_invalidates_the_page(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    await cached(api, keys.admin, ACCOUNTS)

    await api.data(keys.admin, REMOVE, {"id": account["id"]})

    assert (await fresh(api, keys.admin, ACCOUNTS))["smsAccounts"]["nodes"] == []


async def test_the_toggle_invalidates_the_integration_read(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    assert (await cached(api, keys.marketer, INTEGRATION))["smsIntegration"]["enabled"] is True

    await api.data(keys.admin, TOGGLE_OFF)

    assert (await fresh(api, keys.marketer, INTEGRATION))["smsIntegration"]["enabled"] is False


async def test_a_background_verdict_invalidates_the_picker(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="Promo")
    assert (await cached(api, keys.marketer, SENDERS))["smsSenders"] == []
    twilio_answers(twilio)

    await verify(api, keys.admin, account["id"])
    assert (await verdict(api, keys.admin, account["id"]))["status"] == "VERIFIED"

    senders = (await fresh(api, keys.marketer, SENDERS))["smsSenders"]
    assert [sender["displayName"] for sender in senders] == ["Promo"]


async def test_a_send_rejected_for_its_credentials_invalidates_the_picker(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    assert len((await cached(api, keys.marketer, SENDERS))["smsSenders"]) == 1
    twilio_sends(twilio, httpx.Response(401, json=error(20003, 401, "Authenticate")))

    await send(api, keys.marketer, card["id"], TO, "hi")

    assert (await fresh(api, keys.marketer, SENDERS))["smsSenders"] == []


async def test_a_role_never_gets_another_roles_cached_answer(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin)
    await cached(api, keys.admin, ACCOUNTS)
    await cached(api, keys.marketer, SENDERS)

    for key, document in ((keys.marketer, ACCOUNTS), (keys.sales, SENDERS)):
        result = (await api.post(key, document)).json()
        assert [error["extensions"]["code"] for error in result["errors"]] == ["FORBIDDEN"]


async def test_another_workspace_never_gets_a_cached_answer(
    api: Api, keys: Keys, other_keys: Keys
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Acme only")
    await cached(api, keys.admin, ACCOUNTS)

    page = (await api.data(other_keys.admin, ACCOUNTS))["smsAccounts"]

    assert page["nodes"] == []


async def test_answers_with_errors_and_mutations_are_never_served_from_the_cache(
    api: Api, keys: Keys
) -> None:
    toggle = "mutation { setSmsIntegrationEnabled(enabled: true) { integration { enabled } } }"
    for key, document in ((keys.sales, SENDERS), (keys.admin, toggle)):
        answers = [await api.post(key, document) for _ in range(3)]
        assert all(answer.headers.get("x-cache") != "hit" for answer in answers)


async def test_a_revoked_key_is_not_served_from_the_cache_past_the_bound(
    make_api: Callable[..., Any], keys: Keys, database_url: str
) -> None:
    async with make_api(auth_cache_seconds=0.3) as api:
        await enable(api, keys.admin)
        await cached(api, keys.admin, INTEGRATION)
        await _revoke(database_url, keys.admin)

        await asyncio.sleep(0.35)

        assert (await api.post(keys.admin, INTEGRATION)).status_code == 401


async def test_the_cache_can_be_turned_off(make_api: Callable[..., Any], keys: Keys) -> None:
    async with make_api(response_cache_bytes=0) as api:
        answers = [await api.post(keys.admin, INTEGRATION) for _ in range(3)]
        assert all(answer.headers.get("x-cache") != "hit" for answer in answers)


@pytest.mark.parametrize("budget", [2_000])
async def test_a_small_budget_still_answers_every_read_correctly(
    make_api: Callable[..., Any], keys: Keys, budget: int
) -> None:
    async with make_api(response_cache_bytes=budget) as api:
        await enable(api, keys.admin)
        ids = [
            (await added(api, keys.admin, displayName=f"n{i}", senderId=phone(i)))["id"]
            for i in range(6)
        ]
        for _ in range(2):
            for number, account_id in enumerate(ids):
                card = (await api.data(keys.admin, ACCOUNT, {"id": account_id}))["smsAccount"]
                assert card["displayName"] == f"n{number}"


async def _revoke(database_url: str, key: str) -> None:
    engine = create_engine(database_url)
    _, writes = create_sessionmakers(engine)
    try:
        await revoke_api_key(writes, key)
    finally:
        await engine.dispose()


# --- two replicas: the versions live in Redis ------------------------------------------------

REDIS_URL = os.environ.get("SMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
async def two_replicas(make_api: Callable[..., Any]) -> AsyncIterator[tuple[Api, Api]]:
    """Two apps on one database and one Redis, as two replicas of a deployment."""
    probe = Redis.from_url(REDIS_URL)
    try:
        await probe.ping()
    except (OSError, RedisError):
        pytest.skip(f"no Redis at {REDIS_URL}")
    finally:
        await probe.aclose()
    async with (
        make_api(broadcast_url=REDIS_URL) as a,
        make_api(broadcast_url=REDIS_URL) as b,
    ):
        yield a, b


async def test_a_write_acknowledged_by_one_replica_invalidates_the_others_cache(
    two_replicas: tuple[Api, Api], keys: Keys, twilio: respx.Router
) -> None:
    a, b = two_replicas
    await enable(a, keys.admin)
    account = await added(a, keys.admin, displayName="Before")
    await cached(b, keys.admin, ACCOUNT, {"id": account["id"]})
    await cached(b, keys.marketer, SENDERS)

    await update(a, keys.admin, account["id"], displayName="After")
    card = (await fresh(b, keys.admin, ACCOUNT, {"id": account["id"]}))["smsAccount"]
    assert card["displayName"] == "After"

    twilio_answers(twilio)
    await verify(a, keys.admin, account["id"])
    assert (await verdict(a, keys.admin, account["id"]))["status"] == "VERIFIED"
    assert [s["displayName"] for s in (await fresh(b, keys.marketer, SENDERS))["smsSenders"]] == [
        "After"
    ]

    await cached(b, keys.admin, ACCOUNTS)
    await api_remove(a, keys.admin, account["id"])
    assert (await fresh(b, keys.admin, ACCOUNTS))["smsAccounts"]["nodes"] == []

    await cached(b, keys.marketer, INTEGRATION)
    await a.data(keys.admin, TOGGLE_OFF)
    assert (await fresh(b, keys.marketer, INTEGRATION))["smsIntegration"]["enabled"] is False


async def api_remove(api: Api, key: str, account_id: str) -> None:
    await api.data(key, REMOVE, {"id": account_id})
