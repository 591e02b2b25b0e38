"""The hot-read response cache: a read after any change reflects it; roles, workspaces and
revoked keys never get an answer that is not theirs; it fails closed when a version cannot be
bumped, and nothing in it outlives its TTL.

Each test first reads until the answer comes from the cache (``x-cache: hit``), then makes the
change through its real path, then reads again: a missed invalidation serves the stale bytes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from resolvers.api_keys import revoke_api_key
from storage.db import create_engine, create_sessionmakers
from tests.cli_process import sms_accounts
from tests.conftest import PG_URL, TEST_KEY, Api, Keys, issue_keys, phone
from tests.integration.documents import ACCOUNT, ACCOUNTS, INTEGRATION, REMOVE, SENDERS
from tests.integration.messaging import send, twilio_sends, verified_account
from tests.integration.steps import (
    added,
    enable,
    mark_verified,
    twilio_answers,
    update,
    verdict,
    verify,
)
from tests.redis_server import RedisProcess
from tests.stored_secrets import tamper
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

    # The verdict's events are announced after its commit, and may land after it is read.
    await hit_once(b, keys.admin, ACCOUNTS)
    await api_remove(a, keys.admin, account["id"])
    assert (await fresh(b, keys.admin, ACCOUNTS))["smsAccounts"]["nodes"] == []

    await cached(b, keys.marketer, INTEGRATION)
    await a.data(keys.admin, TOGGLE_OFF)
    assert (await fresh(b, keys.marketer, INTEGRATION))["smsIntegration"]["enabled"] is False


async def api_remove(api: Api, key: str, account_id: str) -> None:
    await api.data(key, REMOVE, {"id": account_id})


# --- failing closed, and the TTL ----------------------------------------------------------------

LONG_TTL = 60.0  # the longest the setting allows: a test that needs the TTL out of the way
SHORT_TTL = 0.5


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis of this test's own, which it may pause and stop."""
    server = RedisProcess(tmp_path).start()
    yield server
    server.stop()


async def eventually(check: Callable[[], Awaitable[bool]], failure: str) -> None:
    """Until ``check`` holds, within a generous bound (the machine is shared; no speed test)."""
    deadline = time.monotonic() + 30
    while not await check():
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.05)


