"""The event bus: publish after commit, subscribe per workspace channel.

``MemoryBus`` fans out inside one process (``SMS_BROADCAST_URL=memory://``); ``RedisBus``
(providers/redis_bus.py) carries the same messages across replicas and hands them to a local
``MemoryBus``. A subscriber has a bounded queue: a slow subscriber cannot grow the server's memory.
On overflow its queue is dropped and its next read raises ``SubscriberOverflow``, so the reader
resyncs or disconnects. ``resync_all`` does the same to every subscriber at once: the bus uses it
when events may have been lost elsewhere (a Redis outage).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class SubscriberOverflow(Exception):
    """The subscriber fell more than its queue behind; events were dropped."""


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[object]: ...


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, channel: str, message: object) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]: ...


class Codec(Protocol):
    """The wire form of the messages a bus carries between processes."""

    def encode(self, message: object) -> bytes: ...

    def decode(self, data: bytes) -> object: ...


class _Subscriber:
    def __init__(self, size: int) -> None:
        self._size = size
        self._queue: deque[object] = deque()
        self._ready = asyncio.Event()
        self._overflowed = False

    def offer(self, message: object) -> None:
        if self._overflowed:
            return  # the reader resyncs from the current state, which includes this
        if len(self._queue) >= self._size:
            self.resync()
        else:
            self._queue.append(message)
            self._ready.set()

    def resync(self) -> None:
        self._queue.clear()
        self._overflowed = True
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[object]:
        return self

    async def __anext__(self) -> object:
        while True:
            if self._overflowed:
                self._overflowed = False
                raise SubscriberOverflow
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()


class MemoryBus:
    """Fan-out inside one process."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._channels: dict[str, set[_Subscriber]] = {}

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Nothing to release: subscribers end with their connections."""

    async def publish(self, channel: str, message: object) -> None:
        self.deliver(channel, message)

    def deliver(self, channel: str, message: object) -> None:
        for subscriber in tuple(self._channels.get(channel, ())):
            subscriber.offer(message)

    def resync_all(self) -> int:
        """Tell every subscriber it missed events; returns how many were told."""
        told = 0
        for subscribers in tuple(self._channels.values()):
            for subscriber in tuple(subscribers):
                subscriber.resync()
                told += 1
        return told

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(channel)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[Subscription]:
        subscriber = _Subscriber(self._queue_size)
        self._channels.setdefault(channel, set()).add(subscriber)
        try:
            yield subscriber
        finally:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(subscriber)
                if not subscribers:
                    del self._channels[channel]

    def subscriber_count(self, channel: str) -> int:
        return len(self._channels.get(channel, ()))
