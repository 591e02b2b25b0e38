"""Fixtures of the unit layer: a world of use cases on SQLite with a fake provider and clock."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.migrate import migrate
from tests.unit.world import World, world_on


@pytest.fixture(scope="session")
def unit_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (always SQLite: no server needed)."""
    path = tmp_path_factory.mktemp("unit-template") / "sms.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def unit_database(unit_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "sms.db"
    shutil.copy(unit_template, target)
    return target


@pytest.fixture
async def world(unit_database: Path) -> AsyncIterator[World]:
    async with world_on(unit_database) as built:
        yield built


@pytest.fixture
async def batching(world: World) -> AsyncIterator[World]:
    """The world with its delivery report batcher running, as the app runs it."""
    world.runtime.batcher.start()
    try:
        yield world
    finally:
        await world.runtime.batcher.stop()
