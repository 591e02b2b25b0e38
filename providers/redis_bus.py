"""Events across replicas through Redis pub/sub (``SMS_BROADCAST_URL=redis://host:port/db``).

One listener per process pattern-subscribes to every channel of the service and hands what it
hears to a local ``MemoryBus``, whose bounded queues serve this process's subscribers. A message
published here is delivered here at once and skipped when Redis echoes it back.

Redis is not the truth, the database is: while Redis is away, publishing drops events (mutations
go on), the listener reconnects with capped backoff, and on its return every local subscriber is
told to resync, as on a queue overflow. The returning replica also announces its return, because
subscribers on replicas that kept their connection missed this replica's events too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from providers.bus import Codec, MemoryBus, Subscription

log = logging.getLogger(__name__)

RESYNC = "resync"  # "I was away: resync your subscribers", with the sender's id
_ORIGIN_LENGTH = 32  # uuid4().hex, then the encoded message
_KEEPALIVE = {
    getattr(socket, option): value
    for option, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))
    if hasattr(socket, option)
}


def redis_client(url: str, *, retries: int, name: str) -> Redis:
    # A pooled connection can be stale after a Redis restart: ``retries=1`` lets the publisher
    # reconnect once instead of calling the bus lost. The listener must not retry silently, or it
    # would resubscribe without telling anyone that events were missed meanwhile.
    client: Redis = Redis.from_url(
        url,
        retry=Retry(NoBackoff(), retries),
        socket_connect_timeout=2,
        # A Redis host that vanished without closing the connection is noticed in about ten
        # seconds (not the kernel's two hours) by the listener's blocked read.
        socket_keepalive=True,
        socket_keepalive_options=_KEEPALIVE,
        client_name=name,  # CLIENT LIST shows which replica holds which connection
    )
    return client


class RedisBus:
    def __init__(
        self,
        url: str,
        codec: Codec,
        *,
        queue_size: int,
        outbox_size: int,
        reconnect_min_seconds: float,
        reconnect_max_seconds: float,
    ) -> None:
        self._codec = codec
        self._local = MemoryBus(queue_size)
        self._origin = uuid.uuid4().hex.encode()
        self.name = f"sms-bus-{self._origin.decode()}"
        self._publisher = redis_client(url, retries=1, name=self.name + "-publisher")
        self._listener = redis_client(url, retries=0, name=self.name + "-listener")
        self._backoff = (reconnect_min_seconds, reconnect_max_seconds)
        # Pub/sub ignores Redis's database numbers: the number goes into the channel names, so
        # deployments sharing a Redis server on different databases do not hear each other.
        database = self._listener.connection_pool.connection_kwargs.get("db", 0)
        self._prefix = f"sms-bus:{database}:".encode()
        # Mutations never wait on Redis: publishing queues the event for one sender task, which
        # keeps this process's events in order.
        self._outbox: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue(outbox_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = False
        self._lost = False
        self.connected = asyncio.Event()  # the listener is subscribed (benches wait on it)

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="redis-bus-listener"),
                asyncio.create_task(self._send_outbox(), name="redis-bus-sender"),
            ]

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            # Events of the last requests still reach the other replicas, if Redis answers.
            await asyncio.wait_for(self._outbox.join(), 1)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._publisher.aclose()
        await self._listener.aclose()

    async def publish(self, channel: str, message: object) -> None:
        self._local.deliver(channel, message)
        if self._lost:
            return  # subscribers everywhere resync when the bus is back
        try:
            self._outbox.put_nowait((self.wire_channel(channel), self._codec.encode(message)))
        except asyncio.QueueFull:
            # Redis does not keep up: the event reaches only this replica's subscribers, and the
            # others' are told to resync once the outbox has drained.
            self._dropped = True

    async def announce(self, channel: str, message: object) -> None:
        """Publish from a process that does not listen (the CLI); raises when Redis is away."""
        payload = self._wrap(self._codec.encode(message))
        await self._publisher.publish(self.wire_channel(channel), payload)

    def wire_channel(self, channel: str) -> bytes:
        """The Redis channel that carries ``channel``."""
        return self._prefix + channel.encode()

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(channel)

    def subscriber_count(self, channel: str) -> int:
        return self._local.subscriber_count(channel)

    def _wrap(self, payload: bytes) -> bytes:
        return self._origin + payload

    async def _send_outbox(self) -> None:
        while True:
            channel, payload = await self._outbox.get()
            try:
                if not self._lost:
                    await self._send(channel, payload)
                if self._dropped and self._outbox.empty():
                    self._dropped = False
                    await self._send(self.wire_channel(RESYNC), b"")
            finally:
                self._outbox.task_done()

    async def _send(self, channel: bytes, payload: bytes) -> None:
        try:
            await self._publisher.publish(channel, self._wrap(payload))
        except (RedisError, OSError) as exc:
            # The listener notices an outage on its own connection and logs it once; a failure
            # here alone drops one event, which the resync after an outage covers.
            log.debug("could not publish on the Redis bus: %s", type(exc).__name__)

    async def _listen(self) -> None:
        delay = self._backoff[0]
        while True:
            pubsub = self._listener.pubsub()
            try:
                await pubsub.psubscribe(self._prefix + b"*")
                await self._back()
                delay = self._backoff[0]
                await self._relay(pubsub)
            except (RedisError, OSError) as exc:
                self._went_away(exc)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _relay(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            if item.get("type") != "pmessage":
                continue
            channel: bytes = item["channel"]
            data: bytes = item["data"]
            origin, payload = data[:_ORIGIN_LENGTH], data[_ORIGIN_LENGTH:]
            if origin == self._origin:
                continue  # delivered locally when published
            name = channel[len(self._prefix) :].decode()
            if name == RESYNC:
                told = self._local.resync_all()
                log.info("another replica's bus is back: %d subscription(s) told to resync", told)
                continue
            if self._local.subscriber_count(name):
                self._deliver(name, payload)

    def _deliver(self, channel: str, payload: bytes) -> None:
        try:
            message = self._codec.decode(payload)
        except Exception:
            # A message this version cannot read (a newer replica mid-deploy?) is skipped; the
            # listener must survive it. Its content may be personal data: never logged.
            log.warning("skipped an unreadable message on bus channel %s", channel)
            return
        self._local.deliver(channel, message)

    def _went_away(self, exc: BaseException) -> None:
        if not self._lost:
            self._lost = True
            log.warning(
                "event bus lost (%s): events reach only this replica's subscribers until Redis is "
                "back; reconnecting",
                type(exc).__name__,
            )

    async def _back(self) -> None:
        self.connected.set()
        was_lost, self._lost = self._lost, False
        if not was_lost:
            return
        told = self._local.resync_all()
        log.warning("event bus back: %d subscription(s) told to resync", told)
        await self._send(self.wire_channel(RESYNC), b"")
