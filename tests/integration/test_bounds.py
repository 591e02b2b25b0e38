"""Every cache and table a long-running server fills is bounded by a setting, and refuses to
grow past it (what a soak of weeks would otherwise accumulate)."""

from __future__ import annotations

import _sqlite3
import asyncio
import ctypes
import gc
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.app import App
from api.fast_reads import FastReads
from api.response_cache import CachedAnswers
from providers.cache_versions import MemoryVersions, RedisVersions
from resolvers.events import accounts_channel
from storage.db import PoolBounds, create_engine
from tests.conftest import Keys
from tests.integration.documents import INTEGRATION
from tests.integration.live import ACCOUNT_CHANGED, Serve
from tests.integration.steps import added, enable, update


def answers_of(api: Any) -> CachedAnswers:
    answers = api.runtime.answers
    assert isinstance(answers, CachedAnswers)
    return answers


async def test_the_caller_cache_holds_no_more_keys_than_its_setting(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    async with make_api(auth_cache_entries=2) as api:
        for key in (keys.admin, keys.marketer, keys.sales, keys.admin):
            assert (await api.post(key, INTEGRATION)).status_code == 200

        app = api.app
        assert isinstance(app, App)
        assert isinstance(app.front, FastReads)
        assert len(app.front.authenticator) == 2


async def test_the_response_cache_holds_no_more_bytes_than_its_setting(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    async with make_api(response_cache_bytes=2_000) as api:
        store = answers_of(api).store
        for number in range(40):
            document = f"query Q{number} {{ smsIntegration {{ enabled }} }}"
            assert (await api.post(keys.admin, document)).status_code == 200

        assert 0 < len(store) < 40
        assert store.size <= 2_000


async def test_the_cache_versions_count_no_more_workspaces_than_their_setting(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(cache_workspaces_tracked=100) as api:
        versions = answers_of(api).versions
        assert isinstance(versions, MemoryVersions | RedisVersions)
        seen = set()
        for number in range(150):
            await versions.bump(f"workspace-{number}")
            seen.add(await versions.current(f"workspace-{number}"))

        assert len(versions) == 100
        if isinstance(versions, MemoryVersions):
            # The first workspaces were forgotten: their version is one none of them ever had.
            assert await versions.current("workspace-0") not in seen


async def test_the_database_pool_and_sqlites_page_caches_are_bounded_by_their_settings(
    make_api: Callable[..., Any],
) -> None:
    bounds = {"sqlite_cache_kib": 256, "sqlite_heap_limit_kib": 8192}
    async with make_api(db_pool_size=3, db_max_overflow=1, **bounds) as api:
        engine = api.runtime.database.engine
        pool = engine.sync_engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 1)
        if engine.dialect.name != "sqlite":
            return
        async with engine.connect() as connection:
            cache = (await connection.exec_driver_sql("PRAGMA cache_size")).scalar()
            heap = (await connection.exec_driver_sql("PRAGMA soft_heap_limit")).scalar()
        assert cache == -256  # KiB
        assert heap == 8192 * 1024  # bytes, for the whole process


async def test_a_sqlite_connection_keeps_only_the_prepared_statements_its_setting_allows(
    tmp_path: Path,
) -> None:
    """The same 200 distinct statements leave SQLite holding far less on a connection of ours
    that keeps 7 prepared than on one that keeps Python's default 128."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'statements.db'}"
    engine = create_engine(url, bounds=PoolBounds(sqlite_cached_statements=7))
    try:
        async with engine.connect() as connection:
            before = sqlite_memory_used()
            for statement in STATEMENTS:
                await connection.exec_driver_sql(statement, (1, "x"))
            kept = sqlite_memory_used() - before
    finally:
        await engine.dispose()
    plain = sqlite3.connect(tmp_path / "statements.db", cached_statements=128)
    try:
        before = sqlite_memory_used()
        for statement in STATEMENTS:
            plain.execute(statement, (1, "x")).fetchall()
        default = sqlite_memory_used() - before
    finally:
        plain.close()

    assert kept < default / 4, (kept, default)


STATEMENTS = [
    f"SELECT {number} + ? AS total, upper('{number}') AS name, length(?) AS size"
    for number in range(200)
]


def sqlite_memory_used() -> int:
    """All the memory SQLite holds in this process (sqlite3_memory_used, through ctypes)."""
    library = ctypes.CDLL(_sqlite3.__file__)
    library.sqlite3_memory_used.restype = ctypes.c_int64
    used: int = library.sqlite3_memory_used()
    return used


async def test_the_memory_diagnostic_reports_what_grew_when_turned_on(
    make_api: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sms_accounts.memory")
    async with make_api(debug_memory_report_seconds=0.3):
        await asyncio.sleep(1.0)

    reports = [r.getMessage() for r in caplog.records if r.name == "sms_accounts.memory"]
    assert any(line.startswith("memory: RSS ") and "asyncio tasks" in line for line in reports)
    assert any(line.startswith("memory: objects grown: ") for line in reports)


def collected_fields() -> int:
    """graphql-core's memo entries of collected sub-fields alive in this process."""
    gc.collect()
    return sum(type(thing).__name__ == "CollectedFields" for thing in gc.get_objects())


async def test_a_long_lived_subscription_keeps_nothing_of_the_events_it_was_pushed(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live, live.socket(keys.admin) as ws:
        await enable(live.api, keys.admin)
        card = await added(live.api, keys.admin)
        op = await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)
        await update(live.api, keys.admin, card["id"], displayName="warm")
        await ws.next_payload(op)
        before = collected_fields()

        for number in range(30):
            await update(live.api, keys.admin, card["id"], displayName=f"n{number}")
            assert "errors" not in await ws.next_payload(op)

        assert collected_fields() - before < 10  # each event's memo went with it
