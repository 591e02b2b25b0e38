"""Strawberry's ASGI app with our per-request context and websocket authentication."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from api.auth import KeyAuthenticator
from resolvers.services import Services
from schema.context import Context


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

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(self.services, getattr(request.state, "caller", None))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        caller = await self.authenticator.caller(
            authorization if isinstance(authorization, str) else None
        )
        if caller is None:
            raise ConnectionRejectionError({"message": "Missing, unknown or revoked API key."})
        context.authenticated = caller
        return await super().on_ws_connect(context)
