"""A live server of this process (uvicorn on 127.0.0.1) for the websocket tests, its documents,
and how a test knows the server listens before it makes the change it expects to hear of."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
)
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from api.bootstrap import Runtime
from api.response_cache import BumpingBus
from providers.bus import MemoryBus
from providers.redis_bus import RedisBus
from resolvers.api_keys import authenticate
from resolvers.services import Services
from tests.conftest import Api
from tests.integration.documents import (
    ACCOUNT_FIELDS,
)
from tests.ws_client import GraphQLSocket, open_socket

ACCOUNT_CHANGED = f"""
subscription AccountChanged {{
  smsAccountChanged {{
    kind
    previousStatus
    account {{ {ACCOUNT_FIELDS} }}
    stats {{ connected verified awaitingAction }}
  }}
}}
"""


SENDER_FIELDS = "accountId displayName provider senderId senderKind"


SENDERS_CHANGED = f"subscription SendersChanged {{ smsSendersChanged {{ {SENDER_FIELDS} }} }}"


async def _no_dns(host: str) -> list[str]:
    raise OSError(f"{host} does not resolve")


@dataclass
class Live:
    """The app served by uvicorn on 127.0.0.1, and an HTTP GraphQL client to the same server."""

    app: Starlette
    url: str
    api: Api
    runtime: Runtime

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/graphql"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def services(self) -> Services:
        return self.runtime.services

    @asynccontextmanager
    async def socket(self, key: str | None = None, **options: Any) -> AsyncIterator[GraphQLSocket]:
        """A graphql-transport-ws socket, acknowledged for ``key`` when one is given."""
        async with open_socket(self.ws_url, **options) as ws:
            if key is not None:
                await ws.init({"Authorization": f"Bearer {key}"})
            yield ws

    async def subscribers(self, key: str, channel: Callable[[str], str]) -> int:
        caller = await authenticate(self.services.reads, key)
        assert caller is not None
        bus = self.services.bus
        if isinstance(bus, BumpingBus):  # the response cache's versions ride on the bus
            bus = bus.inner
        assert isinstance(bus, MemoryBus | RedisBus)
        return bus.subscriber_count(channel(caller.workspace_id))

    async def listening(self, key: str, channel: Callable[[str], str], count: int = 1) -> None:
        """Wait until ``count`` subscriptions of ``key``'s workspace listen on ``channel``: the
        protocol acknowledges no subscription, so a test asks the server's bus before it makes
        the change it expects to hear about."""
        deadline = time.monotonic() + 5
        while await self.subscribers(key, channel) != count:
            assert time.monotonic() < deadline, f"{count} subscription(s) never listened"
            await asyncio.sleep(0.005)

    async def holding(self, count: int) -> None:
        """Wait until the server holds ``count`` websockets (``GET /statusz``): a socket the
        client closed or dropped ends on the server a moment later."""
        deadline = time.monotonic() + 5
        while (await self.api.http.get("/statusz")).json()["websockets"] != count:
            assert time.monotonic() < deadline, f"the server never held {count} websocket(s)"
            await asyncio.sleep(0.01)

    async def subscribed(
        self, ws: GraphQLSocket, key: str, query: str, channel: Callable[[str], str]
    ) -> str:
        """Subscribe on ``ws`` and wait until the server listens; the operation id."""
        before = await self.subscribers(key, channel)
        operation_id = await ws.subscribe(query)
        await self.listening(key, channel, before + 1)
        return operation_id


Serve = Callable[..., AbstractAsyncContextManager[Live]]
