"""Cached reads answered by the outermost ASGI callable, before any middleware or routing.

A cache hit needs none of the per-request machinery that Starlette's middleware stack, its
router and our wrappers spend on every request (a Request object, header parsing per layer,
a ``send`` wrapper per layer, a context per middleware): the key is in the caller cache, the
body's hash names an entry, the workspace's version matches. ``FastReads`` decides exactly that
from the raw scope and, on a hit, writes the stored bytes with the headers the normal path would
have written (the cache's own, ``Vary``/CORS as ``CrossOrigin`` adds them, ``X-Request-Id`` as
``AccessLog`` does) and hands the same access line to the log. Anything else (no cached caller,
a body over the limit, a dirty workspace, a miss, another path or method) goes on to the app,
with the body it read replayed, and takes the normal path with every limit, throttle, request id
and log line (tests/integration/test_fast_reads.py holds the two paths to the same answers).

What a hit may skip is what cannot change its answer: the key is live (cached at most
``SMS_AUTH_CACHE_SECONDS`` and forgotten at once on a revocation, as on the normal path), the
body was accepted by the request limits when its entry was stored (the same bytes, the same
verdict), and the version check is the one the normal path makes.
"""

from __future__ import annotations

import hashlib
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import KeyAuthenticator
from api.cors import OriginPolicy, mark_answer
from api.logs import (
    REQUEST_ID_HEADER,
    incoming_request_id,
    log_access,
    new_request_id,
    parent_request_id,
    request_id,
)
from api.response_cache import CachedAnswers, hit_headers
from domain.vocabulary import Caller


class FastReads:
    """ASGI: answers a cached read of ``path`` itself, hands everything else to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: KeyAuthenticator,
        answers: CachedAnswers,
        origins: OriginPolicy,
        max_body_bytes: int,
        path: str = "/graphql",
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.answers = answers
        self.origins = origins
        self.max_body_bytes = max_body_bytes
        self.path = path
        self.answered = 0  # reads answered here (what the tests check)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _wanted_headers(scope["headers"])
        caller = self.authenticator.cached(headers.get(b"authorization"))
        length = headers.get(b"content-length", "")
        # ASCII digits only: latin-1 has others ("²") that int() refuses.
        readable = length.isascii() and length.isdigit()
        if caller is None or not readable or int(length) > self.max_body_bytes:
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        body = await _read_body(receive, read, int(length))
        hit = None
        if body is not None:
            try:
                hit = await self._lookup(caller, body)
            except Exception:  # the normal path meets it again, and answers and logs it as ever
                hit = None
        if hit is None:
            await self.app(scope, _replay(read, receive), send)
            return
        self.answered += 1
        await self._answer(scope, send, hit, headers.get(b"origin"), started)

    async def _lookup(self, caller: Caller, body: bytes) -> bytes | None:
        version = await self.answers.version(caller.workspace_id)
        if version is None:
            return None
        digest = hashlib.blake2b(body, digest_size=16).digest()
        return self.answers.get((caller.workspace_id, caller.role.value, digest), version)

    async def _answer(
        self, scope: Scope, send: Send, body: bytes, origin: str | None, started: float
    ) -> None:
        rid = new_request_id()
        token = request_id.set(rid)
        parent = parent_request_id.set(incoming_request_id(scope))
        status = 500
        try:
            headers = hit_headers(body)
            mark_answer(headers, origin, self.origins)
            headers.append((REQUEST_ID_HEADER, rid.encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            status = 200
            await send({"type": "http.response.body", "body": body})
        finally:
            log_access(scope, status, time.perf_counter() - started)
            request_id.reset(token)
            parent_request_id.reset(parent)


_WANTED = frozenset({b"authorization", b"content-length", b"origin"})


def _wanted_headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """The headers the decision reads (latin-1, as Starlette decodes them); the first of each."""
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def _read_body(receive: Receive, read: list[Message], length: int) -> bytes | None:
    """The body, when it comes whole and as long as announced; None otherwise (the messages
    read so far are in ``read``, for the normal path to see them again)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > length:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if size == length else None


def _replay(read: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands on the messages already read, then the connection's own."""
    pending = list(read)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
