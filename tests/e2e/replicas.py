"""Two ``sms-accounts serve`` replicas on PostgreSQL and a Redis bus: a Redis server of the test's
own (its own free port, nothing persisted) that a test can stop and start again on that port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PG_URL
from tests.e2e.test_server_process import Server, free_port

REDIS_SERVER = shutil.which("redis-server")
NOTHING_PERSISTED = ("--save", "", "--appendonly", "no")


def require_postgres_and_redis() -> None:
    if not PG_URL:
        pytest.skip("replicas share PostgreSQL: set SMS_TEST_DATABASE_URL")
    if REDIS_SERVER is None:
        pytest.skip("no redis-server on PATH")


class RedisProcess:
    def __init__(self, workdir: Path) -> None:
        assert REDIS_SERVER is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir  # where a stray dump would land, not the test's cwd
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        assert REDIS_SERVER is not None
        self._process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                *NOTHING_PERSISTED,
                "--dir",
                str(self._workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, f"redis-server on port {self.port} did not start")
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def wait_until(condition: Any, failure: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` (a generous bound: the machine is shared; this is no speed test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def bus_state(server: Server) -> str | None:
    try:
        state: str | None = httpx.get(f"{server.url}/readyz", timeout=5).json().get("bus")
    except (httpx.TransportError, ValueError):
        return None
    return state


def wait_for_bus(servers: list[Server], state: str) -> None:
    for server in servers:
        wait_until(lambda s=server: bus_state(s) == state, f"{server.url} bus never {state}")


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


async def call(server: Server, key: str, query: str, variables: dict[str, Any]) -> Any:
    """A GraphQL call from an async test without blocking the websockets it reads."""
    return await asyncio.to_thread(server.graphql, key, query, variables)
