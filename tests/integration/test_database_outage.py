"""A PostgreSQL restart or outage, played by a TCP proxy the test controls between the app and
the database: the app never learns it is not talking to PostgreSQL directly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, Keys
from tests.integration.documents import ACCOUNTS, INTEGRATION, SET_ENABLED

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL: set SMS_TEST_DATABASE_URL")


class Proxy:
    """Forwards a local port to PostgreSQL; can cut every connection, refuse new ones, resume."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.sever_on: bytes | None = None  # a connection sending this is cut at that moment

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """What a database restart does to open connections."""
        for pipe in tuple(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def down(self) -> None:
        """The database is gone: open connections drop and new ones are refused."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        await self.cut()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                _pump(reader, up_writer, lambda: self.sever_on), _pump(up_reader, writer)
            )
        except (asyncio.CancelledError, OSError):
            pass
        finally:
            for end in (writer, up_writer):
                end.transport.abort()
            self._pipes.discard(task)


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    sever_on: Callable[[], bytes | None] = lambda: None,
) -> None:
    while data := await reader.read(65536):
        marker = sever_on()
        if marker is not None and marker in data:
            raise ConnectionResetError("the database went away mid-request")
        writer.write(data)
        await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[Proxy]:
    url = make_url(database_url)
    running = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await running.start()
    yield running
    with contextlib.suppress(Exception):
        await running.down()


def through(proxy: Proxy, database_url: str) -> str:
    return make_url(database_url).set(port=proxy.port).render_as_string(hide_password=False)


async def test_a_database_restart_fails_no_request_that_arrives_after_it(
    make_api: Callable[..., Any], proxy: Proxy, database_url: str, keys: Keys
) -> None:
    async with make_api(database_url=through(proxy, database_url)) as api:
        await api.data(keys.admin, SET_ENABLED, {"enabled": True})
        await proxy.cut()  # every pooled connection is now dead

        answers = [await api.post(keys.admin, ACCOUNTS) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all("errors" not in answer.json() for answer in answers), answers[0].text


async def test_while_the_database_is_down_requests_get_a_json_503_and_then_it_recovers(
    make_api: Callable[..., Any], proxy: Proxy, database_url: str, keys: Keys
) -> None:
    async with make_api(
        database_url=through(proxy, database_url), public_url="https://sms.example.com"
    ) as api:
        await api.data(keys.admin, SET_ENABLED, {"enabled": True})
        await proxy.down()

        refused = await api.post(keys.admin, ACCOUNTS)
        webhook = await api.http.post(
            "/webhooks/twilio/some-account/status",
            data={"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"},
            headers={"X-Twilio-Signature": "c2lnbmF0dXJl"},
        )
        not_ready = await api.http.get("/readyz")

        await proxy.start()  # the database is back, on the same address
        recovered = await api.post(keys.admin, INTEGRATION)
        ready = await api.http.get("/readyz")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert webhook.status_code == 503, "an outage is not a forged signature (403)"
    assert not_ready.status_code == 503
    assert recovered.status_code == 200
    assert recovered.json()["data"]["smsIntegration"]["enabled"] is True
    assert ready.status_code == 200


async def test_the_verification_sweep_waits_out_an_outage_with_one_warning(
    make_api: Callable[..., Any],
    proxy: Proxy,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sms_accounts")
    async with make_api(database_url=through(proxy, database_url), verify_sweep_seconds=0.02):
        await proxy.down()
        await asyncio.sleep(1)  # some 50 sweep intervals: the sweep must not fail each of them
        await proxy.start()

    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("verification sweep: database unavailable; backing off") == 1, messages
    assert not [m for m in messages if m.startswith("verification sweep failed")], messages


async def test_an_outage_in_the_middle_of_a_query_answers_503_and_the_next_request_succeeds(
    make_api: Callable[..., Any], proxy: Proxy, database_url: str, keys: Keys
) -> None:
    async with make_api(database_url=through(proxy, database_url)) as api:
        await api.data(keys.admin, SET_ENABLED, {"enabled": True})
        proxy.sever_on = b"sms_accounts"  # the key is checked; the resolver's read is cut
        cut = await api.post(keys.admin, ACCOUNTS)
        proxy.sever_on = None
        after = await api.post(keys.admin, ACCOUNTS)

    assert cut.status_code == 503, cut.text
    assert cut.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    assert after.status_code == 200, after.text
    assert "errors" not in after.json()
