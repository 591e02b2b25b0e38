"""The Redis bus between two processes' worth of buses on a Redis server of the test's own.

The GraphQL-level behaviour (two real replicas, a Redis restart) is in tests/e2e/test_replicas.py;
here the bus is driven directly to reach the cases a whole server cannot stage cheaply: one
replica alone losing its connection, a message a replica cannot read, and whatever someone who
reaches Redis could publish there (forged, replayed, moved, malformed)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from domain.accounts import Stats
from providers.bus import SubscriberOverflow, Subscription
from providers.redis_bus import RESYNC, RedisBus
from resolvers.api_keys import KEYS_CHANNEL, KeyRevoked
from resolvers.events import AccountEvent, AccountEventKind
from resolvers.wire import EVENTS
from tests.conftest import TEST_KEY
from tests.redis_server import REDIS_SERVER, RedisProcess
from tests.sample_events import ACCOUNT, MESSAGE

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="no redis-server on PATH")
CHANNEL = "sms-accounts:w1"
MESSAGES = "sms-messages:w1"
PATIENCE = 30  # seconds: a bound against hangs on a shared machine, not a speed requirement
OURS = [base64.b64decode(TEST_KEY)]
NEW, OLD = b"n" * 32, b"o" * 32
INBOUND = MESSAGE
ADDED = AccountEvent(AccountEventKind.ADDED, ACCOUNT, None, Stats(1, 0, 1))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path).start()
    yield server
    server.stop()


def new_bus(
    url: str,
    outbox_size: int = 100,
    *,
    secrets: list[bytes] = OURS,
    max_age_seconds: float = 30,
) -> RedisBus:
    return RedisBus(
        url,
        EVENTS,
        secrets,
        queue_size=8,
        outbox_size=outbox_size,
        reconnect_min_seconds=0.05,
        reconnect_max_seconds=0.2,
        max_age_seconds=max_age_seconds,
    )


@asynccontextmanager
async def running(*buses: RedisBus) -> AsyncIterator[None]:
    for bus in buses:
        await bus.start()
        await asyncio.wait_for(bus.connected.wait(), PATIENCE)
    try:
        yield
    finally:
        for bus in buses:
            await bus.stop()


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


# --- nothing heard on Redis is trusted ----------------------------------------------------------


@asynccontextmanager
async def eavesdropping(url: str) -> AsyncIterator[Any]:
    """A plain Redis client listening to every channel of the bus, as anyone with access can."""
    async with Redis.from_url(url) as client:
        tap = client.pubsub()
        await tap.psubscribe("sms-bus:*")
        await asyncio.wait_for(tap.get_message(timeout=PATIENCE), PATIENCE)  # subscribed
        try:
            yield tap
        finally:
            await tap.aclose()  # type: ignore[no-untyped-call]


async def overheard(tap: Any) -> tuple[bytes, bytes]:
    """The next (channel, bytes) published on the bus."""
    async with asyncio.timeout(PATIENCE):
        while True:
            item = await tap.get_message(ignore_subscribe_messages=True, timeout=PATIENCE)
            if item is not None:
                return item["channel"], item["data"]


def stranger(url: str) -> RedisBus:
    """A bus with a key of its own: what an attacker without the server's secrets can seal."""
    return new_bus(url, secrets=[b"x" * 32])


def before_sealing(event: object) -> bytes:
    """The form every replica trusted before messages were sealed: an origin, then JSON."""
    return b"0" * 32 + EVENTS.encode(event)


@pytest.mark.parametrize(
    ("channel", "event"),
    [(MESSAGES, INBOUND), (CHANNEL, ADDED), (KEYS_CHANNEL, KeyRevoked("k1"))],
    ids=["inbound-message", "account", "revocation"],
)
async def test_a_forged_event_is_not_delivered(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess, channel: str, event: object
) -> None:
    a, b = buses
    forger = stranger(redis_server.url)
    async with b.subscribe(channel) as on_b, Redis.from_url(redis_server.url) as other:
        await other.publish(a.wire_channel(channel), before_sealing(event))
        await other.publish(a.wire_channel(channel), forger.frame(channel, EVENTS.encode(event)))
        await a.publish(channel, KeyRevoked("genuine"))

        assert await next_message(on_b) == KeyRevoked("genuine")
    await forger.stop()
    assert b.refused.counts == {"malformed": 1, "bad MAC": 1}


