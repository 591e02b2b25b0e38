"""The response cache's parts: the LRU within its byte budget and its TTL, which documents are
cached, failing closed when a version bump fails (versions faked behind their port), and the
shared versions in a real Redis."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from api.response_cache import (
    CacheableDocuments,
    CachedAnswers,
    ResponseStore,
    is_cacheable_document,
)
from providers.cache_versions import (
    VERSION_PREFIX,
    MemoryVersions,
    RedisVersions,
    VersionsUnavailable,
)

REDIS_URL = os.environ.get("SMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def key(n: int) -> tuple[str, str, bytes]:
    return ("workspace", "admin", n.to_bytes(16, "big"))


def test_an_entry_of_another_version_is_a_miss_and_is_dropped() -> None:
    store = ResponseStore(10_000, ttl_seconds=60)
    store.put(key(1), "e:1", b"old")

    assert store.get(key(1), "e:2") is None
    assert len(store) == 0
    assert store.size == 0


def test_the_store_never_holds_more_than_its_budget_and_drops_the_least_recently_used() -> None:
    store = ResponseStore(3 * 400, ttl_seconds=60)
    for n in range(3):
        store.put(key(n), "v", b"x" * 100)
    store.get(key(0), "v")  # 0 is now the most recently used

    store.put(key(3), "v", b"x" * 100)

    assert store.size <= store.max_bytes
    assert store.get(key(1), "v") is None
    assert store.get(key(0), "v") == b"x" * 100


def test_an_answer_larger_than_the_budget_is_not_stored() -> None:
    store = ResponseStore(500, ttl_seconds=60)
    store.put(key(1), "v", b"x" * 1000)
    assert len(store) == 0


def test_an_entry_is_a_miss_once_its_ttl_has_passed() -> None:
    now = [100.0]
    store = ResponseStore(10_000, ttl_seconds=5, clock=lambda: now[0])
    store.put(key(1), "v", b"answer")

    now[0] = 104.9
    assert store.get(key(1), "v") == b"answer"
    now[0] = 105.0
    assert store.get(key(1), "v") is None
    assert len(store) == 0
    assert store.size == 0


class StallingVersions:
    """In-process versions whose bumps fail while ``down`` (Redis stalled for writes) or for the
    next ``fail_next`` calls, and wait for ``hold`` when it is set; every bump is logged."""

    def __init__(self) -> None:
        self._versions = MemoryVersions()
        self.down = False
        self.fail_next = 0
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()
        self.log: list[str] = []

    async def current(self, workspace_id: str) -> str:
        return await self._versions.current(workspace_id)

    async def bump(self, workspace_id: str) -> None:
        self.log.append("start")
        if self.down or self.fail_next:
            self.fail_next = max(0, self.fail_next - 1)
            self.log.append("failed")
            raise VersionsUnavailable("TimeoutError")
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        await self._versions.bump(workspace_id)
        self.log.append("ok")

    async def aclose(self) -> None:
        return None


async def until(condition: Callable[[], bool], failure: str) -> None:
    """Yield to the retry task until ``condition()`` holds (a generous bound, no speed test)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.01)


async def test_a_failed_bump_stops_caching_its_workspace_until_the_retry_lands() -> None:
    versions = StallingVersions()
    answers = CachedAnswers(ResponseStore(10_000, ttl_seconds=60), versions, retry_max_seconds=0.05)
    answers.start()
    try:
        stale = await answers.version("a")
        assert stale is not None
        answers.put(("a", "admin", b"1"), stale, b"old")
        other = await answers.version("b")
        assert other is not None
        answers.put(("b", "admin", b"1"), other, b"theirs")
        versions.down = True

        await answers.invalidate("a")  # never raises

        assert answers.get(("a", "admin", b"1"), stale) is None
        assert await answers.version("a") is None  # no hit, and nothing stored under it
        answers.put(("a", "admin", b"1"), stale, b"read while the bump was owed")
        assert answers.get(("a", "admin", b"1"), stale) is None
        assert answers.get(("b", "admin", b"1"), other) == b"theirs"

        versions.down = False
        await until(lambda: not answers.is_dirty("a"), "the failed bump was never retried")
        assert await answers.version("a") not in (None, stale)
    finally:
        await answers.stop()
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "cache-bumps"]


