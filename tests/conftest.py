"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when
SMS_TEST_DATABASE_URL is set), the ASGI app over httpx, and API keys for each role."""

from __future__ import annotations

import asyncio
import base64
import faulthandler
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from api.bootstrap import Runtime, build_services
from api.settings import Settings
from domain.vocabulary import Role
from resolvers.api_keys import create_api_key
from storage.db import create_engine, create_sessionmakers
from storage.migrate import migrate

PG_URL = os.environ.get("SMS_TEST_DATABASE_URL")
BUS_URL = os.environ.get("SMS_TEST_BROADCAST_URL", "memory://")
TEST_KEY = base64.b64encode(b"k" * 32).decode()
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f1e2d3c4b5a6978812345678abcdef90"
PHONE = "+14155550123"
MG_SID = "MG" + "fedcba9876543210" * 2
TABLES = (
    "procrastinate_jobs",
    "procrastinate_workers",
    "sms_send_pace",
    "sms_opt_outs",
    "sms_messages",
    "sms_accounts",
    "api_keys",
    "workspaces",
)


# A test phase (setup, call, teardown) that runs longer than this ends the run at once (exit code
# 1; the watchdog's traceback goes to the phase's captured output), instead of holding it until
# CI's own limit (a spinning event loop did once). faulthandler's watchdog is a thread: no signal
# handler (an alarm signal broke PostgreSQL connection attempts in teardowns). The slowest test
# takes about 35 s on a loaded machine; 180 s leaves room.
TEST_TIME_LIMIT_SECONDS = float(os.environ.get("SMS_TEST_TIME_LIMIT_SECONDS", "180"))


@contextmanager
def _time_limited() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_TIME_LIMIT_SECONDS, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _time_limited():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _time_limited():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    with _time_limited():
        return (yield)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """SQLite: one migrated file copied per test. PostgreSQL: migrate once, truncate per test."""
    if PG_URL:
        asyncio.run(_reset_postgres(PG_URL))
        migrate(PG_URL)
        return None
    path = tmp_path_factory.mktemp("template") / "sms.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def _truncate_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
    await engine.dispose()


@pytest.fixture
def database_url(_template: Path | None, tmp_path: Path) -> Iterator[str]:
    if _template is None:
        assert PG_URL is not None
        asyncio.run(_truncate_postgres(PG_URL))
        yield PG_URL
        return
    target = tmp_path / "data" / "sms.db"
    target.parent.mkdir()
    shutil.copy(_template, target)
    yield f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def dns() -> dict[str, list[str]]:
    """Names the test resolver knows; any other name does not resolve (as with DNS down)."""
    return {}


@pytest.fixture
def settings_factory(database_url: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "encryption_keys": TEST_KEY,
            "broadcast_url": BUS_URL,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@dataclass
class Api:
    """A GraphQL client over the ASGI app: real documents, real variables, real HTTP semantics."""

    http: httpx.AsyncClient
    app: Any
    runtime: Runtime  # what the app runs on: its services, verifier, database

    async def post(
        self, key: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=headers)

    async def run(
        self, key: str, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.post(key, query, variables)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def data(
        self, key: str, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = await self.run(key, query, variables)
        assert "errors" not in result, result["errors"]
        data: dict[str, Any] = result["data"]
        return data


@pytest.fixture
def twilio() -> respx.Router:
    """Twilio, mocked at the HTTP boundary: the only thing the tests fake."""
    return respx.Router(assert_all_mocked=True, assert_all_called=False)


@pytest.fixture
def make_api(
    settings_factory: Callable[..., Settings], dns: dict[str, list[str]], twilio: respx.Router
) -> Callable[..., Any]:
    """Build an app with settings overrides; used as ``async with make_api(...) as api``."""
    from contextlib import asynccontextmanager

    async def resolver(host: str) -> list[str]:
        if host in dns:
            return dns[host]
        raise OSError(f"{host} does not resolve")

    @asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[Api]:
        overrides.setdefault("retry_base_seconds", 0.01)
        runtime = build_services(
            settings_factory(**overrides),
            provider_transport=httpx.MockTransport(twilio.async_handler),
            resolver=resolver,
        )
        app = create_app(runtime)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        ):
            yield Api(http, app, runtime)

    return build


@pytest.fixture
async def api(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    async with make_api() as built:
        yield built


@dataclass
class Keys:
    admin: str
    marketer: str
    sales: str

    def of(self, role: Role) -> str:
        key: str = getattr(self, role.value)
        return key


async def issue_keys(database_url: str, workspace: str) -> Keys:
    engine = create_engine(database_url)
    _, writes = create_sessionmakers(engine)
    try:
        issued = {
            role: (await create_api_key(writes, workspace, role)).key
            for role in (Role.ADMIN, Role.MARKETER, Role.SALES)
        }
    finally:
        await engine.dispose()
    return Keys(issued[Role.ADMIN], issued[Role.MARKETER], issued[Role.SALES])


@pytest.fixture
async def keys(database_url: str) -> Keys:
    """Keys of workspace "acme"."""
    return await issue_keys(database_url, "acme")


@pytest.fixture
async def other_keys(database_url: str) -> Keys:
    """Keys of a second workspace, "globex", that must never see acme's data."""
    return await issue_keys(database_url, "globex")


def phone(number: int) -> str:
    """A sender of its own: one Account SID and sender is connected once per workspace."""
    return f"+1202555{number:04d}"


def account_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "provider": "TWILIO",
        "senderId": PHONE,
        "clientId": ACCOUNT_SID,
        "authToken": AUTH_TOKEN,
    }
    values.update(overrides)
    return values


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """The CLI's ``main`` points the root logger at this test's stderr: put it back after, so
    later tests do not log into a closed capture."""
    root, ours = logging.getLogger(), logging.getLogger("sms_accounts")
    handlers, levels = root.handlers[:], (root.level, ours.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    ours.setLevel(levels[1])
