"""The unit of work of a use case: one write transaction, and what it announces once committed.

A use case asks for a unit, changes what it must through ``unit.session``, and queues its
announcements (events for subscribers, a check to start); leaving the block commits, then runs
the announcements in order. It never commits or publishes by hand, so nothing is announced
that was not committed, and nothing committed goes unannounced. An exception (or ``abandon()``)
rolls everything back and announces nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Announcement = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._announcements: list[Announcement] = []
        self._committed: list[Callable[[], None]] = []
        self._abandoned = False

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` the moment this unit committed, before anything else runs (no
        await in between): for state that must follow the commit exactly."""
        self._committed.append(callback)

    def after_commit(self, announcement: Announcement) -> None:
        """Run ``announcement`` once this unit committed (never if it does not)."""
        self._announcements.append(announcement)

    def abandon(self) -> None:
        """Roll back what this unit wrote; nothing it queued is announced."""
        self._abandoned = True
        self._announcements.clear()
        self._committed.clear()


@asynccontextmanager
async def unit_of_work(writes: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    async with writes() as session:
        unit = UnitOfWork(session)
        yield unit
        if unit._abandoned:
            await session.rollback()
            return
        await session.commit()
        for callback in unit._committed:
            callback()
    for announcement in unit._announcements:
        await announcement()
