"""A response cache for the hot reads, decided in the ASGI layer before Strawberry parses anything.

Every campaign builder loads the sender picker and the SMS Accounts page reloads on each visit, so
the same few documents are executed again and again over data that rarely changes. An entry is
the serialized answer to one request body, for one workspace and role, stored with the
workspace's version at the moment the request started. Every change a cached read can show bumps
that version before the change's mutation answers (``BumpingBus``: the very events that drive the
subscriptions), so an entry read after it no longer matches. With Redis the versions are shared by
every replica: a read on any replica after a mutation's response reflects the mutation.

The cache fails closed. A bump that fails (Redis slow or away) leaves the old version in place, so
``CachedAnswers`` clears that workspace's entries here and marks it dirty: no hit and no store for
it on this replica until a bump succeeds, which a background task retries with capped backoff.
Other replicas keep entries of the old version until that retry lands (as soon as Redis takes
writes again, within ``retry_max_seconds``), and every entry expires ``ttl_seconds`` after it was
stored whatever happens: the last resort for a replica that died before its retry, and for writers
that cannot reach the versions at all (the CLI on the embedded default).

Only POST bodies (within the request limits) whose operation is a query selecting nothing but the
cacheable root fields are stored, and only when the answer is a 200 without errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from graphql import FieldNode, OperationType
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.vocabulary import Caller
from providers.bus import EventBus, Subscription
from providers.cache_versions import Versions, VersionsUnavailable
from resolvers.events import workspace_of_cached_channel
from schema.documents import chosen_operation

log = logging.getLogger(__name__)

CACHEABLE_FIELDS = frozenset(
    {"smsSenders", "smsAccounts", "smsAccount", "smsProviders", "smsIntegration", "__typename"}
)
ENTRY_OVERHEAD = 256  # bytes an entry costs beyond its key and body (tuple, dict slot, node)
# A hit says so, for operators and tests; misses carry Strawberry's own headers, in this order.
_HIT_HEADERS = [(b"content-type", b"application/json"), (b"x-cache", b"hit")]

Key = tuple[str, str, bytes]


class ResponseStore:
    """An LRU of serialized answers within a byte budget; an entry lives ``ttl_seconds`` at most."""

    def __init__(
        self,
        max_bytes: int,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self.size = 0
        self._clock = clock
        # key -> (version, expiry on ``clock``, body); the least recently used first.
        self._entries: OrderedDict[Key, tuple[str, float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key, version: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] != version or entry[1] <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[2]

    def put(self, key: Key, version: str, body: bytes) -> None:
        cost = _cost(key, body)
        if cost > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (version, self._clock() + self.ttl_seconds, body)
        self.size += cost
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def forget_workspace(self, workspace_id: str) -> int:
        """Drop every entry of one workspace (a walk of the store: only after a failed bump)."""
        doomed = [key for key in self._entries if key[0] == workspace_id]
        for key in doomed:
            self._drop(key)
        return len(doomed)

    def _drop(self, key: Key) -> None:
        _, _, body = self._entries.pop(key)
        self.size -= _cost(key, body)


def _cost(key: Key, body: bytes) -> int:
    return len(key[0]) + len(key[1]) + len(key[2]) + len(body) + ENTRY_OVERHEAD


def is_cacheable_document(query: str, operation_name: str | None) -> bool:
    """A query operation whose root selections are all cacheable fields (no fragments)."""
    operation = chosen_operation(query, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return False
    return all(
        isinstance(node, FieldNode) and node.name.value in CACHEABLE_FIELDS
        for node in operation.selection_set.selections
    )


class CacheableDocuments:
    """``is_cacheable_document``, remembered per document within ``budget_chars`` of document
    text (least recently used first): a document may be a mebibyte of text within the request
    limits, and a count of them bounds nothing."""

    def __init__(self, budget_chars: int) -> None:
        self.budget_chars = budget_chars
        self.size = 0
        self._known: OrderedDict[tuple[str, str | None], bool] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def of_request(self, request: object) -> bool:
        """``request``: the JSON object of a POST, as ``LimitRequests`` accepted it."""
        if not isinstance(request, dict):
            return False
        query, name = request.get("query"), request.get("operationName")
        if not isinstance(query, str) or not (name is None or isinstance(name, str)):
            return False
        return self.of_document(query, name)

    def of_document(self, query: str, name: str | None) -> bool:
        known = self._known.get((query, name))
        if known is not None:
            self._known.move_to_end((query, name))
            return known
        verdict = is_cacheable_document(query, name)
        cost = len(query) + len(name or "")
        if cost <= self.budget_chars:
            self._known[(query, name)] = verdict
            self.size += cost
            while self.size > self.budget_chars:
                (text, dropped), _ = self._known.popitem(last=False)
                self.size -= len(text) + len(dropped or "")
        return verdict


RETRY_FIRST_SECONDS = 0.05  # a failed bump's first retry; the wait doubles up to the cap


class CachedAnswers:
    """This replica's cached answers and what makes them stale: the versions, and the workspaces
    whose last bump failed (dirty: their reads are neither served from nor stored in the cache
    here until a bump succeeds). Owns the task that retries those bumps."""

    def __init__(
        self, store: ResponseStore, versions: Versions, *, retry_max_seconds: float
    ) -> None:
        self.store = store
        self.versions = versions
        self._retry_max = retry_max_seconds
        # workspace -> the number of the failure that made it dirty: a retry only cleans what
        # failed before it started, never a failure that happened while it ran.
        self._dirty: dict[str, int] = {}
        self._failures = 0
        self._wake = asyncio.Event()
        self._retrier: asyncio.Task[None] | None = None

    def is_dirty(self, workspace_id: str) -> bool:
        return workspace_id in self._dirty

    async def version(self, workspace_id: str) -> str | None:
        """The version a request reads and stores under; None: leave the cache alone for it."""
        if workspace_id in self._dirty:
            return None
        try:
            return await self.versions.current(workspace_id)
        except VersionsUnavailable as exc:
            # Nothing cached may be trusted while versions cannot be read: entries stored before
            # could have been invalidated meanwhile by a replica that could still reach them.
            if len(self.store):
                log.warning("response cache: versions unavailable (%s); cache cleared", exc)
                self.store.clear()
            return None

    def get(self, key: Key, version: str) -> bytes | None:
        return self.store.get(key, version)

    def put(self, key: Key, version: str, body: bytes) -> None:
        # A bump failed while this request ran: what it read may predate the change, and its
        # version is the one that failed to move.
        if key[0] not in self._dirty:
            self.store.put(key, version, body)

    async def invalidate(self, workspace_id: str) -> None:
        """Bump the workspace's version: its cached reads are stale from now on. Never raises:
        when the bump fails, this replica fails closed for the workspace until a retry lands."""
        try:
            await self.versions.bump(workspace_id)
        except VersionsUnavailable as exc:
            self._failures += 1
            self._dirty[workspace_id] = self._failures
            dropped = self.store.forget_workspace(workspace_id)
            log.warning(
                "could not bump the cache version of workspace %s (%s): %d cached answer(s) "
                "dropped; its reads bypass this replica's cache until a retry succeeds",
                workspace_id,
                exc,
                dropped,
            )
            self._wake.set()

    def start(self) -> None:
        if self._retrier is None:
            self._retrier = asyncio.create_task(self._retry_failed_bumps(), name="cache-bumps")

    async def stop(self) -> None:
        retrier, self._retrier = self._retrier, None
        if retrier is not None:
            retrier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrier

    async def _retry_failed_bumps(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = RETRY_FIRST_SECONDS
            while self._dirty:
                await asyncio.sleep(delay)
                if not await self._bump_dirty():
                    delay = min(delay * 2, self._retry_max)

    async def _bump_dirty(self) -> bool:
        """Bump every dirty workspace; False at the first failure (Redis is still away)."""
        for workspace_id, failure in list(self._dirty.items()):
            try:
                await self.versions.bump(workspace_id)
            except VersionsUnavailable:
                return False
            if self._dirty.get(workspace_id) == failure:
                del self._dirty[workspace_id]
                log.info("workspace %s: cache version bumped on retry, cached again", workspace_id)
        return True


class ResponseCache:
    """ASGI middleware between authentication (which sets the caller) and Strawberry.

    Concurrent misses of one entry share one execution: when an entry expires (its TTL) every
    connection reading it misses at once, and each executing the document on its own (32 at
    once under wrk, ~3 ms of CPU each for the accounts page) stalled them all, the embedded
    default's warm-read p99. The first executes; the others wait for its answer and are
    answered from it as hits, or, when it could not be stored (errors), execute their own."""

    def __init__(self, app: ASGIApp, answers: CachedAnswers, cacheable: CacheableDocuments) -> None:
        self.app = app
        self.answers = answers
        self.cacheable = cacheable
        # Executions in flight by entry and version: at most one per request in flight.
        self._flights: dict[tuple[Key, str], asyncio.Future[bytes | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The caller (RequireApiKey) and the accepted body (LimitRequests) come with the scope.
        state = scope.get("state", {})
        caller, body = state.get("caller"), state.get("body")
        if not isinstance(caller, Caller) or not isinstance(body, bytes):
            await self.app(scope, receive, send)
            return
        key = (
            caller.workspace_id,
            caller.role.value,
            hashlib.blake2b(body, digest_size=16).digest(),
        )
        version = await self.answers.version(caller.workspace_id)
        if version is None or not self.cacheable.of_request(state.get("request")):
            await self.app(scope, receive, send)
            return
        hit = self.answers.get(key, version)
        flight = self._flights.get((key, version))
        if hit is None and flight is not None:
            hit = await asyncio.shield(flight)
        if hit is not None:
            await _answer(send, hit)
            return
        await self._execute(scope, receive, send, (key, version))

    async def _execute(
        self, scope: Scope, receive: Receive, send: Send, entry: tuple[Key, str]
    ) -> None:
        """Execute, store a storable answer, and hand it to the requests that waited for it."""
        flight = self._flights.get(entry)
        leader = flight is None
        if flight is None:
            flight = self._flights[entry] = asyncio.get_running_loop().create_future()
        answer = _Capture(send)
        stored = None
        try:
            await self.app(scope, receive, answer)
            if answer.storable():
                stored = answer.body()
                self.answers.put(entry[0], entry[1], stored)
        finally:
            if leader:
                del self._flights[entry]
                flight.set_result(stored)


def hit_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a cached answer, here and in ``api.fast_reads``."""
    return [(b"content-length", str(len(body)).encode()), *_HIT_HEADERS]


