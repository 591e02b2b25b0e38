"""Strawberry's ASGI app with our per-request context and websocket authentication."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from api.auth import KeyAuthenticator
from api.outages import DatabaseUnavailableError
from providers.bus import SubscriberOverflow
from resolvers.api_keys import KEYS_CHANNEL, KeyRevoked
from resolvers.services import Services
from schema.context import Context
from storage.db import is_outage

log = logging.getLogger(__name__)


class GraphQLApp(GraphQL[Context, None]):
    """HTTP callers arrive authenticated (``RequireApiKey``); websocket callers authenticate with
    ``{"Authorization": "Bearer <key>"}`` in ``connection_init``, or the socket is closed."""

    def __init__(
        self,
        schema: Any,
        services: Services,
        *,
        graphiql: bool,
        authenticator: KeyAuthenticator,
        allowed_origins: list[str],
        key_recheck_seconds: float,
    ) -> None:
        # Browsers' cross-origin websocket handshakes are refused (HTTP 403) unless their origin
        # is listed; same-origin pages (GraphiQL) and non-browser clients always pass.
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            allowed_origins=allowed_origins,
        )
        self.services = services
        self.authenticator = authenticator
        self.key_recheck_seconds = key_recheck_seconds
        self._watchers: set[asyncio.Task[None]] = set()
        # Open sockets by API key id, for revocations announced on the bus (weak: a socket that
        # ended drops out by itself).
        self._sockets: dict[str, weakref.WeakSet[WebSocket]] = {}

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
            authorization if isinstance(authorization, str) else None
        )
        if caller is None:
            raise ConnectionRejectionError({"message": "Missing, unknown or revoked API key."})
        context.authenticated = caller
        if context.websocket is not None:
            self._sockets.setdefault(caller.key_id, weakref.WeakSet()).add(context.websocket)
            watcher = asyncio.create_task(
                self._close_when_revoked(context.websocket, authorization)
            )
            self._watchers.add(watcher)
            watcher.add_done_callback(self._watchers.discard)
        return await super().on_ws_connect(context)

    async def _close_when_revoked(self, websocket: WebSocket, authorization: Any) -> None:
        """A socket lives as long as its key: revoking the key closes it (4403)."""
        while True:
            await asyncio.sleep(self.key_recheck_seconds)
            if websocket.application_state == WebSocketState.DISCONNECTED:
                return
            try:
                caller = await self.authenticator.caller(authorization)
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
                    await self.close_sockets_of(message.key_id)

    async def close_sockets_of(self, key_id: str) -> None:
        for websocket in list(self._sockets.pop(key_id, ())):
            with contextlib.suppress(Exception):
                await websocket.close(code=4403, reason="API key revoked")
