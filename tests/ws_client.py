"""A GraphQL websocket client for tests, speaking ``graphql-transport-ws`` (and the legacy
``graphql-ws``) over a real socket with the ``websockets`` package.

Every receive has a timeout, so a missing message fails the test at once instead of hanging it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
TIMEOUT = 5.0

Message = dict[str, Any]


class GraphQLSocket:
    """One websocket connection and the protocol messages a GraphQL client exchanges on it."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._ids = itertools.count(1)

    async def send(self, message: Message) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self) -> Message:
        """The next protocol message; pings are answered and keep-alives skipped."""
        while True:
            try:
                raw = await asyncio.wait_for(self.connection.recv(), TIMEOUT)
            except TimeoutError:
                raise AssertionError(f"no message within {TIMEOUT} s") from None
            except ConnectionClosed as closed:
                raise AssertionError(f"the server closed the socket: {closed}") from None
            message: Message = json.loads(raw)
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
            elif message.get("type") != "ka":
                return message

    async def closed(self) -> tuple[int | None, str]:
        """Wait for the server to close the socket and answer its close code and reason. A
        message the server sends first fails the test."""
        try:
            raw = await asyncio.wait_for(self.connection.recv(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"the socket was still open after {TIMEOUT} s") from None
        except ConnectionClosed as closed:
            return (None, "") if closed.rcvd is None else (closed.rcvd.code, closed.rcvd.reason)
        raise AssertionError(f"expected the socket to close, got {raw!r}")

    async def close_code(self) -> int | None:
        return (await self.closed())[0]

    def next_id(self) -> str:
        return str(next(self._ids))

    # graphql-transport-ws

    async def init(self, payload: Message | None) -> Message:
        """``connection_init`` (without a payload when None); the ``connection_ack``."""
        message: Message = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.send(message)
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def subscribe(self, query: str, variables: Message | None = None) -> str:
        """Send ``subscribe``; the operation id."""
        operation_id = self.next_id()
        payload: Message = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})
        return operation_id

    async def next_payload(self, operation_id: str) -> Message:
        """The payload of the next message, which must be ``next`` for this operation."""
        message = await self.receive()
        assert message.get("type") == "next", message
        assert message.get("id") == operation_id, message
        payload: Message = message["payload"]
        return payload

    async def next_data(self, operation_id: str) -> Message:
        """The data of the next ``next`` message of this operation, which must carry no error."""
        payload = await self.next_payload(operation_id)
        assert "errors" not in payload, payload
        data: Message = payload["data"]
        return data

    async def complete(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "complete"})

    # graphql-ws (legacy)

    async def start(self, query: str, variables: Message | None = None) -> str:
        operation_id = self.next_id()
        payload: Message = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "start", "payload": payload})
        return operation_id

    async def legacy_data(self, operation_id: str) -> Message:
        message = await self.receive()
        assert message.get("type") == "data", message
        assert message.get("id") == operation_id, message
        assert "errors" not in message["payload"], message
        data: Message = message["payload"]["data"]
        return data

    async def stop(self, operation_id: str) -> None:
        await self.send({"id": operation_id, "type": "stop"})


@asynccontextmanager
async def open_socket(
    url: str,
    *,
    protocol: str = TRANSPORT_WS,
    origin: str | None = None,
    **options: Any,
) -> AsyncIterator[GraphQLSocket]:
    """A websocket to ``url`` that must agree on ``protocol``. ``origin`` is what a browser sends;
    ``options`` go to ``websockets`` (``max_queue``, ``sock``...)."""
    options.setdefault("ping_interval", None)
    async with connect(
        url,
        subprotocols=[Subprotocol(protocol)],
        origin=None if origin is None else Origin(origin),
        compression=None,
        proxy=None,
        open_timeout=TIMEOUT,
        close_timeout=1,
        **options,
    ) as connection:
        assert connection.subprotocol == protocol
        yield GraphQLSocket(connection)
