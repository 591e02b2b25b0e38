"""Engine and sessions. Parameters are never logged: they can hold ciphertexts and key hashes."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
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


def create_sqlite_file(path: Path) -> bool:
    """Create an empty database file that only this user may read or write (0600; SQLite gives
    its -wal and -shm files the mode of the database), in a folder made 0700 when it is new: it
    holds every workspace's messages and phone numbers. False when the file already existed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        descriptor = os.open(path, flags, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        return False
    os.close(descriptor)  # an empty file is an empty SQLite database
    return True


@dataclass(frozen=True)
class PoolBounds:
    """What a process holds open on its database: ``size`` pooled connections and ``overflow``
    more while busy; on SQLite each holds a page cache of at most ``sqlite_cache_kib`` and at most
    ``sqlite_cached_statements`` prepared statements, and all of SQLite in this process strives
    to stay under ``sqlite_heap_limit_kib`` (0: no limit)."""

    size: int = 20
    overflow: int = 10
    sqlite_cache_kib: int = 2000  # SQLite's own default
    sqlite_heap_limit_kib: int = 0  # SQLite's own default: none
    sqlite_cached_statements: int = 128  # Python's sqlite3 default


def create_engine(
    database_url: str, *, echo: bool = False, bounds: PoolBounds | None = None
) -> AsyncEngine:
    bounds = bounds or PoolBounds()
    url = make_url(database_url)
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    sqlite = url.drivername.startswith("sqlite")
    if sqlite:
        path = sqlite_path(database_url)
        if path is not None:
            create_sqlite_file(path)
        kwargs["connect_args"] = {
            "timeout": 30,
            "cached_statements": bounds.sqlite_cached_statements,
        }
    # Enough pooled connections for a busy worker: beyond the pool, connections are opened and
    # closed per request (a thread, a file open and the pragmas each time on SQLite).
    kwargs.update(pool_size=bounds.size, max_overflow=bounds.overflow)
    # The most recently used connection first: under a light load the same few serve everything
    # and the others' page caches stay small (SQLite: each fills its own as the file grows).
    kwargs["pool_use_lifo"] = True
    # A pooled connection may have died with a database server's restart: a ping before each
    # checkout replaces it, so the first request after the restart does not fail. A SQLite file
    # has no server to restart, and its ping would cost a thread hop per request.
    kwargs["pool_pre_ping"] = not sqlite
    engine = create_async_engine(url, **kwargs)
    if sqlite:
        pragmas = functools.partial(
            _sqlite_pragmas,
            cache_kib=bounds.sqlite_cache_kib,
            heap_limit_kib=bounds.sqlite_heap_limit_kib,
        )
        event.listen(engine.sync_engine, "connect", pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(
    dbapi_connection: Any, _record: Any, *, cache_kib: int = 2000, heap_limit_kib: int = 0
) -> None:
    # SQLAlchemy, not the driver, begins transactions, so writers can take the lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Negative: a size in KiB, not pages. Each connection's cache fills as the file grows.
    cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    if heap_limit_kib:
        # One budget for the whole process (the pragma is process-wide; every connection sets
        # the same): near it, a connection recycles its own least recently used pages, so the
        # pool's caches stop growing however many connections have been used.
        cursor.execute(f"PRAGMA soft_heap_limit={int(heap_limit_kib) * 1024}")
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


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and what caused it: a driver's error behind SQLAlchemy's, then ``__cause__``."""
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the database is unreachable right now."""
    return any(
        isinstance(current, _OUTAGES)
        or (isinstance(current, DBAPIError) and current.connection_invalidated)
        for current in _causes(exc)
    )


@dataclass(frozen=True, slots=True)
class ConnectionProblem:
    """Why the database cannot be used at all, and what to do: for a one-line refusal."""

    reason: str
    fix: str


_FILE_ERRORS = (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError)


def connection_problem(exc: BaseException) -> ConnectionProblem | None:
    """What kept the database from being reached, entered or opened; None for anything else (a
    bug or bad data is never passed off as a setting to correct)."""
    for cause in _causes(exc):
        problem = _problem_of(cause)
        if problem is not None:
            return problem
    return None


def _problem_of(cause: BaseException) -> ConnectionProblem | None:
    if isinstance(cause, socket.gaierror):
        return ConnectionProblem("its host name does not resolve", "correct the host name")
    if isinstance(cause, _FILE_ERRORS):
        where = f"{cause.filename}: " if cause.filename else ""
        return ConnectionProblem(
            f"{where}{cause.strerror or type(cause).__name__}",
            "correct the path, or the folder's owner and permissions",
        )
    if isinstance(cause, asyncpg.exceptions.InvalidCatalogNameError):
        return ConnectionProblem(
            "the database does not exist on that server",
            "create it (createdb NAME) or correct the database name",
        )
    if isinstance(cause, asyncpg.exceptions.InvalidAuthorizationSpecificationError):
        return ConnectionProblem(
            "the server refused the user or password", "correct the user name and password"
        )
    if isinstance(cause, sqlite3.DatabaseError):
        text = str(cause)
        if "unable to open" in text or "not a database" in text or "readonly" in text:
            return ConnectionProblem(
                f"SQLite says {text!r}", "point it at the server's database file"
            )
    if isinstance(cause, _OUTAGES):
        refused = isinstance(cause, ConnectionRefusedError)
        return ConnectionProblem(
            "connection refused" if refused else f"unreachable ({type(cause).__name__})",
            "start the database server, or correct the host and port",
        )
    return None
