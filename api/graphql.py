"""Strawberry's ASGI app with our per-request context and websocket authentication."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncGenerator, Coroutine
from json import JSONDecodeError
from typing import Any, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from api.auth import KeyAuthenticator
from api.cors import OriginPolicy
from api.outages import DatabaseUnavailableError
from api.throttle import FailureLimiter, client_address
from providers.bus import SubscriberOverflow
from resolvers.api_keys import KEYS_CHANNEL, KeyRevoked
from resolvers.services import Services
from schema.context import Context
from schema.fanout import SharedPayloads
from storage.db import is_outage

log = logging.getLogger(__name__)

MESSAGE_TOO_BIG = 1009  # RFC 6455: "a message that is too big for it to process"


class Connection:
    """The tasks one websocket owns besides Strawberry's operations: they end with the socket,
    whichever side closes it, because the socket's own task cancels them on its way out."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self) -> None:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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

    async def close(self, code: int, reason: str) -> None:
        # We may have closed the socket already with a more telling code (4429).
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await super().close(code, reason)


def _utf8_length_over(text: str, limit: int) -> bool:
    # A character is at most 4 bytes in UTF-8: encode only when the length is unclear.
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit


class GraphQLApp(GraphQL[Context, None]):
    """HTTP callers arrive authenticated (``RequireApiKey``); websocket callers authenticate with
    ``{"Authorization": "Bearer <key>"}`` in ``connection_init``, or the socket is closed."""

    websocket_adapter_class = LimitedWebSocketAdapter

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
        )
        self.origins = origins
        self.services = services
        self.authenticator = authenticator
        self.failures = failures
        self.key_recheck_seconds = key_recheck_seconds
        self.max_message_bytes = max_message_bytes
        self.open_websockets = 0
        self._payloads = SharedPayloads()
        # Open sockets by API key id, for revocations announced on the bus (weak: a socket that
        # ended drops out by itself).
        self._sockets: dict[str, weakref.WeakSet[WebSocket]] = {}

    def is_websocket_origin_allowed(self, request: WebSocket, origin: str) -> bool:
        return self.origins.allows(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._answer_http(scope, receive, send)
            return
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        connection = Connection()
        scope.setdefault("state", {})["connection"] = connection
        self.open_websockets += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.open_websockets -= 1
            await connection.close()

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
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        caller = await self.authenticator.caller(
            authorization if isinstance(authorization, str) else None, fresh=True
        )
        websocket: WebSocket = context.websocket
        if caller is None:
            wait = self.failures.failed(client_address(websocket.scope))
            if wait is not None:
                reason = f"Too many failed API key checks: retry after {wait} s"
                await websocket.close(code=4429, reason=reason)
            raise ConnectionRejectionError({"message": "Missing, unknown or revoked API key."})
        context.authenticated = caller
        self._sockets.setdefault(caller.key_id, weakref.WeakSet()).add(websocket)
        connection: Connection = websocket.scope["state"]["connection"]
        connection.start(self._close_when_revoked(websocket, authorization))
        return await super().on_ws_connect(context)

    async def _close_when_revoked(self, websocket: WebSocket, authorization: Any) -> None:
        """A socket lives as long as its key: revoking the key closes it (4403)."""
        while True:
            await asyncio.sleep(self.key_recheck_seconds)
            try:
                caller = await self.authenticator.caller(authorization, fresh=True)
            except Exception:
                log.exception("could not re-check a websocket's API key; checking again later")
                continue
            if caller is None:
                with contextlib.suppress(Exception):
                    await websocket.close(code=4403, reason="API key revoked")
                return

    async def close_revoked_sockets(self) -> None:
        """Close (4403) this process's sockets of every key revoked on any replica or the CLI."""
        async with self.services.bus.subscribe(KEYS_CHANNEL) as revocations:
            iterator = aiter(revocations)
            while True:
                try:
                    message = await anext(iterator)
                except SubscriberOverflow:
                    continue  # missed revocations are caught by each socket's periodic re-check
                if isinstance(message, KeyRevoked):
                    self.authenticator.forget(message.key_id)
                    await self.close_sockets_of(message.key_id)

    async def close_sockets_of(self, key_id: str) -> None:
        for websocket in list(self._sockets.pop(key_id, ())):
            with contextlib.suppress(Exception):
                await websocket.close(code=4403, reason="API key revoked")
