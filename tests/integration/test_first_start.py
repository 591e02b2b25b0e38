"""The first start's admin key lies in a file, so it must be used in time or it is refused; a
database that lost its key file is not given a new one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from api.cli import main
from resolvers.api_keys import bootstrap_first_key
from storage.db import create_engine, create_sessionmakers, sqlite_path
from storage.models import ApiKey
from tests.conftest import Keys, account_input
from tests.integration.documents import ADD, INTEGRATION, SET_ENABLED


async def first_key(database_url: str, within: timedelta) -> str:
    """What ``serve`` issues on an empty database."""
    engine = create_engine(database_url)
    _, writes = create_sessionmakers(engine)
    try:
        issued = await bootstrap_first_key(writes, within)
    finally:
        await engine.dispose()
    assert issued is not None
    return issued.key


async def move_first_use_deadline_back(database_url: str) -> None:
    """The clock, moved past the deadline: as a day without use would."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            update(ApiKey).values(first_use_by=datetime(2000, 1, 1, tzinfo=UTC))
        )
    await engine.dispose()


async def test_an_unused_first_key_is_refused_once_its_time_is_up(
    make_api: Callable[..., Any], database_url: str
) -> None:
    key = await first_key(database_url, timedelta(hours=24))
    await move_first_use_deadline_back(database_url)

    async with make_api(auth_cache_seconds=0) as api:
        response = await api.post(key, INTEGRATION)

    assert response.status_code == 401


async def test_a_first_key_used_in_time_lives_on_like_any_key(
    make_api: Callable[..., Any], database_url: str
) -> None:
    key = await first_key(database_url, timedelta(hours=24))

    async with make_api(auth_cache_seconds=0) as api:
        first = await api.post(key, INTEGRATION)
        await move_first_use_deadline_back(database_url)
        later = await api.post(key, INTEGRATION)

    assert first.status_code == 200
    assert later.status_code == 200


def test_a_lost_key_file_stops_the_start_in_one_sentence_and_no_new_key_is_made(
    make_api: Callable[..., Any],
    keys: Keys,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cli_logging: None,
) -> None:
    path = sqlite_path(database_url)
    if path is None:
        pytest.skip("the key file is the embedded default's (SQLite without SMS_ENCRYPTION_KEYS)")
    key_file = path.with_name("sms.key")

    async def add_an_account() -> None:
        async with make_api(encryption_keys="") as api:  # the key file is generated
            await api.data(keys.admin, SET_ENABLED, {"enabled": True})
            await api.data(keys.admin, ADD, {"input": account_input()})

    asyncio.run(add_an_account())
    key_file.unlink()
    for name in ("SMS_ENCRYPTION_KEYS", "SMS_ENV", "SMS_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMS_DATABASE_URL", database_url)

    code = main(["serve", "--port", "1"])

    err = capsys.readouterr().err
    assert code == 2
    [line] = [line for line in err.splitlines() if line.startswith("sms-accounts:")]
    assert f"the key file {Path(key_file)} is missing, but the database holds 1 Auth Token" in line
    assert "put back the key file" in line
    assert not key_file.exists()
