"""Strawberry's ASGI app with our per-request context."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from resolvers.services import Services
from schema.context import Context


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, schema: Any, services: Services, *, graphiql: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.services = services

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(self.services, getattr(request.state, "caller", None))
