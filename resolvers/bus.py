"""The event bus: publish after commit, subscribe per workspace channel.

``MemoryBus`` is the in-process implementation (``SMS_BROADCAST_URL=memory://``). A subscriber has
a bounded queue: a slow subscriber cannot grow the server's memory. On overflow its queue is
dropped and its next read raises ``SubscriberOverflow``, so the reader resyncs or disconnects.
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
    async def publish(self, channel: str, message: object) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]: ...


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
            self._queue.clear()
            self._overflowed = True
        else:
            self._queue.append(message)
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

    async def publish(self, channel: str, message: object) -> None:
        for subscriber in tuple(self._channels.get(channel, ())):
            subscriber.offer(message)

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


def create_bus(url: str, *, queue_size: int = 256) -> EventBus:
    """The bus named by ``SMS_BROADCAST_URL``."""
    if url == "memory://":
        return MemoryBus(queue_size)
    raise ValueError(f"unsupported broadcast URL {url.split('://')[0]}:// (use memory://)")
