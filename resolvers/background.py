"""What the background workers (the ``Verifier``, the ``WebhookWirer``) share: a set of tasks
with one owner, and slots per key (a provider account, an account) that live while used."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class TaskSet:
    """Background tasks owned by one worker: counted, waited for and cancelled together, and
    forgotten as each ends (a server that runs for weeks must not grow)."""

    def __init__(self) -> None:
        self._all: set[asyncio.Task[None]] = set()

    def add(self, task: asyncio.Task[None]) -> None:
        self._all.add(task)
        task.add_done_callback(self._all.discard)

    def __len__(self) -> int:
        return len(self._all)

    async def wait_idle(self) -> None:
        """Wait until none runs (tasks may start others meanwhile).

        A task that has just ended stays in the set until its done callback runs on the next
        turn of the loop. Since Python 3.12, ``gather`` of tasks that are all done is done
        without yielding, so looping on it alone never lets that callback run: the loop spun
        forever (seen as a hung test on 3.13). Gathering only running tasks, and otherwise
        yielding once, lets the ended ones be forgotten. (``gather``, not ``wait``: cancelling
        this wait, as a shutdown's grace period does, cancels the tasks too.)"""
        while self._all:
            running = [task for task in self._all if not task.done()]
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            else:
                await asyncio.sleep(0)

    async def cancel_all(self) -> None:
        for task in list(self._all):
            task.cancel()
        await asyncio.gather(*self._all, return_exceptions=True)


class KeyedSlots:
    """At most ``per_key`` holders of one key at once. A key's semaphore exists only while
    someone holds or waits for it, so the table stays as small as the work in flight."""

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._table: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._table.get(key, (asyncio.Semaphore(self._per_key), 0))
        self._table[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:  # also when cancelled while waiting: the count never leaks
            semaphore, users = self._table[key]
            if users <= 1:
                del self._table[key]
            else:
                self._table[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        return len(self._table)