async def _answer(send: Send, body: bytes) -> None:
    headers = hit_headers(body)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Capture:
    """Passes the answer through as it is sent, keeping a copy of a 200's body."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._status = 0
        self._chunks: list[bytes] = []
        self._complete = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
        elif message["type"] == "http.response.body" and self._status == 200:
            self._chunks.append(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        await self._send(message)

    def storable(self) -> bool:
        # An answer with errors (FORBIDDEN, validation, a crash) is never stored; a field value
        # that happens to read "errors" only costs a miss.
        return self._complete and not any(b'"errors"' in chunk for chunk in self._chunks)

    def body(self) -> bytes:
        return b"".join(self._chunks)


class BumpingBus:
    """The event bus, bumping the workspace's cache version before each cached-field event.

    ``bump``: ``CachedAnswers.invalidate`` in the server; the CLI passes its own, which reports a
    failure instead of failing closed in a process that serves nothing."""

    def __init__(self, bus: EventBus, bump: Callable[[str], Awaitable[None]]) -> None:
        self.inner = bus
        self._bump = bump

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, channel: str, message: object) -> None:
        workspace_id = workspace_of_cached_channel(channel)
        if workspace_id is not None:
            await self._bump(workspace_id)
        await self.inner.publish(channel, message)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self.inner.subscribe(channel)
