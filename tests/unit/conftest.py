"""Fixtures of the unit layer: a world of use cases on SQLite with a fake provider and clock."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.vocabulary import SmsProvider
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


@pytest.fixture(params=list(SmsProvider), ids=lambda provider: provider.name.lower())
async def world(unit_database: Path, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """The world, once for each provider: every use case runs against each."""
    async with world_on(unit_database, provider=request.param) as built:
        yield built


@pytest.fixture
async def twilio_world(unit_database: Path) -> AsyncIterator[World]:
    """The world with Twilio behind the port: for what only Twilio has (From numbers and
    Messaging Services, per-message callbacks, inbound replies)."""
    async with world_on(unit_database, provider=SmsProvider.TWILIO) as built:
        yield built


@pytest.fixture
async def msg91_world(unit_database: Path) -> AsyncIterator[World]:
    """The world with MSG91 behind the port: for what only MSG91 has (DLT headers and
    templates, routes, one delivery-report URL per account); its batcher runs."""
    async with world_on(unit_database, provider=SmsProvider.MSG91) as built:
        built.runtime.batcher.start()
        try:
            yield built
        finally:
            await built.runtime.batcher.stop()


@pytest.fixture
async def batching(world: World) -> AsyncIterator[World]:
    """The world with its delivery report batcher running, as the app runs it."""
    world.runtime.batcher.start()
    try:
        yield world
    finally:
        await world.runtime.batcher.stop()