async def hit_once(api: Api, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """Read until one answer is a hit: with a short TTL, two reads on a busy machine may
    straddle it. Returns that answer's data."""
    for _ in range(20):
        response = await api.post(key, query, variables)
        assert response.status_code == 200
        if response.headers.get("x-cache") == "hit":
            return response.json()["data"]
    raise AssertionError("never answered from the cache")


async def rename_behind_the_servers_back(database_url: str, account_id: str, name: str) -> None:
    """A change no server took part in: no event, no version bump."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE sms_accounts SET display_name = :name WHERE id = :id"),
            {"name": name, "id": account_id},
        )
    await engine.dispose()


async def test_an_entry_is_served_no_longer_than_its_ttl(
    make_api: Callable[..., Any], keys: Keys, database_url: str, redis_server: RedisProcess
) -> None:
    settings = {"broadcast_url": redis_server.url, "response_cache_ttl_seconds": SHORT_TTL}
    async with make_api(**settings) as api:
        await enable(api, keys.admin)
        account = await added(api, keys.admin, displayName="Before")
        await hit_once(api, keys.admin, ACCOUNT, {"id": account["id"]})
        await rename_behind_the_servers_back(database_url, account["id"], "After")

        await asyncio.sleep(SHORT_TTL)

        card = (await fresh(api, keys.admin, ACCOUNT, {"id": account["id"]}))["smsAccount"]
        assert card["displayName"] == "After"


async def test_a_bump_that_fails_during_a_mutation_fails_closed_and_is_retried_for_the_others(
    make_api: Callable[..., Any], keys: Keys, redis_server: RedisProcess
) -> None:
    # Redis takes reads but stalls every write (as a slow or failing-over Redis does) while
    # replica A saves a change: A's version bump times out and the mutation answers OK anyway.
    settings = {"broadcast_url": redis_server.url, "response_cache_ttl_seconds": LONG_TTL}
    control = Redis.from_url(redis_server.url)
    async with make_api(**settings) as a, make_api(**settings) as b:
        await enable(a, keys.admin)
        account = await added(a, keys.admin, displayName="Before")
        card = {"id": account["id"]}
        for replica in (a, b):
            await cached(replica, keys.admin, ACCOUNT, card)

        await control.execute_command("CLIENT", "PAUSE", "60000", "WRITE")  # type: ignore[no-untyped-call]
        try:
            saved = await update(a, keys.admin, account["id"], displayName="After")
            assert saved["errors"] == []
            # A's next reads reflect the change, and are not cached while the bump is owed.
            for _ in range(2):
                shown = (await fresh(a, keys.admin, ACCOUNT, card))["smsAccount"]
                assert shown["displayName"] == "After"
        finally:
            await control.execute_command("CLIENT", "UNPAUSE")  # type: ignore[no-untyped-call]
            await control.aclose()

        # Once Redis takes writes, A's retry bumps the version: B stops serving its stale entry
        # long before the TTL would have dropped it.
        async def b_shows_the_change() -> bool:
            shown = (await b.data(keys.admin, ACCOUNT, card))["smsAccount"]
            return bool(shown["displayName"] == "After")

        await eventually(b_shows_the_change, "replica B kept serving the old name")
        for replica in (a, b):
            assert (await cached(replica, keys.admin, ACCOUNT, card))["smsAccount"][
                "displayName"
            ] == "After"


async def a_verified_sender(api: Api, keys: Keys, database_url: str) -> dict[str, Any]:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="Promo")
    await mark_verified(database_url, account["id"])
    return account


async def forget_unreadable(database_url: str, account_id: str, cwd: Path, **more: str) -> None:
    """``rotate-keys --forget-unreadable`` run, with the servers' own keys, by an operator whose
    stored token no key opens any more (a damaged row); it must tell the servers what it could."""
    await tamper(database_url, account_id)
    env = {"SMS_DATABASE_URL": database_url, "SMS_ENCRYPTION_KEYS": TEST_KEY, **more}
    forgot = await sms_accounts("rotate-keys", "--forget-unreadable", env=env, cwd=cwd)
    assert forgot.returncode == 0, forgot.stderr
    assert "Dropped 1 unreadable secret(s)" in forgot.stdout
    assert "warning" not in forgot.stderr, forgot.stderr


async def test_forgetting_unreadable_tokens_from_the_cli_drops_them_from_cached_reads_at_once(
    make_api: Callable[..., Any],
    keys: Keys,
    database_url: str,
    redis_server: RedisProcess,
    tmp_path: Path,
) -> None:
    async with make_api(broadcast_url=redis_server.url, response_cache_ttl_seconds=LONG_TTL) as api:
        account = await a_verified_sender(api, keys, database_url)
        assert len((await cached(api, keys.marketer, SENDERS))["smsSenders"]) == 1
        await cached(api, keys.admin, ACCOUNTS)

        await forget_unreadable(
            database_url, account["id"], tmp_path, SMS_BROADCAST_URL=redis_server.url
        )

        assert (await fresh(api, keys.marketer, SENDERS))["smsSenders"] == []
        page = (await fresh(api, keys.admin, ACCOUNTS))["smsAccounts"]
        assert [node["id"] for node in page["nodes"]] == [account["id"]]
        assert page["nodes"][0]["status"] == "FAILED"
        assert page["stats"] == {"connected": 1, "verified": 0, "awaitingAction": 1}


async def test_without_redis_the_clis_forget_shows_in_cached_reads_within_the_ttl(
    make_api: Callable[..., Any], keys: Keys, database_url: str, tmp_path: Path
) -> None:
    if PG_URL:
        pytest.skip("on PostgreSQL the cache needs Redis (tested above with one)")
    async with make_api(broadcast_url="memory://", response_cache_ttl_seconds=SHORT_TTL) as api:
        account = await a_verified_sender(api, keys, database_url)
        await hit_once(api, keys.marketer, SENDERS)

        await forget_unreadable(database_url, account["id"], tmp_path)
        await asyncio.sleep(SHORT_TTL)

        assert (await fresh(api, keys.marketer, SENDERS))["smsSenders"] == []


async def test_revoking_a_key_from_the_cli_drops_its_workspaces_cached_answers_at_once(
    make_api: Callable[..., Any],
    keys: Keys,
    database_url: str,
    redis_server: RedisProcess,
    tmp_path: Path,
) -> None:
    colleague = await issue_keys(database_url, "acme")  # the same workspace and roles
    async with make_api(broadcast_url=redis_server.url, response_cache_ttl_seconds=LONG_TTL) as api:
        await enable(api, keys.admin)
        await cached(api, keys.marketer, INTEGRATION)

        revoked = await sms_accounts(
            "revoke-api-key",
            keys.marketer,
            # The servers' own keys: the CLI seals what it tells them over Redis with them (and on
            # PostgreSQL there is no key file to fall back on).
            env={
                "SMS_DATABASE_URL": database_url,
                "SMS_BROADCAST_URL": redis_server.url,
                "SMS_ENCRYPTION_KEYS": TEST_KEY,
            },
            cwd=tmp_path,
        )

        assert revoked.returncode == 0, revoked.stderr
        assert "warning" not in revoked.stderr, revoked.stderr
        # The answer the revoked key was served is not served to anyone any more...
        await fresh(api, colleague.marketer, INTEGRATION)

        # ...and the key itself is refused as soon as the server has heard of it.
        async def refused() -> bool:
            status: int = (await api.post(keys.marketer, INTEGRATION)).status_code
            return status == 401

        await eventually(refused, "the revoked key was still accepted")