async def test_a_forged_or_replayed_resync_ends_no_subscription(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, b = buses
    forger = stranger(redis_server.url)
    async with (
        b.subscribe(CHANNEL) as on_b,
        eavesdropping(redis_server.url) as tap,
        Redis.from_url(redis_server.url) as admin,
    ):
        clients = await admin.client_list()
        (listener,) = [client for client in clients if client["name"] == a.name + "-listener"]
        await admin.client_kill_filter(_id=listener["id"])
        with pytest.raises(SubscriberOverflow):
            await next_message(on_b)  # a's genuine announcement of its return
        genuine = await overheard(tap)
        assert genuine[0] == a.wire_channel(RESYNC)

        await admin.publish(a.wire_channel(RESYNC), b"0" * 32)
        await admin.publish(a.wire_channel(RESYNC), forger.frame(RESYNC, b""))
        await admin.publish(*genuine)
        await asyncio.wait_for(a.connected.wait(), PATIENCE)
        await a.publish(CHANNEL, KeyRevoked("after"))

        assert await next_message(on_b) == KeyRevoked("after")
    await forger.stop()
    assert b.refused.counts == {"malformed": 1, "bad MAC": 1, "replayed": 1}


async def test_a_replayed_revocation_is_delivered_once(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, b = buses
    async with (
        b.subscribe(KEYS_CHANNEL) as on_b,
        eavesdropping(redis_server.url) as tap,
        Redis.from_url(redis_server.url) as other,
    ):
        await a.publish(KEYS_CHANNEL, KeyRevoked("k1"))
        assert await next_message(on_b) == KeyRevoked("k1")

        await other.publish(*await overheard(tap))
        await a.publish(KEYS_CHANNEL, KeyRevoked("k2"))

        assert await next_message(on_b) == KeyRevoked("k2")
    assert b.refused.counts == {"replayed": 1}


async def test_a_message_older_than_the_age_limit_is_refused_by_a_replica_that_never_heard_it(
    redis_server: RedisProcess,
) -> None:
    a, late = new_bus(redis_server.url), new_bus(redis_server.url, max_age_seconds=1)
    async with (
        running(a, late),
        eavesdropping(redis_server.url) as tap,
        Redis.from_url(redis_server.url) as other,
    ):
        await a.publish(KEYS_CHANNEL, KeyRevoked("old"))
        old = await overheard(tap)
        await asyncio.sleep(1.5)  # older than late's limit
        async with late.subscribe(KEYS_CHANNEL) as on_late:
            await other.publish(*old)
            await a.publish(KEYS_CHANNEL, KeyRevoked("new"))

            assert await next_message(on_late) == KeyRevoked("new")
    assert late.refused.counts == {"stale": 1}


async def test_a_message_moved_to_another_workspaces_channel_is_dropped(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, b = buses
    theirs, ours = "sms-messages:w2", "sms-messages:w1"
    async with (
        b.subscribe(theirs) as on_theirs,
        b.subscribe(ours) as on_ours,
        eavesdropping(redis_server.url) as tap,
        Redis.from_url(redis_server.url) as other,
    ):
        await a.publish(theirs, INBOUND)
        assert await next_message(on_theirs) == INBOUND
        _, sealed_for_theirs = await overheard(tap)

        await other.publish(a.wire_channel(ours), sealed_for_theirs)
        await a.publish(ours, KeyRevoked("ours"))

        assert await next_message(on_ours) == KeyRevoked("ours")
    assert b.refused.counts == {"channel mismatch": 1}


async def test_malformed_messages_are_counted_logged_once_and_never_end_the_listener(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = buses
    sibling, forger = new_bus(redis_server.url), stranger(redis_server.url)  # never started
    wire = a.wire_channel(CHANNEL)
    with caplog.at_level(logging.WARNING):
        async with b.subscribe(CHANNEL) as on_b, Redis.from_url(redis_server.url) as other:
            await other.publish(wire[:-2] + b"\xff\xfe", b"a channel name that is not UTF-8")
            await other.publish(wire, sibling.frame(CHANNEL, b"{not json"))
            await other.publish(wire, sibling.frame(CHANNEL, b'{"type": "FromTheFuture"}'))
            await other.publish(wire, forger.frame(CHANNEL, EVENTS.encode(KeyRevoked("k0"))))
            await other.publish(wire, b"0" * 32 + b"not json")
            await a.publish(CHANNEL, KeyRevoked("k1"))

            assert await next_message(on_b) == KeyRevoked("k1")
    for bus in (sibling, forger):
        await bus.stop()
    assert b.refused.counts == {
        "channel not UTF-8": 1,
        "unreadable event": 2,
        "bad MAC": 1,
        "malformed": 1,
    }
    assert a.refused.counts == {"channel not UTF-8": 1}  # a hears every channel name too
    # One line per bus, at its first refusal; the next one a minute later at the earliest.
    reports = [record.getMessage() for record in caplog.records if "refused" in record.getMessage()]
    assert len(reports) == 2, reports
    assert all("refused 1 message(s)" in report for report in reports)


async def test_the_bytes_on_redis_hold_no_sms_body_and_no_phone_number(
    buses: tuple[RedisBus, RedisBus], redis_server: RedisProcess
) -> None:
    a, b = buses
    async with (
        b.subscribe(MESSAGES) as on_messages,
        b.subscribe(CHANNEL) as on_accounts,
        eavesdropping(redis_server.url) as tap,
    ):
        await a.publish(MESSAGES, INBOUND)
        await a.publish(CHANNEL, ADDED)
        assert await next_message(on_messages) == INBOUND
        assert await next_message(on_accounts) == ADDED
        frames = [(await overheard(tap))[1] for _ in range(2)]

    numbers = (MESSAGE.from_number, MESSAGE.to_number, str(ACCOUNT.sender_id))
    for private in (MESSAGE.body, ACCOUNT.display_name, *numbers, *(n[2:] for n in numbers)):
        assert not any(private.encode() in frame for frame in frames), private


@pytest.mark.parametrize(
    ("ring_a", "ring_b"),
    [([NEW, OLD], [OLD]), ([NEW], [NEW, OLD])],
    ids=["new-first-beside-old", "new-alone-beside-new-first"],
)
async def test_replicas_mid_key_rotation_understand_each_other(
    redis_server: RedisProcess, ring_a: list[bytes], ring_b: list[bytes]
) -> None:
    a, b = new_bus(redis_server.url, secrets=ring_a), new_bus(redis_server.url, secrets=ring_b)
    async with running(a, b), a.subscribe(KEYS_CHANNEL) as on_a, b.subscribe(KEYS_CHANNEL) as on_b:
        await a.publish(KEYS_CHANNEL, KeyRevoked("from a"))
        await b.publish(KEYS_CHANNEL, KeyRevoked("from b"))

        heard_on_a = {await next_message(on_a) for _ in range(2)}
        heard_on_b = {await next_message(on_b) for _ in range(2)}

    assert heard_on_a == heard_on_b == {KeyRevoked("from a"), KeyRevoked("from b")}
    assert a.refused.counts == b.refused.counts == {}
