"""A key's last use is recorded for list-api-keys, at most once a minute per key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.db import create_engine
from tests.conftest import Api, Keys

INTEGRATION = "{ smsIntegration { enabled } }"


async def sql(database_url: str, statement: str, **values: object) -> object:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), values)
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


async def last_used(database_url: str, key: str) -> object:
    prefix = "_".join(key.split("_")[:2])
    return await sql(database_url, "SELECT last_used_at FROM api_keys WHERE prefix = :p", p=prefix)


async def test_a_key_in_use_is_written_once_a_minute_not_once_a_request(
    api: Api, keys: Keys, database_url: str
) -> None:
    assert await last_used(database_url, keys.admin) is None

    await api.data(keys.admin, INTEGRATION)
    first = await last_used(database_url, keys.admin)
    for _ in range(3):
        await api.data(keys.admin, INTEGRATION)

    assert first is not None
    assert await last_used(database_url, keys.admin) == first
    assert await last_used(database_url, keys.marketer) is None


async def test_a_use_after_the_minute_moves_the_last_use_on(
    api: Api, keys: Keys, database_url: str
) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    prefix = "_".join(keys.admin.split("_")[:2])
    await sql(
        database_url,
        "UPDATE api_keys SET last_used_at = :t WHERE prefix = :p",
        t=long_ago,
        p=prefix,
    )

    await api.data(keys.admin, INTEGRATION)

    assert str(await last_used(database_url, keys.admin)) != str(long_ago)
