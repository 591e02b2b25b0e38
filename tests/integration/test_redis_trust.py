"""Nothing read from Redis is trusted, through the app of ``create_app``: cache versions written
to Redis by hand are not served from, a replica deaf to the bus says it is not ready, and what the
app publishes on Redis holds no phone number in clear. (The bus's own cases, forged, replayed and
malformed messages, are in test_redis_bus.py.)"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.bootstrap import event_bus
from api.settings import Settings
from providers.cache_versions import VERSION_PREFIX, RedisVersions
from providers.redis_bus import RedisBus
from resolvers.api_keys import KEYS_CHANNEL, KeyRevoked
from tests.conftest import PHONE, Api, Keys, account_input
from tests.integration.documents import ADD, INTEGRATION, SET_ENABLED
from tests.redis_server import REDIS_SERVER, RedisProcess

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server on PATH")
PATIENCE = 30  # seconds: a bound against hangs on a shared machine, not a speed requirement
NEW, OLD = b"n" * 32, b"o" * 32
KEY_A, KEY_B = (base64.b64encode(byte * 32).decode() for byte in (b"a", b"b"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
async def on_redis(
    make_api: Callable[..., Any], redis_server: RedisProcess
) -> AsyncIterator[tuple[Api, Redis]]:
    """The app with its bus and cache versions on the test's Redis, and a plain client to it."""
    async with (
        make_api(
            broadcast_url=redis_server.url,
            bus_reconnect_min_seconds=0.05,
            bus_reconnect_max_seconds=0.2,
        ) as api,
        Redis.from_url(redis_server.url) as raw,
    ):
        await until_ready(api, 200)
        yield api, raw


async def polled(api: Api, path: str, done: Callable[[httpx.Response], bool]) -> httpx.Response:
    """GET ``path`` until ``done`` holds for the answer; that answer."""
    deadline = time.monotonic() + PATIENCE
    while not done(answer := await api.http.get(path)):
        assert time.monotonic() < deadline, f"{path} answered {answer.text}"
        await asyncio.sleep(0.02)
    return answer


async def until_ready(api: Api, status: int) -> httpx.Response:
    return await polled(api, "/readyz", lambda answer: answer.status_code == status)


async def toggle(api: Api, key: str, enabled: bool) -> None:
    await api.data(key, SET_ENABLED, {"enabled": enabled})


async def read_integration(api: Api, key: str) -> tuple[bool, bool]:
    """smsIntegration.enabled, and whether the answer came from the cache."""
    answer = await api.post(key, INTEGRATION)
    assert answer.status_code == 200, answer.text
    hit = answer.headers.get("x-cache") == "hit"
    return answer.json()["data"]["smsIntegration"]["enabled"], hit


async def cached(api: Api, key: str) -> bool:
    await read_integration(api, key)
    enabled, hit = await read_integration(api, key)
    assert hit, "the second read of the same document comes from the cache"
    return enabled


async def the_version_key(raw: Redis) -> str:
    (key,) = await raw.keys(VERSION_PREFIX + "*")
    return key.decode() if isinstance(key, bytes) else str(key)


async def refused_versions(api: Api) -> dict[str, int]:
    counts: dict[str, int] = (await api.http.get("/statusz")).json()["cache_versions_refused"]
    return counts


@pytest.mark.parametrize("tamper", ["deleted", "plain number"])
async def test_a_cache_version_written_to_redis_by_hand_is_not_trusted(
    on_redis: tuple[Api, Redis], keys: Keys, tamper: str
) -> None:
    api, raw = on_redis
    assert await cached(api, keys.admin) is False  # stored under "never changed"
    await toggle(api, keys.admin, True)  # not read again: the stale entry stays in the cache
    key = await the_version_key(raw)

    if tamper == "deleted":
        await raw.delete(key)
    else:
        await raw.set(key, b"0")

    assert await read_integration(api, keys.admin) == (True, False)
    assert await raw.get(key) not in (None, b"0"), "replaced by a value of the server's own"
    assert await refused_versions(api) == {"forged" if tamper == "plain number" else "old": 1}


async def test_an_old_cache_version_written_back_is_not_trusted(
    on_redis: tuple[Api, Redis], keys: Keys
) -> None:
    api, raw = on_redis
    await toggle(api, keys.admin, True)
    assert await cached(api, keys.admin) is True
    key = await the_version_key(raw)
    when_enabled = await raw.get(key)
    assert when_enabled is not None
    await toggle(api, keys.admin, False)  # not read again: the stale entry stays in the cache

    await raw.set(key, when_enabled)  # a genuine value, MAC and all, set back

    assert await read_integration(api, keys.admin) == (False, False)
    assert await refused_versions(api) == {"old": 1}
    assert await cached(api, keys.admin) is False, "the cache serves again once replaced"


async def test_a_cache_version_copied_from_another_workspace_is_not_trusted(
    redis_server: RedisProcess,
) -> None:
    versions = RedisVersions(redis_server.url, [OLD], timeout_seconds=5, tracked=100)
    async with Redis.from_url(redis_server.url) as raw:
        try:
            await versions.bump("w1")
            before = await versions.current("w2")
            genuine = await raw.get(VERSION_PREFIX + "w1")
            assert genuine is not None
            await raw.set(VERSION_PREFIX + "w2", genuine)

            after = await versions.current("w2")
        finally:
            await versions.aclose()

    assert after != before
    assert versions.refused.counts == {"forged": 1}


