"""Subscriptions that share one execution per event and shape.

A hundred SMS Accounts pages open in one workspace hold a hundred identical subscriptions. Each
used to execute its selection for every event (0.3-0.5 ms each), so a push reached the hundredth
page 230 ms late. Subscriptions with the same document, variables, operation name, role and
workspace now join one *group*: the group runs the subscription once, and every result it yields
(one ``ExecutionResult`` object) is offered to each member's bounded queue. The websocket layer
then serializes that shared result once (``SharedPayloads``) and splices each operation id in.

On graphql-transport-ws the group writes each data result itself: serialized once, the frame of
each member (its operation id spliced in) is written to its socket right there, in the group's
task, with no hop through a task per subscriber (a hop per subscriber made the 1,000th push of
an event wait for 999 task switches). A write that cannot finish at once (the socket's buffer is
full) is finished by a task of that member alone, and what comes meanwhile waits in its bounded
backlog, so one slow socket never holds up the others. Errors, the end and everything of the
legacy protocol still go through each member's own subscription, in order.

A group is owned by its members: it starts with the first and its task ends when the last leaves.
A member that falls more than its queue behind is told to refetch (``RESYNC_REQUIRED``) and ends,
except for subscriptions whose every result is the whole current state (the sender picker), where
the member simply skips to the newest result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from graphql import FieldNode, GraphQLError, OperationType
from strawberry.types import ExecutionResult

from schema.context import Context
from schema.documents import chosen_operation

log = logging.getLogger(__name__)

# Root fields whose every event carries the whole state: a slow member skips to the newest.
LATEST_WINS = frozenset({"smsSendersChanged", "smsCampaignChanged"})
_END: Any = object()

Source = Callable[[Context], Awaitable[Any]]
GroupKey = tuple[str, str, str | None, str, str]
# Writes a data result (its JSON) as this subscription's frame to its socket; None when the
# subscription or its socket has ended.
Writer = Callable[[str], Coroutine[Any, Any, None] | None]
# Set by the websocket layer in the task of an operation it can write for directly.
DIRECT_WRITER: ContextVar[Writer | None] = ContextVar("direct_writer", default=None)


@lru_cache(maxsize=512)
def subscription_root(query: str, operation_name: str | None) -> str | None:
    """The root field of a document's one subscription operation (None: not shareable)."""
    operation = chosen_operation(query, operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    return selections[0].name.value


def group_key(
    query: str | None, variables: dict[str, Any] | None, operation_name: str | None, context: Any
) -> tuple[GroupKey, str] | None:
    """(the key members share, the root field), or None for what is never shared."""
    if query is None or not isinstance(context, Context) or context.authenticated is None:
        return None
    root = subscription_root(query, operation_name)
    if root is None:
        return None
    try:
        encoded = json.dumps(variables or {}, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    caller = context.authenticated
    return (query, encoded, operation_name, caller.workspace_id, caller.role.value), root


@dataclass(eq=False)
class _Member:
    size: int
    latest_wins: bool
    write: Writer | None = None  # None: every result goes through the member's subscription
    queue: deque[Any] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    # A latest-wins member that overflowed keeps only the newest result until it has read it.
    collapsed: bool = False
    # A write that did not finish at once, finishing in a task of its own, and what waits for
    # it: data (JSON text) to write, or items for the queue, kept in order.
    writing: asyncio.Task[None] | None = None
    backlog: deque[Any] = field(default_factory=deque)
    held_newest: bool = False  # the backlog of a latest-wins member overflowed

    def offer(self, item: Any) -> None:
        if self.writing is not None:
            self._hold(item)
        else:
            self._enqueue(item)

    def _enqueue(self, item: Any) -> None:
        if item is not _END and (self.collapsed or len(self.queue) >= self.size):
            if not self.latest_wins:
                self.overflowed = True
                self.ready.set()
                return
            self.queue.clear()
            self.collapsed = True
        self.queue.append(item)
        self.ready.set()

    def send(self, data: str) -> None:
        """Write ``data`` to the socket now; after the write under way, if there is one."""
        if self.overflowed:
            return  # told to refetch: nothing more is written
        if self.writing is not None:
            self._hold(data)
            return
        assert self.write is not None
        written = self.write(data)
        if written is not None:
            self.writing = _finish_later(written, self)

    def _hold(self, item: Any) -> None:
        """Keep ``item`` until the write under way finished, within the same bound."""
        if self.overflowed:
            return
        if item is not _END and (self.held_newest or len(self.backlog) >= self.size):
            if not self.latest_wins:
                self.overflowed = True  # told to refetch by its subscription
                self.ready.set()
                return
            self.backlog.clear()  # as the queue: only the newest, until caught up
            self.held_newest = True
        self.backlog.append(item)

    async def catch_up(self) -> None:
        """Write (or queue) what waited for the write that just finished, in order."""
        while self.backlog and not self.overflowed:
            item = self.backlog.popleft()
            if not self.backlog:
                self.held_newest = False
            if not isinstance(item, str):
                self._enqueue(item)
                continue
            assert self.write is not None
            written = self.write(item)
            if written is not None:
                await written

    def take(self) -> Any:
        item = self.queue.popleft()
        if not self.queue:
            self.collapsed = False
        return item

    def stop_writing(self) -> None:
        if self.writing is not None:
            self.writing.cancel()


def _finish_later(written: Coroutine[Any, Any, None], member: _Member) -> asyncio.Task[None] | None:
    """Run the write until it waits: most writes finish right here, with no task. One that waits
    (the socket's buffer is full) is finished by a task of the member's, which then catches up
    with what came meanwhile; None when nothing is left under way."""
    try:
        blocked = written.send(None)
    except StopIteration:
        return None
    except Exception:
        # The socket is gone: its own subscription ends the member.
        log.debug("a subscriber's socket refused a write", exc_info=True)
        return None
    return asyncio.get_running_loop().create_task(_resume(written, blocked, member))


async def _resume(written: Coroutine[Any, Any, None], blocked: Any, member: _Member) -> None:
    """Drive a started write to its end (as a task would have), then catch up."""
    try:
        while True:
            if isinstance(blocked, asyncio.Future):
                blocked._asyncio_future_blocking = False
                await asyncio.wait((blocked,))  # its outcome is the write's to read
            else:
                await asyncio.sleep(0)  # a bare yield: give way once
            try:
                blocked = written.send(None)
            except StopIteration:
                break
        await member.catch_up()
    except Exception:
        log.debug("a subscriber's socket refused a write", exc_info=True)
    finally:
        written.close()
        member.writing = None
        # Left only when a write failed or the member left: the socket is going, but the end
        # and errors held still reach the subscription.
        held = [item for item in member.backlog if not isinstance(item, str)]
        member.backlog.clear()
        for item in held:
            member.offer(item)


class _Group:
    def __init__(
        self,
        key: GroupKey,
        source: Source,
        context: Context,
        owner: SharedSubscriptions,
    ) -> None:
        self.key = key
        self.members: set[_Member] = set()
        self._owner = owner
        # The group runs with a context of its own: no member's websocket, the shared caller.
        self._context = replace(context, websocket=None, connection_params=None)
        self._source = source
        self.task = asyncio.create_task(self._run(), name="subscription-group")

    async def _run(self) -> None:
        try:
            stream = await self._source(self._context)
            if isinstance(stream, ExecutionResult) or not hasattr(stream, "__aiter__"):
                self._offer(stream)
                return
            async with contextlib.aclosing(stream):
                async for result in stream:
                    self._offer(result)
        except Exception:
            log.exception("a shared subscription failed")
            self._offer(_failure())
        finally:
            self._offer(_END)

    def _offer(self, item: Any) -> None:
        data = self._serialized(item)
        for member in tuple(self.members):
            if data is not None and member.write is not None:
                member.send(data)
            else:
                member.offer(item)

    def _serialized(self, item: Any) -> str | None:
        """The JSON of a result of data alone, once for every member that writes it itself."""
        if not isinstance(item, ExecutionResult) or item.errors or item.extensions:
            return None
        if not any(member.write is not None for member in self.members):
            return None
        self._owner.serializations += 1
        return json.dumps(item.data, separators=(",", ":"))

    def leave(self, member: _Member) -> None:
        member.stop_writing()
        self.members.discard(member)
        if not self.members:
            self._owner.forget(self)
            self.task.cancel()


class SharedSubscriptions:
    """The groups of one process, by key."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._groups: dict[GroupKey, _Group] = {}
        # Results serialized once for every member of their group that writes them directly.
        self.serializations = 0

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def join(
        self, key: GroupKey, root: str, source: Source, context: Context
    ) -> AsyncGenerator[Any, None]:
        group = self._groups.get(key)
        if group is None or group.task.done():
            group = _Group(key, source, context, self)
            self._groups[key] = group
        member = _Member(
            self.queue_size, latest_wins=root in LATEST_WINS, write=DIRECT_WRITER.get()
        )
        group.members.add(member)
        return _receive(group, member)

    def forget(self, group: _Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]


async def _receive(group: _Group, member: _Member) -> AsyncGenerator[Any, None]:
    try:
        while True:
            if member.overflowed:
                yield _resync()
                return
            if not member.queue:
                member.ready.clear()
                await member.ready.wait()
                continue
            item = member.take()
            if item is _END:
                return
            yield item
    finally:
        group.leave(member)


def _resync() -> ExecutionResult:
    error = GraphQLError(
        "Too many updates were missed: refetch and subscribe again.",
        extensions={"code": "RESYNC_REQUIRED"},
    )
    return ExecutionResult(data=None, errors=[error])


def _failure() -> ExecutionResult:
    error = GraphQLError("The subscription ended unexpectedly: subscribe again.")
    return ExecutionResult(data=None, errors=[error])


class SharedPayloads:
    """Serializes a result shared by many subscribers once; each message splices its id in."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        # By the data object's id; each entry keeps its object alive, so an id is never reused
        # for another object while its entry exists.
        self._recent: OrderedDict[int, tuple[object, str]] = OrderedDict()

    def encode(self, message: object) -> str | None:
        """The JSON of a ``next`` message whose payload is data alone, else None."""
        if not isinstance(message, dict) or message.get("type") != "next":
            return None
        payload = message.get("payload")
        if not isinstance(payload, dict) or payload.keys() != {"data"}:
            return None
        data = payload["data"]
        entry = self._recent.get(id(data))
        if entry is None or entry[0] is not data:
            entry = (data, json.dumps(data, separators=(",", ":")))
            self._recent[id(data)] = entry
            if len(self._recent) > self._size:
                self._recent.popitem(last=False)
        operation_id = json.dumps(message.get("id"))
        return f'{{"id":{operation_id},"type":"next","payload":{{"data":{entry[1]}}}}}'
