"""Per-workspace versions of what the response cache holds: bumped by every change a cached read
can show, read once per cacheable request.

``MemoryVersions`` serves one process (the embedded default). ``RedisVersions`` is shared by every
replica, so a read on any replica after a mutation's response sees the bumped version.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from providers.redis_keys import RedisKeys, Refusals

VERSION_PREFIX = "sms:cache:v:"
BUMP_ATTEMPTS = 8  # compare-and-set rounds lost to other replicas' bumps before giving up
_VALUE = re.compile(rb"(\d{1,18}\.[0-9a-f]{16})\.([0-9a-f:,]{1,400})")
# Sets the value only if it is still the one the bump read ('' for none): two replicas bumping
# at once both move it on, and neither write is lost.
_COMPARE_AND_SET = """
if (redis.call('GET', KEYS[1]) or '') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class VersionsUnavailable(Exception):
    """The shared version store cannot be read or written: nothing may be served from cache."""


class Versions(Protocol):
    async def current(self, workspace_id: str) -> str: ...

    async def bump(self, workspace_id: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryVersions:
    """Versions of one process. A new process starts a new epoch (its cache is empty anyway).

    At most ``tracked`` workspaces are counted (the least recently bumped is forgotten). Every
    version comes from one sequence, and a workspace never bumped or forgotten reads the
    generation of forgetting, which moves on at each one: a forgotten workspace's version is new,
    so nothing stored under its old one is served again."""

    def __init__(self, tracked: int = 10_000) -> None:
        self._epoch = secrets.token_hex(4)
        self._tracked = tracked
        self._counters: OrderedDict[str, int] = OrderedDict()
        self._sequence = itertools.count(1)
        self._forgotten = 0

    def __len__(self) -> int:
        return len(self._counters)

    async def current(self, workspace_id: str) -> str:
        counter = self._counters.get(workspace_id)
        if counter is None:
            return f"{self._epoch}:f{self._forgotten}"
        return f"{self._epoch}:{counter}"

    async def bump(self, workspace_id: str) -> None:
        self._counters[workspace_id] = next(self._sequence)
        self._counters.move_to_end(workspace_id)
        if len(self._counters) > self._tracked:
            self._counters.popitem(last=False)
            self._forgotten += 1

    async def aclose(self) -> None:
        return None


@dataclass(slots=True)
class _Seen:
    generation: int  # this process's mark, new each time the workspace is remembered anew
    number: int = 0  # the highest trusted number read or written here
    value: bytes | None = None  # that value as stored, so an unchanged value is not verified again
    version: str = ""  # what ``current`` answers for it

    def move_to(self, number: int, value: bytes | None) -> None:
        stamp = value.rsplit(b".", 1)[0].decode() if value else "0"
        self.number, self.value, self.version = number, value, f"{self.generation}:{stamp}"


class RedisVersions:
    """Versions in Redis, which is not trusted: one GET per read, a GET and a compare-and-set
    per change.

    A value is ``<number>.<nonce>.<MACs>``: the number goes up by one per bump, the random nonce
    makes it unique even if Redis lost its data and numbers start again, and the MACs (one per
    configured key) bind both to the workspace. A value without a valid MAC is forged; a value
    lower than the highest this process has seen for the workspace is one set back (a MAC'd value
    replayed, or Redis wiped). Either would bring old entries back, so it is replaced by a bump
    past the highest seen, which invalidates every entry, and counted. Each replica remembers
    the numbers of the ``tracked`` workspaces it read last; one it forgot gets a new generation
    in its versions, so nothing it cached before can match again.
    """

    def __init__(
        self, url: str, secret_keys: Sequence[bytes], *, timeout_seconds: float, tracked: int
    ) -> None:
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
        self._compare_and_set = self._redis.register_script(_COMPARE_AND_SET)
        self._keys = RedisKeys(secret_keys, "redis cache versions")
        self._tracked = tracked
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._generations = itertools.count()
        self.refused = Refusals("cache versions: replaced {count} value(s) found in Redis")

    async def current(self, workspace_id: str) -> str:
        key = VERSION_PREFIX + workspace_id
        try:
            value = await self._get(key)
            version = self._accept(workspace_id, value)
            if version is None:
                # Lower than seen may be a read overtaken by a newer one on another connection:
                # a read issued now must see at least what was seen.
                value = await self._get(key)
                version = self._accept(workspace_id, value)
            if version is None:
                self.refused.note("forged" if self._number(workspace_id, value) is None else "old")
                version = await self._replace(workspace_id, value)
        except (RedisError, OSError) as exc:
            raise VersionsUnavailable(type(exc).__name__) from None
        return version

    async def bump(self, workspace_id: str) -> None:
        try:
            await self._replace(workspace_id, await self._get(VERSION_PREFIX + workspace_id))
        except (RedisError, OSError) as exc:
            raise VersionsUnavailable(type(exc).__name__) from None

    async def aclose(self) -> None:
        await self._redis.aclose()

    def __len__(self) -> int:
        """Workspaces whose newest version is remembered (at most ``tracked``)."""
        return len(self._seen)

    async def _get(self, key: str) -> bytes | None:
        value = await self._redis.get(key)
        return value.encode() if isinstance(value, str) else value

    def _accept(self, workspace_id: str, value: bytes | None) -> str | None:
        """The version ``value`` stands for, or None when it is not to be trusted."""
        seen = self._seen.get(workspace_id)
        if seen is not None and value == seen.value:
            self._seen.move_to_end(workspace_id)
            return seen.version
        number = self._number(workspace_id, value)
        if number is None or (seen is not None and number < seen.number):
            return None
        return self._remember(workspace_id, number, value)

    async def _replace(self, workspace_id: str, value: bytes | None) -> str:
        """Write a value past both ``value`` (when trusted) and the highest seen here."""
        key = VERSION_PREFIX + workspace_id
        for _ in range(BUMP_ATTEMPTS):
            seen = self._seen.get(workspace_id)
            number = 1 + max(self._number(workspace_id, value) or 0, seen.number if seen else 0)
            stamp = f"{number}.{secrets.token_hex(8)}"
            new = f"{stamp}.{self._keys.sign(_signed(workspace_id, stamp))}".encode()
            if await self._compare_and_set(keys=[key], args=[value or b"", new]):
                return self._remember(workspace_id, number, new)
            value = await self._get(key)  # another replica bumped meanwhile
        raise VersionsUnavailable(f"{BUMP_ATTEMPTS} bumps in a row lost to other writers")

    def _number(self, workspace_id: str, value: bytes | None) -> int | None:
        """The number of a trusted value (0: never bumped), None for a forged one."""
        if value is None:
            return 0
        match = _VALUE.fullmatch(value)
        if match is None:
            return None
        stamp, signature = match[1].decode(), match[2].decode()
        if not self._keys.verify(_signed(workspace_id, stamp), signature):
            return None
        return int(stamp.partition(".")[0])

    def _remember(self, workspace_id: str, number: int, value: bytes | None) -> str:
        """Record a trusted value at least as high as any seen; its version."""
        seen = self._seen.get(workspace_id)
        if seen is None:
            seen = self._seen[workspace_id] = _Seen(next(self._generations))
            if len(self._seen) > self._tracked:
                self._seen.popitem(last=False)
        if number >= seen.number:
            seen.move_to(number, value)
        self._seen.move_to_end(workspace_id)
        return seen.version


def _signed(workspace_id: str, stamp: str) -> bytes:
    return f"{workspace_id}\n{stamp}".encode()