@pytest.mark.parametrize(
    ("ring_a", "ring_b"),
    [([NEW, OLD], [OLD]), ([NEW], [NEW, OLD])],
    ids=["new-first-beside-old", "new-alone-beside-new-first"],
)
async def test_replicas_mid_key_rotation_trust_each_others_cache_versions(
    redis_server: RedisProcess, ring_a: list[bytes], ring_b: list[bytes]
) -> None:
    a = RedisVersions(redis_server.url, ring_a, timeout_seconds=5, tracked=100)
    b = RedisVersions(redis_server.url, ring_b, timeout_seconds=5, tracked=100)
    try:
        seen = [await a.current("w"), await b.current("w")]
        for bumper in (a, b, a):
            await bumper.bump("w")
            seen += [await a.current("w"), await b.current("w")]
    finally:
        await a.aclose()
        await b.aclose()

    assert len(set(seen[0::2])) == len(set(seen[1::2])) == 4, "each bump is a new version on both"
    assert a.refused.counts == b.refused.counts == {}, "neither replaced the other's values"


async def test_readyz_is_503_while_the_bus_listener_is_down_and_200_once_it_is_back(
    on_redis: tuple[Api, Redis], redis_server: RedisProcess
) -> None:
    api, _ = on_redis

    redis_server.stop()
    down = await until_ready(api, 503)
    redis_server.start()
    back = await until_ready(api, 200)

    assert down.json() == {"database": "ok", "bus": "reconnecting"}
    assert int(down.headers["retry-after"]) >= 1
    assert back.json() == {"database": "ok", "bus": "ok"}


async def test_a_channel_name_that_is_not_utf8_leaves_the_listener_hearing(
    on_redis: tuple[Api, Redis], keys: Keys
) -> None:
    api, raw = on_redis

    await raw.publish(b"sms-bus:0:\xff", b"one PUBLISH used to end the listener for good")
    await raw.publish(b"sms-bus:0:\xfe", b"and its replica never said so")

    refused = {"channel not UTF-8": 2}
    await polled(api, "/statusz", lambda answer: answer.json().get("bus_refused") == refused)
    assert (await api.http.get("/readyz")).json() == {"database": "ok", "bus": "ok"}


async def test_what_the_app_publishes_on_redis_holds_no_phone_number_or_name_in_clear(
    on_redis: tuple[Api, Redis], keys: Keys
) -> None:
    api, raw = on_redis
    await toggle(api, keys.admin, True)
    tap = raw.pubsub()
    await tap.psubscribe("sms-bus:*")
    heard: list[bytes] = []
    try:
        await asyncio.wait_for(tap.get_message(timeout=PATIENCE), PATIENCE)  # subscribed
        added = await api.data(keys.admin, ADD, {"input": account_input(displayName="Night shift")})
        assert added["addSmsAccount"]["errors"] == []
        async with asyncio.timeout(PATIENCE):
            while not any(b":sms-accounts:" in channel for channel in heard[0::2]):
                item = await tap.get_message(True, timeout=PATIENCE)
                if item is not None:
                    heard += [item["channel"], item["data"]]
    finally:
        await tap.aclose()  # type: ignore[no-untyped-call]

    for private in (PHONE, PHONE[2:], "Night shift"):
        assert not any(private.encode() in data for data in heard), private


async def test_with_a_bus_secret_replicas_trust_that_secret_and_not_their_encryption_keys(
    settings_factory: Callable[..., Settings], redis_server: RedisProcess
) -> None:
    def bus(**overrides: Any) -> RedisBus:
        built = event_bus(settings_factory(broadcast_url=redis_server.url, **overrides))
        assert isinstance(built, RedisBus)
        return built

    shared = "a long random secret shared by every replica"
    a = bus(encryption_keys=KEY_A, bus_secret=shared)
    b = bus(encryption_keys=KEY_B, bus_secret=shared)
    c, twin = bus(encryption_keys=KEY_A), bus(encryption_keys=KEY_A)  # no bus secret
    try:
        for each in (a, b, c):
            await each.start()
            await asyncio.wait_for(each.connected.wait(), PATIENCE)
        async with b.subscribe(KEYS_CHANNEL) as on_b, c.subscribe(KEYS_CHANNEL) as on_c:
            await c.announce(KEYS_CHANNEL, KeyRevoked("from c"))  # on Redis before a's
            await a.publish(KEYS_CHANNEL, KeyRevoked("from a"))
            assert await asyncio.wait_for(anext(aiter(on_b)), PATIENCE) == KeyRevoked("from a")
            refused_by_b = dict(b.refused.counts)  # c's, heard before a's
            await twin.announce(KEYS_CHANNEL, KeyRevoked("from c's twin"))
            heard_on_c = await asyncio.wait_for(anext(aiter(on_c)), PATIENCE)
    finally:
        for each in (a, b, c, twin):
            await each.stop()

    assert heard_on_c == KeyRevoked("from c's twin")
    assert refused_by_b == c.refused.counts == {"bad MAC": 1}  # c refused a's
