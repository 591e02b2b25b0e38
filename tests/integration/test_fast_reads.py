"""Cached reads answered in front of the middleware (api/fast_reads.py) answer exactly what the
normal path answers: status, body, headers, access line; and every limit and the revocation bound
hold for them as for any request."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from api.app import App
from api.fast_reads import FastReads
from resolvers.api_keys import revoke_api_key
from storage.db import create_engine, create_sessionmakers
from tests.conftest import Api, Keys
from tests.integration.documents import ACCOUNTS, INTEGRATION, SENDERS
from tests.integration.steps import added, enable

ORIGIN = "http://127.0.0.1:5173"  # a page this machine serves: allowed in development


def front(api: Api) -> FastReads:
    app = api.app
    assert isinstance(app, App)
    assert isinstance(app.front, FastReads)
    return app.front


async def read(api: Api, key: str, query: str, **headers: str) -> httpx.Response:
    sent = {"Authorization": f"Bearer {key}", **headers}
    return await api.http.post("/graphql", json={"query": query}, headers=sent)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The access lines, without what differs between any two requests (port, time)."""
    lines = [r.getMessage() for r in caplog.records if r.name == "sms_accounts.access"]
    return [re.sub(r"\d+\.\dms$", "<ms>", re.sub(r":\d+ ", ":<port> ", line)) for line in lines]


def comparable(response: httpx.Response) -> list[tuple[str, str]]:
    """The headers, with the two that must differ (the request id, the cache's mark) named but
    not valued."""
    return [
        (name, "<differs>" if name in ("x-request-id", "x-cache") else value)
        for name, value in response.headers.items()
        if name != "x-cache"
    ]


@pytest.mark.parametrize("query", [SENDERS, ACCOUNTS])
async def test_a_read_answered_up_front_matches_the_miss_that_stored_it(
    api: Api, keys: Keys, caplog: pytest.LogCaptureFixture, query: str
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Alerts")
    caplog.set_level(logging.INFO)
    answered = front(api).answered

    miss = await read(api, keys.admin, query, Origin=ORIGIN, **{"X-Request-Id": "edge-1"})
    hit = await read(api, keys.admin, query, Origin=ORIGIN, **{"X-Request-Id": "edge-1"})

    assert front(api).answered == answered + 1
    assert (miss.headers.get("x-cache"), hit.headers["x-cache"]) == (None, "hit")
    assert (hit.status_code, hit.content) == (miss.status_code, miss.content)
    assert comparable(hit) == comparable(miss)
    assert hit.headers["access-control-allow-origin"] == ORIGIN
    assert hit.headers["x-request-id"] != miss.headers["x-request-id"]
    assert access_lines(caplog)[-2:] == ['127.0.0.1:<port> "POST /graphql" 200 <ms>'] * 2


async def test_a_read_answered_up_front_matches_a_hit_on_the_normal_path(
    make_api: Callable[..., Any], keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the caller cache the front cannot know the key: the normal path answers its hits.
    async with make_api(auth_cache_seconds=0) as normal:
        await enable(normal, keys.admin)
        await read(normal, keys.admin, SENDERS)
        normal_hit = await read(normal, keys.admin, SENDERS)
        assert front(normal).answered == 0
    async with make_api() as api:
        await read(api, keys.admin, SENDERS)
        caplog.set_level(logging.INFO)
        fast_hit = await read(api, keys.admin, SENDERS)
        assert front(api).answered == 1

    assert normal_hit.headers["x-cache"] == fast_hit.headers["x-cache"] == "hit"
    assert comparable(fast_hit) == comparable(normal_hit)
    assert fast_hit.content == normal_hit.content


async def test_the_access_line_of_a_read_answered_up_front_carries_its_request_ids(
    api: Api, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    from api.logs import TextFormatter

    await read(api, keys.admin, SENDERS)
    caplog.set_level(logging.INFO)
    caplog.handler.setFormatter(TextFormatter("%(name)s: %(message)s"))

    hit = await read(api, keys.admin, SENDERS, **{"X-Request-Id": "edge-7"})

    [line] = [line for line in caplog.text.splitlines() if "sms_accounts.access" in line]
    assert line.endswith(f"[request {hit.headers['x-request-id']} parent edge-7]")


async def test_a_cached_callers_oversized_body_is_still_refused(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    async with make_api(max_body_bytes=1024) as api:
        await read(api, keys.admin, SENDERS)  # the caller is cached now
        padded = {"query": SENDERS, "padding": "x" * 2000}

        response = await api.http.post(
            "/graphql", json=padded, headers={"Authorization": f"Bearer {keys.admin}"}
        )

        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_revoked_keys_cached_read_is_refused_once_the_caller_cache_bound_passed(
    make_api: Callable[..., Any], keys: Keys, database_url: str
) -> None:
    async with make_api(auth_cache_seconds=0.3) as api:
        await read(api, keys.admin, SENDERS)
        assert (await read(api, keys.admin, SENDERS)).headers["x-cache"] == "hit"
        engine = create_engine(database_url)
        try:
            await revoke_api_key(create_sessionmakers(engine)[1], keys.admin)
        finally:
            await engine.dispose()

        await asyncio.sleep(0.35)

        refused = await read(api, keys.admin, SENDERS)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_body_sent_in_pieces_is_read_whole_and_answered_from_the_cache(
    api: Api, keys: Keys
) -> None:
    await read(api, keys.admin, SENDERS)
    body = httpx.Response(200, json={"query": SENDERS}).content

    async def pieces() -> Any:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    response = await api.http.post(
        "/graphql",
        content=pieces(),
        headers={
            "Authorization": f"Bearer {keys.admin}",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        },
    )

    assert response.status_code == 200
    assert response.headers["x-cache"] == "hit"
    assert response.json()["data"]["smsSenders"] is not None


async def test_the_reads_of_a_key_whose_caller_expired_share_one_key_lookup(
    api: Api, keys: Keys
) -> None:
    lookups: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM api_keys" in statement:
            lookups.append(statement)

    engine = api.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answers = await asyncio.gather(*(read(api, keys.sales, SENDERS) for _ in range(16)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert [answer.status_code for answer in answers] == [200] * 16
    assert len(lookups) == 1


async def test_concurrent_misses_of_one_answer_share_one_execution(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Alerts")
    await read(api, keys.marketer, INTEGRATION)  # the marketer's caller is cached
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM sms_accounts" in statement:
            statements.append(statement)

    engine = api.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        alone = await read(api, keys.admin, SENDERS)
        executed_alone = len(statements)
        together = await asyncio.gather(*(read(api, keys.marketer, SENDERS) for _ in range(16)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert executed_alone >= 1
    assert len(statements) == 2 * executed_alone
    assert {answer.content for answer in together} == {alone.content}
    assert sorted(answer.headers.get("x-cache", "miss") for answer in together) == (
        ["hit"] * 15 + ["miss"]
    )
