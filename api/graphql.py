"""Strawberry's ASGI app with our per-request context and websocket authentication."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Mapping
from datetime import timedelta
from json import JSONDecodeError
from typing import Any, NoReturn, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from api.auth import UNKNOWN_KEY, KeyAuthenticator, Unauthenticated, connection_authorization
from api.cors import OriginPolicy
from api.legacy_ws import LegacyGraphQLWSHandler
from api.open_sockets import OpenSockets
from api.outages import DatabaseUnavailableError
from api.throttle import FailureLimiter, client_address
from providers.bus import SubscriberOverflow
from resolvers.api_keys import KEYS_CHANNEL, KeyRevoked
from resolvers.services import Services
from schema.context import Context
from schema.fanout import DIRECT_WRITER, SharedPayloads, Writer
from storage.db import is_outage

log = logging.getLogger(__name__)

MESSAGE_TOO_BIG = 1009  # RFC 6455: "a message that is too big for it to process"
# Close reasons (at most 123 bytes, a websocket limit). A revoked key's sockets close with 4403,
# not 4401: the socket was let in and its permission is withdrawn. graphql-ws clients retry a
# 4403 (a fresh key from lazy connectionParams gets in; the same key then meets a final 4401).
KEY_REVOKED = "API key revoked: connect again with a live key"
TOO_MANY_AWAITING_INIT = "Too many websockets awaiting connection_init here: retry shortly"
TOO_MANY_FAILURES = "Too many failed API key checks"
KEY_HOLDS_THE_MOST = "This API key holds the most open websockets allowed"


class Connection:
    """One websocket as its limits and its key's re-check see it: the socket, the protocol agreed
    on, and the ``Authorization`` its key was accepted with."""

    __slots__ = ("authorization", "protocol", "websocket")

    def __init__(self) -> None:
        self.websocket: WebSocket | None = None
        self.protocol: str | None = None
        self.authorization = ""


def connection_of(websocket: WebSocket) -> Connection:
    connection: Connection = websocket.scope["state"]["connection"]
    return connection


class LimitedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's websocket reader, refusing a message over the size limit (close 1009)."""

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        limit = cast("GraphQLApp", self.view).max_message_bytes
        while self.ws.application_state != WebSocketState.DISCONNECTED:
            try:
                text = await self.ws.receive_text()
            except WebSocketDisconnect:
                return
            except KeyError as error:  # a binary frame: Starlette finds no "text"
                raise NonTextMessageReceived from error
            if _utf8_length_over(text, limit):
                await self.close(MESSAGE_TOO_BIG, f"Message too big: at most {limit} bytes")
                return
            try:
                yield self.view.decode_json(text)
            except JSONDecodeError as error:
                if not ignore_parsing_errors:
                    raise NonJsonMessageReceived from error

    async def send_json(self, message: Mapping[str, object]) -> None:
        # We may have closed the socket already (a refused key): it is gone for Strawberry too.
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected
        await super().send_json(message)

    async def close(self, code: int, reason: str) -> None:
        # We may have closed the socket already with a more telling code (4401, 4429).
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await super().close(code, reason)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, whose operations a shared subscription may
    write to directly (``schema.fanout``): its group writes each ``next`` frame itself."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # The operation's own task: the writer is seen by its subscription only.
        DIRECT_WRITER.set(self._writer(operation))
        await super().run_operation(operation)

    def _writer(self, operation: Operation[Context, None]) -> Writer:
        websocket = cast("LimitedWebSocketAdapter", self.websocket).ws
        prefix = f'{{"id":{json.dumps(operation.id)},"type":"next","payload":{{"data":'

        def write(data: str) -> Any:
            # As Strawberry's own send: nothing after the operation ended, or its socket did.
            if (
                operation.completed
                or self.operations.get(operation.id) is not operation
                or websocket.application_state == WebSocketState.DISCONNECTED
            ):
                return None
            return websocket.send_text(prefix + data + "}}")

        return write


def _utf8_length_over(text: str, limit: int) -> bool:
    # A character is at most 4 bytes in UTF-8: encode only when the length is unclear.
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit


