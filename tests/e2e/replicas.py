"""Helpers of the tests that run two ``sms-accounts serve`` replicas on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL
from tests.e2e.server import Server
from tests.redis_server import REDIS_SERVER, wait_until


def require_postgres_and_redis() -> None:
    if not PG_URL:
        pytest.skip("replicas share PostgreSQL: set SMS_TEST_DATABASE_URL")
    if REDIS_SERVER is None:
        pytest.skip("no redis-server on PATH")


def ready(server: Server) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200


def bus_state(server: Server) -> str | None:
    try:
        state: str | None = httpx.get(f"{server.url}/readyz", timeout=5).json().get("bus")
    except (httpx.TransportError, ValueError):
        return None
    return state


def wait_for_bus(servers: list[Server], state: str) -> None:
    for server in servers:
        wait_until(functools.partial(_bus_is, server, state), f"{server.url} bus never {state}")


def _bus_is(server: Server, state: str) -> bool:
    return bus_state(server) == state


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def call(server: Server, key: str, query: str, variables: dict[str, Any]) -> Any:
    """A GraphQL call from an async test without blocking the websockets it reads."""
    return await asyncio.to_thread(server.graphql, key, query, variables)
