"""Strawberry's ASGI app with our per-request context and websocket authentication."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from api.auth import KeyAuthenticator
from resolvers.services import Services
from schema.context import Context
from schema.fanout import SharedPayloads

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
        self._payloads = SharedPayloads()

    def encode_json(self, data: object) -> str | bytes:
        """A result shared by many subscribers is serialized once (see schema.fanout)."""
        return self._payloads.encode(data) or super().encode_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        websocket = request if isinstance(request, WebSocket) else None
        return Context(self.services, getattr(request.state, "caller", None), websocket=websocket)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        caller = await self.authenticator.caller(
            authorization if isinstance(authorization, str) else None, fresh=True
        )
        if caller is None:
            raise ConnectionRejectionError({"message": "Missing, unknown or revoked API key."})
        context.authenticated = caller
        if context.websocket is not None:
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
            # A client that hangs up leaves application_state CONNECTED (only our close sets
            # it): without the client's side this loop, and the socket it holds, lived forever.
            if WebSocketState.DISCONNECTED in (websocket.client_state, websocket.application_state):
                return
            try:
                caller = await self.authenticator.caller(authorization, fresh=True)
            except Exception:
                log.exception("could not re-check a websocket's API key; checking again later")
                continue
            if caller is None:
                with contextlib.suppress(Exception):
                    await websocket.close(code=4403, reason="API key revoked")
                return
