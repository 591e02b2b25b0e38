"""Events across replicas through Redis pub/sub (``SMS_BROADCAST_URL=redis://host:port/db``).

One listener per process pattern-subscribes to every channel of the service and hands what it
hears to a local ``MemoryBus``, whose bounded queues serve this process's subscribers. A message
published here is delivered here at once and skipped when Redis echoes it back.

Redis is not the truth, the database is: while Redis is away, publishing drops events (mutations
go on), the listener reconnects with capped backoff, and on its return every local subscriber is
told to resync, as on a queue overflow. The returning replica also announces its return, because
subscribers on replicas that kept their connection missed this replica's events too.

Nothing heard on Redis is trusted either (README "Security"): whoever reaches it could listen,
forge or replay. Every message, the resync announcement included, is a frame

    header = "sms1" | origin (16 bytes) | sequence (8) | sent at (8, ms since the epoch)
    frame  = header | RedisKeys.seal(channel length (2) | channel | event, header=header)

so its content (SMS bodies, phone numbers) is encrypted and the whole is authenticated (AES-GCM).
A frame is delivered only when it opens, names the channel it arrived on, is at most
``max_age_seconds`` old and comes after the last frame heard from its origin (each origin sends
one ordered stream: a replay is refused). Anything else is counted by reason, logged at most once
a minute, and skipped: no message can end the listener, which restarts itself on any error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import struct
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from providers.bus import Codec, MemoryBus, Subscription
from providers.redis_keys import RedisKeys, Refusals, UntrustedError

log = logging.getLogger(__name__)

RESYNC = "resync"  # "I was away: resync your subscribers"
_MAGIC = b"sms1"
_HEADER = struct.Struct(">4s16sQQ")  # magic, origin, sequence, sent at (ms)
_NAME = struct.Struct(">H")  # the channel's length, inside the sealed part
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


class RefusedError(Exception):
    """A frame heard on Redis that is not delivered; the message is the reason counted."""


class RedisBus:
    def __init__(
        self,
        url: str,
        codec: Codec,
        secret_keys: Sequence[bytes],
        *,
        queue_size: int,
        outbox_size: int,
        reconnect_min_seconds: float,
        reconnect_max_seconds: float,
        max_age_seconds: float,
    ) -> None:
        self._codec = codec
        self._keys = RedisKeys(secret_keys, "redis bus")
        self._local = MemoryBus(queue_size)
        origin = uuid.uuid4()
        self._origin = origin.bytes
        self.name = f"sms-bus-{origin.hex}"
        self._publisher = redis_client(url, retries=1, name=self.name + "-publisher")
        self._listener = redis_client(url, retries=0, name=self.name + "-listener")
        self._backoff = (reconnect_min_seconds, reconnect_max_seconds)
        # Pub/sub ignores Redis's database numbers: the number goes into the channel names, so
        # deployments sharing a Redis server on different databases do not hear each other.
        database = self._listener.connection_pool.connection_kwargs.get("db", 0)
        self._prefix = f"sms-bus:{database}:".encode()
        # Mutations never wait on Redis: publishing queues the event for one sender task, which
        # keeps this process's frames in the order of their sequence numbers.
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(outbox_size)
        self._sequence = itertools.count(1)
        self._max_age = max_age_seconds
        # Per origin heard lately: its last sequence number and when it was heard.
        self._heard: OrderedDict[bytes, tuple[int, float]] = OrderedDict()
        self.refused = Refusals("event bus: refused {count} message(s) heard on Redis")
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = False
        self._lost = False
        self.connected = asyncio.Event()  # the listener is subscribed (readiness, benches)

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
        if not self._lost:  # else subscribers everywhere resync when the bus is back
            self._queue(channel, self._codec.encode(message))

    async def announce(self, channel: str, message: object) -> None:
        """Publish from a process that does not listen (the CLI); raises when Redis is away."""
        await self._publisher.publish(
            self.wire_channel(channel), self.frame(channel, self._codec.encode(message))
        )

    def wire_channel(self, channel: str) -> bytes:
        """The Redis channel that carries ``channel``."""
        return self._prefix + channel.encode()

    def frame(self, channel: str, payload: bytes) -> bytes:
        """What goes on Redis for ``payload`` on ``channel``: this bus's next frame."""
        header = _HEADER.pack(_MAGIC, self._origin, next(self._sequence), time.time_ns() // 10**6)
        name = channel.encode()
        return header + self._keys.seal(_NAME.pack(len(name)) + name + payload, header=header)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(channel)

    def subscriber_count(self, channel: str) -> int:
        return self._local.subscriber_count(channel)

    def _queue(self, channel: str, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((channel, payload))
        except asyncio.QueueFull:
            # Redis does not keep up: the event reaches only this replica's subscribers, and the
            # others' are told to resync once the outbox has drained.
            self._dropped = True

    async def _send_outbox(self) -> None:
        while True:
            channel, payload = await self._outbox.get()
            try:
                if not self._lost:
                    await self._send(channel, payload)
                if self._dropped and self._outbox.empty():
                    self._dropped = False
                    await self._send(RESYNC, b"")
            finally:
                self._outbox.task_done()

    async def _send(self, channel: str, payload: bytes) -> None:
        try:
            await self._publisher.publish(self.wire_channel(channel), self.frame(channel, payload))
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
            except Exception as exc:
                # Whatever it was (Redis gone, or a bug), the listener starts again: a replica
                # that stopped hearing the bus would serve stale live views for good.
                self._went_away(exc)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _relay(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            if item.get("type") == "pmessage":
                self._receive(item["channel"], item["data"])

    def _receive(self, wire_channel: bytes, data: bytes) -> None:
        try:
            channel = self._name_of(wire_channel)
            if channel != RESYNC and not self._local.subscriber_count(channel):
                return  # no one here listens: not worth opening
            payload = self._open(channel, data)
            if payload is None:
                return  # our own, delivered locally when published
            if channel == RESYNC:
                told = self._local.resync_all()
                log.info("another replica's bus is back: %d subscription(s) told to resync", told)
                return
            message = self._decode(payload)
        except RefusedError as refused:
            self.refused.note(str(refused))
            return
        self._local.deliver(channel, message)

    def _name_of(self, wire_channel: bytes) -> str:
        try:
            return wire_channel[len(self._prefix) :].decode()
        except UnicodeDecodeError:
            raise RefusedError("channel not UTF-8") from None

    def _open(self, channel: str, data: bytes) -> bytes | None:
        """The event inside ``data`` heard on ``channel``; None when it is this bus's own."""
        if len(data) < _HEADER.size:
            raise RefusedError("malformed")
        magic, origin, sequence, sent_at = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise RefusedError("malformed")
        if origin == self._origin:
            return None
        try:
            plain = self._keys.open(data[_HEADER.size :], header=data[: _HEADER.size])
        except UntrustedError:
            raise RefusedError("bad MAC") from None
        if len(plain) < _NAME.size:
            raise RefusedError("malformed")
        end = _NAME.size + _NAME.unpack_from(plain)[0]
        if plain[_NAME.size : end] != channel.encode():
            # Sealed for another channel (another workspace's) and republished on this one.
            raise RefusedError("channel mismatch")
        self._check_fresh(origin, sequence, sent_at / 1000)
        return plain[end:]

    def _decode(self, payload: bytes) -> object:
        try:
            return self._codec.decode(payload)
        except Exception:
            # An event type this version does not know (a newer replica mid-deploy?).
            raise RefusedError("unreadable event") from None

    def _check_fresh(self, origin: bytes, sequence: int, sent_at: float) -> None:
        now = time.time()
        if abs(now - sent_at) > self._max_age:
            raise RefusedError("stale")
        last = self._heard.get(origin)
        if last is not None and sequence <= last[0]:
            raise RefusedError("replayed")
        self._heard[origin] = (sequence, now)
        self._heard.move_to_end(origin)
        # An origin silent for twice the age limit is forgotten: whatever it sent before is
        # refused as stale by now (the bound of this table: the origins of the last minute).
        while self._heard:
            oldest = next(iter(self._heard))
            if now - self._heard[oldest][1] <= 2 * self._max_age:
                break
            del self._heard[oldest]

    def _went_away(self, exc: BaseException) -> None:
        if self._lost:
            return
        self._lost = True
        outage = isinstance(exc, RedisError | OSError)
        log.warning(
            "event bus lost (%s): events reach only this replica's subscribers until Redis is "
            "back; reconnecting",
            type(exc).__name__,
            exc_info=None if outage else exc,  # not an outage: a bug, whose trace is wanted
        )

    async def _back(self) -> None:
        self.connected.set()
        was_lost, self._lost = self._lost, False
        if not was_lost:
            return
        told = self._local.resync_all()
        log.warning("event bus back: %d subscription(s) told to resync", told)
        self._queue(RESYNC, b"")  # after whatever the outbox holds, in sequence order
