"""Bearer API keys: a request without a live key gets 401 before any GraphQL runs."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers.api_keys import authenticate
from resolvers.domain import Caller

_UNAUTHORIZED = json.dumps(
    {
        "errors": [
            {
                "message": "Missing, unknown or revoked API key: send Authorization: Bearer <key>.",
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ]
    }
).encode()


def bearer_key(value: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` value."""
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class KeyAuthenticator:
    """Turns an ``Authorization`` value into the caller behind it (None: no live key)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
    ) -> None:
        self.sessions = sessions
        self.writes = writes  # where a key's last use is recorded

    async def caller(self, authorization: str | None) -> Caller | None:
        key = bearer_key(authorization)
        if key is None:
            return None
        return await authenticate(self.sessions, key, writes=self.writes)


class RequireApiKey:
    """ASGI wrapper: resolves the caller into ``scope["state"]["caller"]`` or answers 401.

    A browser's GET for the GraphiQL page itself (HTML, no query) passes without a key: the page is
    static, and every query it then sends carries the header the user pasted.
    """

    def __init__(self, app: ASGIApp, authenticator: KeyAuthenticator, *, graphiql: bool) -> None:
        self.app = app
        self.authenticator = authenticator
        self.graphiql = graphiql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_graphiql_page(scope):
            await self.app(scope, receive, send)
            return
        caller = await self.authenticator.caller(_header(scope, b"authorization"))
        if caller is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="sms-accounts"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _UNAUTHORIZED})
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

    def _is_graphiql_page(self, scope: Scope) -> bool:
        if not self.graphiql or scope["method"] != "GET" or b"query=" in scope["query_string"]:
            return False
        accept = _header(scope, b"accept") or ""
        return "text/html" in accept
