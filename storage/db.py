"""Engine and sessions. Parameters are never logged: they can hold ciphertexts and key hashes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg.exceptions  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.drivername.startswith("sqlite"):
        path = sqlite_path(database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    # Enough pooled connections for a busy worker: beyond the pool, connections are opened and
    # closed per request (a thread, a file open and the pragmas each time on SQLite).
    kwargs.update(pool_size=20, max_overflow=10)
    # A pooled connection may have died with a database server's restart: a ping before each
    # checkout replaces it, so the first request after the restart does not fail. A SQLite file
    # has no server to restart, and its ping would cost a thread hop per request.
    kwargs["pool_pre_ping"] = not url.drivername.startswith("sqlite")
    engine = create_async_engine(url, **kwargs)
    if url.drivername.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the driver, begins transactions, so writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers take the write lock up front. Readers run each statement in SQLite's own implicit
    # transaction: every read use case is one statement, and no BEGIN saves a thread hop.
    if connection.get_execution_options().get(_WRITER, False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_WRITER = "sms_writer"


class SerializedWriteSession(AsyncSession):
    """A write session that waits its turn in this process (SQLite allows one writer at a time).

    Waiting on an asyncio lock is FIFO and costs nothing; waiting on SQLite's busy handler means
    sleeps of up to 100 ms, which put the p99 of concurrent writes near a second
    (bench/webhooks.py). Other processes on the same file still meet the busy handler.
    """

    async def __aenter__(self) -> SerializedWriteSession:
        await self.info["write_lock"].acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.close()
        finally:
            self.info["write_lock"].release()


def create_sessionmakers(
    engine: AsyncEngine,
) -> tuple[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]:
    """(reads, writes). On SQLite a write transaction takes the write lock when it begins, so a
    read-then-write never fails on a lock upgrade, and writers of this process take turns; on
    PostgreSQL writers lock rows FOR UPDATE. Write sessions must be used as ``async with``."""
    reads = async_sessionmaker(engine, expire_on_commit=False)
    writer = engine.execution_options(**{_WRITER: True})
    if engine.dialect.name == "sqlite":
        writes: async_sessionmaker[AsyncSession] = async_sessionmaker(
            writer,
            class_=SerializedWriteSession,
            expire_on_commit=False,
            info={"write_lock": asyncio.Lock()},
        )
    else:
        writes = async_sessionmaker(writer, expire_on_commit=False)
    return reads, writes


# What a database that went away raises: refused or dropped connections, a server shutting down
# or starting up. Anything else is a bug or bad data, never reported as an outage.
_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the database is unreachable right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False
