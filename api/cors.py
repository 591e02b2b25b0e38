"""Which browser pages on other origins may use the API, over HTTP and websockets alike.

A single-page app served from its own origin (``http://127.0.0.1:5173`` in development,
``https://app.example.com`` in production) needs CORS for every query and mutation: the browser
sends a preflight ``OPTIONS /graphql`` first (the ``Authorization`` header and a JSON body are not
"simple"), and reads an answer only if it names the page's origin. Websockets have no CORS: the
browser sends ``Origin`` with the handshake and the server decides (``GraphQLApp`` asks the same
``OriginPolicy``).

The API authenticates with a bearer key the page sends itself, never with cookies, so
``Access-Control-Allow-Credentials`` is never sent and an allowed origin gains nothing a script
elsewhere could not do with the same key; origins are still listed exactly, so that only the
teams' own pages are served.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http.websocket_origin import normalize_allowed_origins, normalize_origin

from api.errors import refusal

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-Id"
EXPOSED_HEADERS = "X-Request-Id"
# Development's default: pages served from this machine, on any port (Vite, webpack, …).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def parse_origins(items: Iterable[str]) -> frozenset[str]:
    """``SMS_ALLOWED_ORIGINS``'s entries, normalised as browsers send them (``*``: any origin);
    ValueError names an entry that is not one exact origin."""
    parsed: set[str] = set()
    for item in items:
        if item != "*" and "*" in item:
            raise ValueError(
                f"{item!r} is a pattern: list each origin exactly (scheme://host[:port]), "
                "or '*' alone for any"
            )
        try:
            parsed |= normalize_allowed_origins([item])
        except ValueError:
            raise ValueError(
                f"{item!r} is not an origin: write scheme://host[:port], without a path"
            ) from None
    return frozenset(parsed)


@dataclass(frozen=True)
class OriginPolicy:
    """Whether a page on ``origin`` may call the API. Same-origin pages need no permission."""

    exact: frozenset[str] = frozenset()
    any_origin: bool = False
    loopback: bool = False  # any port of localhost, 127.0.0.1 and [::1], over http

    @classmethod
    def from_setting(cls, origins: Iterable[str], *, development: bool) -> OriginPolicy:
        """The listed origins; with none listed, development allows this machine's pages and
        production allows no other origin."""
        parsed = parse_origins(origins)
        if not parsed:
            return cls(loopback=development)
        return cls(exact=parsed - {"*"}, any_origin="*" in parsed)

    def allows(self, origin: str) -> bool:
        normalized = _normalized(origin)
        if normalized is None:  # "null" (a file or a sandboxed frame) or not an origin at all
            return False
        if self.any_origin or normalized in self.exact:
            return True
        parts = urlsplit(normalized)
        return self.loopback and parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _normalized(origin: str) -> str | None:
    try:
        return normalize_origin(origin)
    except ValueError:
        return None


def mark_answer(raw: list[tuple[bytes, bytes]], origin: str | None, policy: OriginPolicy) -> None:
    """Add what ``CrossOrigin`` adds to an answer that has no ``Vary`` yet (a cached answer of
    ``api.fast_reads``), as its ``_mark`` writes it."""
    raw.append((b"vary", b"Origin"))
    if origin is not None and policy.allows(origin):
        raw.append((b"access-control-allow-origin", origin.encode("latin-1")))
        raw.append((b"access-control-expose-headers", EXPOSED_HEADERS.encode()))


def _mark(answer: MutableHeaders, origin: str | None, allowed: bool) -> None:
    answer.add_vary_header("Origin")
    if allowed:
        answer["Access-Control-Allow-Origin"] = str(origin)
        answer["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


class CrossOrigin:
    """ASGI wrapper of the app: answers preflights to ``path`` (before any key is asked for, so a
    preflight is never a failed authentication) and marks its answers readable by allowed pages.
    Other origins get no CORS header at all, so the browser keeps the answer from their page."""

    def __init__(
        self, app: ASGIApp, policy: OriginPolicy, *, path: str, max_age_seconds: int
    ) -> None:
        self.app = app
        self.policy = policy
        self.path = path
        self.max_age = str(max_age_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        allowed = origin is not None and self.policy.allows(origin)
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            await self._preflight(origin if allowed else None)(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                _mark(MutableHeaders(scope=message), origin, allowed)
            await send(message)

        await self.app(scope, receive, marked)

    def _preflight(self, origin: str | None) -> Response:
        if origin is None:
            refused = refusal(
                403,
                "Cross-origin requests from this page's origin are not allowed: add the origin "
                "to SMS_ALLOWED_ORIGINS.",
                "FORBIDDEN",
            )
            refused.headers["Vary"] = "Origin"
            return refused
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": self.max_age,
                "Vary": "Origin",
            },
        )
