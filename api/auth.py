"""Bearer API keys: a request without a live key gets 401 before any GraphQL runs."""

from __future__ import annotations

import json
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers.api_keys import authenticate, hash_key
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
    """Turns an ``Authorization`` value into the caller behind it (None: no live key).

    A live key's caller is remembered for ``cache_seconds`` (at most 5: a revoked key is refused
    by every replica within that bound), so a cached read costs no database round trip. Unknown
    and revoked keys are never remembered: each failed check is counted and slowed.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = 0.0,
        max_cached: int = 10_000,
    ) -> None:
        self.sessions = sessions
        self.cache_seconds = cache_seconds
        self.max_cached = max_cached
        self._cached: dict[str, tuple[Caller, float]] = {}

    async def caller(self, authorization: str | None, *, fresh: bool = False) -> Caller | None:
        """``fresh``: ask the database (a websocket's handshake and its revocation rechecks)."""
        key = bearer_key(authorization)
        if key is None:
            return None
        if fresh or self.cache_seconds <= 0:
            return await authenticate(self.sessions, key)
        now = time.monotonic()
        digest = hash_key(key)  # the key itself is never kept
        cached = self._cached.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        caller = await authenticate(self.sessions, key)
        self._cached.pop(digest, None)
        if caller is not None:
            if len(self._cached) >= self.max_cached:
                del self._cached[next(iter(self._cached))]  # the oldest entry
            self._cached[digest] = (caller, now + self.cache_seconds)
        return caller


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
