"""Fixtures of the integration tests: a live server of this process (``serve``)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import (
    asynccontextmanager,
)
from typing import Any

import httpx
import pytest
import respx
import uvicorn

from api.app import create_app
from api.bootstrap import build_services
from api.settings import Settings
from tests.conftest import Api
from tests.integration.live import (
    Live,
    Serve,
    _no_dns,
)


@pytest.fixture
def serve(settings_factory: Callable[..., Settings], twilio: respx.Router) -> Serve:
    """``async with serve(**settings) as live``: the app of ``create_app`` on a real port, with
    Twilio answered by the ``twilio`` router (as ``make_api`` builds it)."""

    @asynccontextmanager
    async def start(*, send_buffer: int | None = None, **overrides: Any) -> AsyncIterator[Live]:
        overrides.setdefault("retry_base_seconds", 0.01)
        runtime = build_services(
            settings_factory(**overrides),
            provider_transport=httpx.MockTransport(twilio.async_handler),
            resolver=_no_dns,
        )
        app = create_app(runtime)
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on such sockets, and without it
        # every response waits 40 ms for a delayed ACK.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        if send_buffer is not None:  # the connections it accepts inherit it
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if task.done():
                    task.result()
                    raise AssertionError("uvicorn stopped before it started")
                assert time.monotonic() < deadline, "uvicorn did not start"
                await asyncio.sleep(0.01)
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
                yield Live(app, url, Api(http, app, runtime), runtime)
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            listener.close()

    return start
