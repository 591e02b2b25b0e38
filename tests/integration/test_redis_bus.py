"""The Redis bus between two processes' worth of buses on a Redis server of the test's own.

The GraphQL-level behaviour (two real replicas, a Redis restart) is in tests/e2e/test_replicas.py;
here the bus is driven directly to reach the cases a whole server cannot stage cheaply: one
replica alone losing its connection, and a message a replica cannot read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from providers.bus import SubscriberOverflow, Subscription
from providers.redis_bus import RedisBus
from resolvers.api_keys import KeyRevoked
from resolvers.wire import EVENTS
from tests.redis_server import REDIS_SERVER, RedisProcess

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server on PATH")
CHANNEL = "sms-accounts:w1"
PATIENCE = 30  # seconds: a bound against hangs on a shared machine, not a speed requirement


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path).start()
    yield server
    server.stop()


def new_bus(url: str, outbox_size: int = 100) -> RedisBus:
    return RedisBus(
        url,
        EVENTS,
        queue_size=8,
        outbox_size=outbox_size,
        reconnect_min_seconds=0.05,
        reconnect_max_seconds=0.2,
    )


@pytest.fixture
async def buses(redis_server: RedisProcess) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    a, b = new_bus(redis_server.url), new_bus(redis_server.url)
    for bus in (a, b):
        await bus.start()
        await asyncio.wait_for(bus.connected.wait(), PATIENCE)
    yield a, b
    for bus in (a, b):
        await bus.stop()


async def next_message(subscription: Subscription) -> object:
    return await asyncio.wait_for(anext(aiter(subscription)), PATIENCE)


async def test_a_replica_that_lost_redis_alone_makes_the_others_resync_on_its_return(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, b = buses
    async with b.subscribe(CHANNEL) as on_b, Redis.from_url(redis_server.url) as admin:
        clients = await admin.client_list()
        (listener,) = [client for client in clients if client["name"] == a.name + "-listener"]
        await admin.client_kill_filter(_id=listener["id"])

        with pytest.raises(SubscriberOverflow):
            await next_message(on_b)
        assert b.connected.is_set()

        await a.publish(CHANNEL, KeyRevoked("after"))
        assert await next_message(on_b) == KeyRevoked("after")


async def test_an_unreadable_message_is_skipped_and_the_listener_keeps_relaying(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, b = buses
    async with b.subscribe(CHANNEL) as on_b, Redis.from_url(redis_server.url) as other:
        await other.publish(a.wire_channel(CHANNEL), b"0" * 32 + b'{"type": "FromTheFuture"}')
        await other.publish(a.wire_channel(CHANNEL), b"0" * 32 + b"not json")
        await a.publish(CHANNEL, KeyRevoked("k1"))

        assert await next_message(on_b) == KeyRevoked("k1")


async def test_while_redis_is_away_publishing_goes_on_and_this_replica_still_hears_itself(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, _ = buses
    async with a.subscribe(CHANNEL) as on_a:
        redis_server.stop()

        await a.publish(CHANNEL, KeyRevoked("k1"))

        assert await next_message(on_a) == KeyRevoked("k1")


async def test_events_beyond_the_outbox_stay_on_their_replica_and_the_others_resync(
    redis_server: RedisProcess,
) -> None:
    a, b = new_bus(redis_server.url, outbox_size=1), new_bus(redis_server.url)
    for bus in (a, b):
        await bus.start()
        await asyncio.wait_for(bus.connected.wait(), PATIENCE)
    try:
        async with a.subscribe(CHANNEL) as on_a, b.subscribe(CHANNEL) as on_b:
            # No await yields to the sender between these: the outbox of one holds the first.
            for number in range(3):
                await a.publish(CHANNEL, KeyRevoked(f"burst {number}"))
            for number in range(3):
                assert await next_message(on_a) == KeyRevoked(f"burst {number}")
            assert await next_message(on_b) == KeyRevoked("burst 0")
            with pytest.raises(SubscriberOverflow):
                await next_message(on_b)
            await a.publish(CHANNEL, KeyRevoked("later"))
            assert await next_message(on_b) == KeyRevoked("later")
    finally:
        for bus in (a, b):
            await bus.stop()


async def test_buses_on_different_redis_databases_do_not_hear_each_other(
    redis_server: RedisProcess,
) -> None:
    other_database = redis_server.url.rsplit("/", 1)[0] + "/1"
    a, b, c = new_bus(redis_server.url), new_bus(other_database), new_bus(other_database)
    for bus in (a, b, c):
        await bus.start()
        await asyncio.wait_for(bus.connected.wait(), PATIENCE)
    try:
        async with b.subscribe(CHANNEL) as on_b:
            await a.publish(CHANNEL, KeyRevoked("database 0"))
            await a.stop()  # sends what it holds: Redis has it before c's
            await c.publish(CHANNEL, KeyRevoked("database 1"))
            assert await next_message(on_b) == KeyRevoked("database 1")
    finally:
        for bus in (b, c):
            await bus.stop()
