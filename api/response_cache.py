"""A response cache for the hot reads, decided in the ASGI layer before Strawberry parses anything.

Every campaign builder loads the sender picker and the SMS Accounts page reloads on each visit, so
the same few documents are executed again and again over data that rarely changes. An entry is
the serialized answer to one request body, for one workspace and role, stored with the
workspace's version at the moment the request started. Every change a cached read can show bumps
that version before the change's mutation answers (``BumpingBus``: the very events that drive the
subscriptions), so an entry read after it no longer matches. With Redis the versions are shared by
every replica: a read on any replica after a mutation's response reflects the mutation.

Only POST bodies (within the request limits) whose operation is a query selecting nothing but the
cacheable root fields are stored, and only when the answer is a 200 without errors.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from functools import lru_cache

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
# A hit says so, for operators and tests; misses carry Strawberry's own headers.
_HIT_HEADERS = [(b"content-type", b"application/json"), (b"x-cache", b"hit")]

Key = tuple[str, str, bytes]


class ResponseStore:
    """An LRU of serialized answers within a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Key, tuple[str, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key, version: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] != version:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Key, version: str, body: bytes) -> None:
        cost = _cost(key, body)
        if cost > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (version, body)
        self.size += cost
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def _drop(self, key: Key) -> None:
        _, body = self._entries.pop(key)
        self.size -= _cost(key, body)


def _cost(key: Key, body: bytes) -> int:
    return len(key[0]) + len(key[1]) + len(key[2]) + len(body) + ENTRY_OVERHEAD


@lru_cache(maxsize=512)
def is_cacheable_document(query: str, operation_name: str | None) -> bool:
    """A query operation whose root selections are all cacheable fields (no fragments)."""
    operation = chosen_operation(query, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return False
    return all(
        isinstance(node, FieldNode) and node.name.value in CACHEABLE_FIELDS
        for node in operation.selection_set.selections
    )


def is_cacheable_request(request: object) -> bool:
    """``request``: the JSON object of a POST, as ``LimitRequests`` accepted it."""
    if not isinstance(request, dict):
        return False
    query, name = request.get("query"), request.get("operationName")
    if not isinstance(query, str) or not (name is None or isinstance(name, str)):
        return False
    return is_cacheable_document(query, name)


class ResponseCache:
    """ASGI middleware between authentication (which sets the caller) and Strawberry."""

    def __init__(self, app: ASGIApp, store: ResponseStore, versions: Versions) -> None:
        self.app = app
        self.store = store
        self.versions = versions

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
        version = await self._version(caller.workspace_id)
        if version is not None:
            hit = self.store.get(key, version)
            if hit is not None:
                await _answer(send, hit)
                return
        answer = _Capture(send)
        await self.app(scope, receive, answer)
        if version is not None and answer.storable() and is_cacheable_request(state.get("request")):
            self.store.put(key, version, answer.body())

    async def _version(self, workspace_id: str) -> str | None:
        try:
            return await self.versions.current(workspace_id)
        except VersionsUnavailable as exc:
            # Nothing cached may be trusted while versions cannot be read: entries stored before
            # could have been invalidated meanwhile by a replica that could still reach them.
            if len(self.store):
                log.warning("response cache: versions unavailable (%s); cache cleared", exc)
                self.store.clear()
            return None


async def _answer(send: Send, body: bytes) -> None:
    headers = [*_HIT_HEADERS, (b"content-length", str(len(body)).encode())]
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
    """The event bus, bumping the workspace's cache version before each cached-field event."""

    def __init__(self, bus: EventBus, versions: Versions) -> None:
        self.inner = bus
        self._versions = versions

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, channel: str, message: object) -> None:
        workspace_id = workspace_of_cached_channel(channel)
        if workspace_id is not None:
            await invalidate(self._versions, workspace_id)
        await self.inner.publish(channel, message)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self.inner.subscribe(channel)


async def invalidate(versions: Versions, workspace_id: str) -> None:
    """Bump the workspace's version: its cached reads are stale from now on. Never raises."""
    try:
        await versions.bump(workspace_id)
    except VersionsUnavailable:
        log.exception("could not bump the cache version of workspace %s", workspace_id)
