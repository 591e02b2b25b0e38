"""A use case's unit of work: what it queued is announced once it committed, never otherwise."""

from __future__ import annotations

import pytest

from domain.vocabulary import AccountStatus
from resolvers.unit import unit_of_work
from storage import queries
from tests.unit.world import World


async def test_announcements_run_after_the_commit_in_order(world: World) -> None:
    account = await world.add()
    seen: list[str] = []

    async with unit_of_work(world.services.writes) as unit:
        row = await queries.live_account(unit.session, world.caller.workspace_id, account.id)
        assert row is not None
        row.display_name = "Renamed"

        async def first() -> None:
            # The change is visible to another session: it was committed.
            seen.append((await world.row(account.id)).display_name)

        async def second() -> None:
            seen.append("second")

        unit.after_commit(first)
        unit.after_commit(second)
        unit.on_commit(lambda: seen.append("committed"))
        assert seen == []

    assert seen == ["committed", "Renamed", "second"]


async def test_an_abandoned_unit_writes_and_announces_nothing(world: World) -> None:
    account = await world.add()
    announced: list[str] = []

    async with unit_of_work(world.services.writes) as unit:
        row = await queries.live_account(unit.session, world.caller.workspace_id, account.id)
        assert row is not None
        row.status = AccountStatus.FAILED

        async def announce() -> None:
            announced.append("no")

        unit.after_commit(announce)
        unit.abandon()

    assert announced == []
    assert (await world.row(account.id)).status is AccountStatus.DRAFT


async def test_a_failing_unit_rolls_back_and_announces_nothing(world: World) -> None:
    account = await world.add()
    announced: list[str] = []

    async def announce() -> None:
        announced.append("no")

    async def failing_use_case() -> None:
        async with unit_of_work(world.services.writes) as unit:
            row = await queries.live_account(unit.session, world.caller.workspace_id, account.id)
            assert row is not None
            row.display_name = "Never"
            unit.after_commit(announce)
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()

    assert announced == []
    assert (await world.row(account.id)).display_name != "Never"
