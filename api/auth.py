"""Bearer API keys: a request without a live key gets 401 before any GraphQL runs."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import refusal
from api.graphiql import PAGE_HEADERS, graphiql_html
from api.throttle import FailureLimiter, client_address
from domain.vocabulary import Caller
from resolvers.api_keys import authenticate, hash_key


class Unauthenticated(Exception):
    """Why a websocket's ``connection_init`` names no usable key: the close reason (4401), in
    words that say what to send instead, never quoting what was sent. At most 123 bytes, the
    websocket limit of a close reason."""


SEND_BEARER = 'send {"Authorization": "Bearer <key>"}'
NO_PAYLOAD = f"connection_init has no payload: {SEND_BEARER} as its payload"
NO_AUTHORIZATION = f"No Authorization in the connection_init payload: {SEND_BEARER}"
NOT_TEXT = 'Authorization must be a string: "Bearer <key>"'
NO_BEARER = 'Authorization lacks the Bearer scheme: send "Bearer <key>"'
NO_KEY = 'Authorization names no key: send "Bearer <key>"'
UNKNOWN_KEY = "Unknown or revoked API key: check it, or ask an admin for a new one"


def parse_bearer(value: object) -> str:
    """The key of an ``Authorization: Bearer <key>`` value (the scheme in any case); raises
    ``Unauthenticated`` saying what is wrong."""
    if not isinstance(value, str):
        raise Unauthenticated(NOT_TEXT)
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated(NO_BEARER if scheme else NO_KEY)
    if not key.strip():
        raise Unauthenticated(NO_KEY)
    return key.strip()


def bearer_key(value: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` value (None: none)."""
    try:
        return parse_bearer(value)
    except Unauthenticated:
        return None


def connection_authorization(payload: object) -> str:
    """The ``Authorization`` of a websocket's ``connection_init`` payload:
    ``{"Authorization": "Bearer <key>"}``, or the shape of Hasura's and Apollo's examples,
    ``{"headers": {"Authorization": "Bearer <key>"}}`` (the name in any case). Raises
    ``Unauthenticated`` saying what is missing."""
    if not payload or not isinstance(payload, Mapping):
        raise Unauthenticated(NO_PAYLOAD)
    headers = payload.get("headers")
    for source in (payload, headers if isinstance(headers, Mapping) else {}):
        for name, value in source.items():
            if isinstance(name, str) and name.lower() == "authorization":
                parse_bearer(value)
                return str(value)
    raise Unauthenticated(NO_AUTHORIZATION)


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

    When a remembered caller expires, the requests of that key in flight share one lookup: each
    asking on its own (32 at once under wrk, each a thread hop on SQLite, the pool's overflow
    connections opened and closed for them) stalled every one of them every ``cache_seconds``,
    the embedded default's warm-read p99.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writes: async_sessionmaker[AsyncSession],
        *,
        cache_seconds: float = 0.0,
        max_cached: int = 10_000,
    ) -> None:
        self.sessions = sessions
        self.writes = writes  # where a key's last use is recorded
        self.cache_seconds = cache_seconds
        self.max_cached = max_cached
        self._cached: dict[str, tuple[Caller, float]] = {}
        # Lookups in flight by key digest: at most one per key, gone when it ends.
        self._looking_up: dict[str, asyncio.Task[Caller | None]] = {}

    async def caller(self, authorization: str | None, *, fresh: bool = False) -> Caller | None:
        """``fresh``: ask the database (a websocket's handshake and its revocation rechecks)."""
        key = bearer_key(authorization)
        if key is None:
            return None
        if fresh or self.cache_seconds <= 0:
            return await authenticate(self.sessions, key, writes=self.writes)
        now = time.monotonic()
        digest = hash_key(key)  # the key itself is never kept
        cached = self._cached.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        lookup = self._looking_up.get(digest)
        if lookup is None:
            lookup = asyncio.create_task(self._look_up(key, digest, now))
            self._looking_up[digest] = lookup
            lookup.add_done_callback(functools.partial(self._looked_up, digest))
        # Shielded: a request that goes away does not cancel the others' lookup.
        return await asyncio.shield(lookup)

    async def _look_up(self, key: str, digest: str, now: float) -> Caller | None:
        caller = await authenticate(self.sessions, key, writes=self.writes)
        self._cached.pop(digest, None)
        if caller is not None:
            if len(self._cached) >= self.max_cached:
                del self._cached[next(iter(self._cached))]  # the oldest entry
            self._cached[digest] = (caller, now + self.cache_seconds)
        return caller

    def _looked_up(self, digest: str, lookup: asyncio.Task[Caller | None]) -> None:
        self._looking_up.pop(digest, None)
        if not lookup.cancelled():
            lookup.exception()  # retrieved here too: every waiter may have gone

    def __len__(self) -> int:
        return len(self._cached)

    def cached(self, authorization: str | None) -> Caller | None:
        """The caller of a key this cache still holds (None: ask ``caller``): what a cached read
        answered before any middleware runs goes by, within the same bound as every request."""
        if self.cache_seconds <= 0:
            return None
        key = bearer_key(authorization)
        if key is None:
            return None
        cached = self._cached.get(hash_key(key))
        if cached is None or cached[1] <= time.monotonic():
            return None
        return cached[0]

    def forget(self, key_id: str) -> None:
        """A revocation announced on the bus: this key is refused from now on, not after the
        cache's bound."""
        for digest, (caller, _) in list(self._cached.items()):
            if caller.key_id == key_id:
                del self._cached[digest]


def wants_graphiql_page(request: Request) -> bool:
    """A browser opening /graphql: GET, HTML accepted, no document. Decided on the parsed
    request (percent-decoded names, any case), though the page handler cannot execute anyway."""
    if request.method != "GET":
        return False
    accepted = request.headers.get("accept", "").lower()
    names = {name.lower() for name in request.query_params}
    return "text/html" in accepted and "query" not in names


class RequireApiKey:
    """ASGI wrapper of /graphql: every request reaching GraphQL carries a live key, resolved into
    ``scope["state"]["caller"]``; otherwise 401, or 429 when the address fails too often.

    A browser's GET for the GraphiQL page goes to ``page`` instead, a handler that serves HTML
    and never executes a document; every query the page sends carries the header the user pasted.
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: KeyAuthenticator,
        limiter: FailureLimiter,
        *,
        page: ASGIApp | None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.limiter = limiter
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.page is not None and wants_graphiql_page(Request(scope)):
            await self.page(scope, receive, send)
            return
        caller = await self.authenticator.caller(_header(scope, b"authorization"))
        if caller is None:
            await self._refuse(scope)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

    def _refuse(self, scope: Scope) -> Response:
        wait = self.limiter.failed(client_address(scope))
        if wait is not None:
            return refusal(
                429,
                "Too many failed API key checks from this address: wait and try again.",
                "RATE_LIMITED",
                {"retry-after": str(wait)},
            )
        return refusal(
            401,
            "Missing, unknown or revoked API key: send Authorization: Bearer <key>.",
            "UNAUTHENTICATED",
            {"www-authenticate": 'Bearer realm="sms-accounts"'},
        )


async def graphiql_page(request: Request) -> Response:
    """The GraphiQL page itself: static HTML, nothing executed, never framed."""
    return HTMLResponse(graphiql_html(), headers=PAGE_HEADERS)