async def test_a_retry_does_not_clean_a_failure_that_happened_while_it_ran() -> None:
    versions = StallingVersions()
    answers = CachedAnswers(ResponseStore(10_000, ttl_seconds=60), versions, retry_max_seconds=0.05)
    versions.fail_next = 1
    await answers.invalidate("a")
    versions.hold = asyncio.Event()
    answers.start()
    try:
        await until(versions.held.is_set, "the retry never bumped")
        # A second change fails its bump while the retry's bump is under way.
        versions.fail_next = 1
        await answers.invalidate("a")
        versions.hold.set()

        await until(lambda: not answers.is_dirty("a"), "never clean again")

        # The retry in flight succeeded but left the workspace dirty; only the next one,
        # started after the second failure, cleaned it.
        assert versions.log[-4:] == ["failed", "ok", "start", "ok"]
    finally:
        await answers.stop()


@pytest.mark.parametrize(
    ("document", "name", "cacheable"),
    [
        ("{ smsSenders { accountId } }", None, True),
        ("query A { smsAccounts { stats { connected } } smsIntegration { enabled } }", "A", True),
        ("{ smsMessages { edges { cursor } } }", None, False),
        ("{ smsSenders { accountId } smsMessages { edges { cursor } } }", None, False),
        ("mutation { setSmsIntegrationEnabled(enabled: true) { errors { code } } }", None, False),
        ("subscription { smsSendersChanged { accountId } }", None, False),
        ("{ ...F } fragment F on Query { smsSenders { accountId } }", None, False),
        (
            "query A { smsSenders { accountId } } query B { smsMessages { edges { cursor } } }",
            "B",
            False,
        ),
        ("query A { smsSenders { accountId } } query B { smsSenders { accountId } }", None, False),
        ("{ smsSenders {", None, False),
    ],
)
def test_only_queries_of_the_hot_root_fields_are_cached(
    document: str, name: str | None, cacheable: bool
) -> None:
    assert is_cacheable_document(document, name) is cacheable


async def test_memory_versions_move_only_for_their_workspace() -> None:
    versions = MemoryVersions()
    before_a, before_b = await versions.current("a"), await versions.current("b")

    await versions.bump("a")

    assert await versions.current("a") != before_a
    assert await versions.current("b") == before_b


async def test_redis_versions_never_come_back_when_redis_lost_its_data() -> None:
    raw = Redis.from_url(REDIS_URL)
    versions = RedisVersions(REDIS_URL, [b"k" * 32], timeout_seconds=1, tracked=100)
    try:
        await raw.ping()
    except OSError:
        pytest.skip("no Redis at " + REDIS_URL)
    try:
        await versions.bump("w")
        before = await versions.current("w")
        await raw.flushdb()  # what a Redis that restarted without persistence looks like

        after = await versions.current("w")

        assert after != before
        assert await raw.exists(VERSION_PREFIX + "w")  # moved past what this replica saw
    finally:
        await raw.flushdb()
        await raw.aclose()
        await versions.aclose()


def test_what_is_remembered_of_documents_stays_within_its_text_budget() -> None:
    documents = CacheableDocuments(budget_chars=300)
    texts = [f"query Q{n} {{ smsSenders {{ senderId }} }}" for n in range(40)]

    verdicts = [documents.of_document(text, None) for text in texts]
    long = "query { smsSenders { senderId } }" + " " * 1_000

    assert verdicts == [True] * 40
    assert documents.of_document(long, None) is True
    assert 0 < len(documents) < 40
    assert documents.size <= 300
