"""The response cache's pure parts: the LRU within its byte budget, which documents are cached,
and the shared versions in a real Redis."""

from __future__ import annotations

import os

import pytest
from redis.asyncio import Redis

from api.response_cache import ResponseStore, is_cacheable_document
from providers.cache_versions import VERSION_PREFIX, MemoryVersions, RedisVersions

REDIS_URL = os.environ.get("SMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def key(n: int) -> tuple[str, str, bytes]:
    return ("workspace", "admin", n.to_bytes(16, "big"))


def test_an_entry_of_another_version_is_a_miss_and_is_dropped() -> None:
    store = ResponseStore(10_000)
    store.put(key(1), "e:1", b"old")

    assert store.get(key(1), "e:2") is None
    assert len(store) == 0
    assert store.size == 0


def test_the_store_never_holds_more_than_its_budget_and_drops_the_least_recently_used() -> None:
    store = ResponseStore(3 * 400)
    for n in range(3):
        store.put(key(n), "v", b"x" * 100)
    store.get(key(0), "v")  # 0 is now the most recently used

    store.put(key(3), "v", b"x" * 100)

    assert store.size <= store.max_bytes
    assert store.get(key(1), "v") is None
    assert store.get(key(0), "v") == b"x" * 100


def test_an_answer_larger_than_the_budget_is_not_stored() -> None:
    store = ResponseStore(500)
    store.put(key(1), "v", b"x" * 1000)
    assert len(store) == 0


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
