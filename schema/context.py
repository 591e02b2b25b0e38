"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as _Info

from domain.vocabulary import Caller
from resolvers.services import Services


class NotAuthenticatedError(Exception):
    """No caller on this request (only the GraphiQL page itself is served without one)."""


@dataclass(slots=True)
class Context:
    services: Services
    authenticated: Caller | None
    # Set by strawberry from a websocket's connection_init payload.
    connection_params: dict[str, Any] | None = field(default=None)
    # The socket itself, for a websocket connection (None over HTTP).
    websocket: Any = None

    @property
    def caller(self) -> Caller:
        if self.authenticated is None:
            raise NotAuthenticatedError("this request carries no API key")
        return self.authenticated


Info = _Info[Context, None]
