"""Per-workspace versions of what the response cache holds: bumped by every change a cached read
can show, read once per cacheable request.

``MemoryVersions`` serves one process (the embedded default). ``RedisVersions`` is shared by every
replica, so a read on any replica after a mutation's response sees the bumped version. Its values
carry an epoch kept in Redis itself: a Redis that restarted empty starts a new epoch, so counters
that begin again at 1 can never match an entry stored before the restart.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

EPOCH_KEY = "sms:cache:epoch"
VERSION_PREFIX = "sms:cache:v:"


class VersionsUnavailable(Exception):
    """The shared version store cannot be read or written: nothing may be served from cache."""


class Versions(Protocol):
    async def current(self, workspace_id: str) -> str: ...

    async def bump(self, workspace_id: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryVersions:
    """Versions of one process. A new process starts a new epoch (its cache is empty anyway)."""

    def __init__(self) -> None:
        self._epoch = secrets.token_hex(4)
        self._counters: dict[str, int] = {}

    async def current(self, workspace_id: str) -> str:
        return f"{self._epoch}:{self._counters.get(workspace_id, 0)}"

    async def bump(self, workspace_id: str) -> None:
        self._counters[workspace_id] = self._counters.get(workspace_id, 0) + 1

    async def aclose(self) -> None:
        return None


class RedisVersions:
    """Versions in Redis: one MGET per read, one INCR per change."""

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        # One retry on a fresh connection: a pooled connection that went stale while Redis
        # restarted is not an outage.
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
            health_check_interval=30,
        )

    async def current(self, workspace_id: str) -> str:
        try:
            epoch, counter = await self._redis.mget(EPOCH_KEY, VERSION_PREFIX + workspace_id)
            if epoch is None:
                await self._redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
                epoch, counter = await self._redis.mget(EPOCH_KEY, VERSION_PREFIX + workspace_id)
        except (RedisError, OSError) as exc:
            raise VersionsUnavailable(type(exc).__name__) from None
        return f"{_text(epoch)}:{_text(counter) or 0}"

    async def bump(self, workspace_id: str) -> None:
        try:
            await self._redis.incr(VERSION_PREFIX + workspace_id)
        except (RedisError, OSError) as exc:
            raise VersionsUnavailable(type(exc).__name__) from None

    async def aclose(self) -> None:
        await self._redis.aclose()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def create_versions(broadcast_url: str, *, timeout_seconds: float) -> Versions:
    """Shared versions whenever events cross replicas (Redis), else this process's own."""
    if broadcast_url.startswith(("redis://", "rediss://")):
        return RedisVersions(broadcast_url, timeout_seconds=timeout_seconds)
    return MemoryVersions()