class GraphQLApp(GraphQL[Context, None]):
    """HTTP callers arrive authenticated (``RequireApiKey``); websocket callers authenticate with
    ``{"Authorization": "Bearer <key>"}`` in ``connection_init`` within the init timeout, or the
    socket is closed (4401 saying what was wrong, 4408, or 4429 over a limit)."""

    websocket_adapter_class = LimitedWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyGraphQLWSHandler

    def __init__(
        self,
        schema: Any,
        services: Services,
        *,
        authenticator: KeyAuthenticator,
        failures: FailureLimiter,
        origins: OriginPolicy,
        key_recheck_seconds: float,
        max_message_bytes: int,
        max_subscriptions: int,
        init_timeout_seconds: float,
        open_sockets: OpenSockets[Connection],
    ) -> None:
        # Browsers' cross-origin websocket handshakes are refused (HTTP 403) unless ``origins``
        # allows their page, as for HTTP (api/cors.py); same-origin pages (GraphiQL) and
        # non-browser clients always pass. The GraphiQL page has its own handler (api/auth.py),
        # so Strawberry never renders it.
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            max_subscriptions_per_connection=max_subscriptions,
            connection_init_wait_timeout=timedelta(seconds=init_timeout_seconds),
        )
        self.origins = origins
        self.services = services
        self.authenticator = authenticator
        self.failures = failures
        self.key_recheck_seconds = key_recheck_seconds
        self.max_message_bytes = max_message_bytes
        self.open_sockets = open_sockets
        self.open_websockets = 0
        self._payloads = SharedPayloads()

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        return self.origins.allows(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._answer_http(scope, receive, send)
            return
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        # The socket lives as long as this call: whatever ends it, it stops counting here.
        connection = Connection()
        scope.setdefault("state", {})["connection"] = connection
        self.open_websockets += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.open_websockets -= 1
            self.open_sockets.release(connection)

    async def create_websocket_response(
        self, request: WebSocket, subprotocol: str | None
    ) -> WebSocket:
        """Counted among those awaiting connection_init (its origin passed), then accepted: over
        the limit, only to be closed with 4429, which a client can read, unlike an HTTP 403."""
        connection = connection_of(request)
        connection.websocket = request
        connection.protocol = subprotocol
        admitted = self.open_sockets.admit(connection)
        websocket = await super().create_websocket_response(request, subprotocol)
        if not admitted:
            await websocket.close(code=4429, reason=TOO_MANY_AWAITING_INIT)
        return websocket

    async def _answer_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as refused:
            # The reason can quote the request ('Unknown operation named "…"'), and JSON lets a
            # request carry text that is not text (a lone surrogate): escape it, never crash.
            reason = refused.reason.encode("utf-8", "backslashreplace").decode()
            response = PlainTextResponse(reason, status_code=refused.status_code)
        await response(scope, receive, send)

    def encode_json(self, data: object) -> str | bytes:
        """A result shared by many subscribers is serialized once (see schema.fanout)."""
        return self._payloads.encode(data) or super().encode_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        websocket = request if isinstance(request, WebSocket) else None
        return Context(self.services, getattr(request.state, "caller", None), websocket=websocket)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        # A resolver that met a database outage is not a field error: the whole answer is a 503.
        for error in result.errors or ():
            if is_outage(error.original_error):
                raise DatabaseUnavailableError from error.original_error
        return await super().process_result(request, result)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        websocket: WebSocket = context.websocket
        connection = connection_of(websocket)
        try:
            authorization = connection_authorization(context.connection_params)
            caller = await self.authenticator.caller(authorization, fresh=True)
            if caller is None:
                raise Unauthenticated(UNKNOWN_KEY)
        except Unauthenticated as refused:
            wait = self.failures.failed(client_address(websocket.scope))
            if wait is not None:
                await self._refuse(connection, 4429, f"{TOO_MANY_FAILURES}: retry after {wait} s")
            await self._refuse(connection, 4401, str(refused))
        if not self.open_sockets.authenticated(connection, caller.key_id):
            limit = self.open_sockets.max_per_key
            await self._refuse(connection, 4429, f"{KEY_HOLDS_THE_MOST}: {limit}; close one first")
        connection.authorization = authorization
        context.authenticated = caller
        return await super().on_ws_connect(context)

    async def _refuse(self, connection: Connection, code: int, reason: str) -> NoReturn:
        """Close the socket saying why; Strawberry then stops handling ``connection_init``."""
        websocket = connection.websocket
        assert websocket is not None
        with contextlib.suppress(Exception):  # the client may have gone already
            if connection.protocol == GRAPHQL_WS_PROTOCOL:
                # That protocol's own refusal, which its clients read, comes first.
                error = {"type": "connection_error", "payload": {"message": reason}}
                await websocket.send_text(json.dumps(error))
            await websocket.close(code=code, reason=reason)
        raise ConnectionRejectionError({"message": reason})

    async def close_revoked_sockets(self) -> None:
        """Close (4403) this process's sockets of every revoked key: at once when a revocation is
        announced on the bus (by any replica or the CLI), else within the re-check interval."""
        async with asyncio.TaskGroup() as both:
            both.create_task(self._hear_revocations())
            both.create_task(self._recheck_keys())

    async def _hear_revocations(self) -> None:
        async with self.services.bus.subscribe(KEYS_CHANNEL) as revocations:
            iterator = aiter(revocations)
            while True:
                try:
                    message = await anext(iterator)
                except SubscriberOverflow:
                    continue  # missed revocations are caught by the periodic re-check
                if isinstance(message, KeyRevoked):
                    self.authenticator.forget(message.key_id)
                    await self.close_sockets_of(message.key_id)

    async def _recheck_keys(self) -> None:
        """Every key holding open sockets is looked up again each interval: once, however many
        sockets it holds (10,000 sockets of 200 keys cost 200 indexed lookups an interval, not
        10,000), so a revoked key's sockets close within the interval with or without a bus."""
        while True:
            await asyncio.sleep(self.key_recheck_seconds)
            for key_id, connection in self.open_sockets.one_per_key():
                try:
                    caller = await self.authenticator.caller(connection.authorization, fresh=True)
                except Exception as exc:
                    # One line a round, not one per key (an outage's without its traceback);
                    # the next round tries again.
                    trace = None if is_outage(exc) else exc
                    log.warning("could not re-check the keys of open websockets", exc_info=trace)
                    break
                if caller is None:
                    await self.close_sockets_of(key_id)

    async def close_sockets_of(self, key_id: str) -> None:
        for connection in self.open_sockets.of_key(key_id):
            if connection.websocket is not None:
                with contextlib.suppress(Exception):
                    await connection.websocket.close(code=4403, reason=KEY_REVOKED)
