"""What the background workers share: slots per key that never outgrow the work in flight, and
a task set that forgets each task as it ends."""

from __future__ import annotations

import asyncio

from resolvers.background import KeyedSlots, TaskSet


async def test_a_key_holds_at_most_its_slots_and_is_forgotten_when_nobody_waits() -> None:
    slots = KeyedSlots(1)
    inside: list[str] = []
    release = asyncio.Event()

    async def hold(name: str) -> None:
        async with slots.held("account"):
            inside.append(name)
            await release.wait()

    first = asyncio.create_task(hold("first"))
    second = asyncio.create_task(hold("second"))
    await asyncio.sleep(0.01)
    assert inside == ["first"]

    second.cancel()  # cancelled while it waits: its place in the count goes with it
    release.set()
    await asyncio.gather(first, second, return_exceptions=True)

    assert inside == ["first"]
    assert len(slots) == 0


async def test_a_task_set_forgets_each_task_as_it_ends_and_cancels_the_rest() -> None:
    async def wait_for(event: asyncio.Event) -> None:
        await event.wait()

    tasks = TaskSet()
    tasks.add(asyncio.create_task(asyncio.sleep(0)))
    forever = asyncio.create_task(wait_for(asyncio.Event()))
    tasks.add(forever)

    await asyncio.sleep(0.01)
    assert len(tasks) == 1
    await tasks.cancel_all()

    assert forever.cancelled()
    assert len(tasks) == 0


async def test_waiting_for_idle_just_as_the_last_task_ends_returns() -> None:
    """The waiter wakes before the ended task's done callback has forgotten it (it set the event
    the waiter waits on, then ended): on Python 3.12 and newer this used to spin forever."""
    tasks = TaskSet()
    ending = asyncio.Event()

    async def end() -> None:
        ending.set()

    tasks.add(asyncio.create_task(end()))
    await ending.wait()
    await tasks.wait_idle()

    assert len(tasks) == 0
