"""Logging: the access log (our own, without query strings) and the text or JSON format.

Query strings can carry an Auth Token or an API key (a GraphQL GET, a mistyped webhook URL), so
uvicorn's access log, which writes them, is replaced by ``AccessLog``: one line per request with
the path alone. Every line logged while a request runs carries its request id, and the id the
client or a proxy sent, if any, as its parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is logged as the parent when it is short and plain (a proxy's or a client's
# correlation id); anything else could forge or break log lines and is dropped. It never becomes
# our id: a client could otherwise give its request another request's id.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
parent_request_id: ContextVar[str | None] = ContextVar("parent_request_id", default=None)
access_log = logging.getLogger("sms_accounts.access")


class AccessLog:
    """ASGI middleware: a unique request id per request (``X-Request-Id``), the incoming one
    kept as its parent, one access line each."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        token = request_id.set(rid)
        parent = parent_request_id.set(incoming_request_id(scope))
        started = time.perf_counter()
        status = 500  # unless a response starts: an escaping error is answered 500 outside

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid.encode())]
                message = {**message, "headers": headers}
            elif kind == "websocket.close" and status == 500:
                status = 403  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_access(scope, status, time.perf_counter() - started)
            request_id.reset(token)
            parent_request_id.reset(parent)


def new_request_id() -> str:
    """32 random hex digits (as unique as a UUID4's, at a fifth of its cost)."""
    return os.urandom(16).hex()


def log_access(scope: Scope, status: int, seconds: float) -> None:
    """Hand one request's access line to the handlers (within the request's id context).

    The record is made directly, not through ``Logger.info``: its caller's frame (the one thing
    ``info`` adds, by walking the stack) is printed by no format of ours, and cached reads are
    answered in tens of microseconds."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.handle(_access_record(_access_line(scope, status, seconds)))


# Every access line's record, but for its message and time: a copy costs a tenth of building one
# (a LogRecord works out its module from its path, its thread's and process's names, each time).
_ACCESS_RECORD = vars(
    logging.LogRecord(access_log.name, logging.INFO, __file__, 0, "", (), None, "log_access")
)


def _access_record(line: str) -> logging.LogRecord:
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = vars(record)
    fields.update(_ACCESS_RECORD)
    now = time.time()
    fields["msg"] = line
    fields["created"] = now
    fields["msecs"] = (now - int(now)) * 1000
    fields["relativeCreated"] += (now - _ACCESS_RECORD["created"]) * 1000
    return record


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None


def _access_line(scope: Scope, status: int, seconds: float) -> str:
    """``client "METHOD /path" status ms``: never the query string (it may hold a secret)."""
    client = scope.get("client")
    where = f"{client[0]}:{client[1]}" if client else "-"
    method = scope.get("method", "WS")
    # The raw path: still percent-encoded, so a %0A cannot start a forged line.
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"].encode("unicode_escape").decode()
    return f'{where} "{method} {path}" {status} {seconds * 1000:.1f}ms'


class _SecondStamps(logging.Formatter):
    """A formatter that renders the date and time once a second, not once a line (``strftime``
    was a tenth of a cached read's cost)."""

    _second: tuple[int, str | None] = (-1, None)
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = (int(record.created), datefmt)
        if second != self._second:
            self._stamp = time.strftime(
                datefmt or self.default_time_format, self.converter(record.created)
            )
            self._second = second
        if datefmt:
            return self._stamp
        return f"{self._stamp},{int(record.msecs):03d}"  # logging's default_msec_format


class JsonFormatter(_SecondStamps):
    """One JSON object a line, with the request id of the request the line belongs to."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        parent = parent_request_id.get()
        if parent is not None:
            entry["parent_request_id"] = parent
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(_SecondStamps):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id.get()
        if rid is None:
            return line
        parent = parent_request_id.get()
        return (
            f"{line} [request {rid}]"
            if parent is None
            else f"{line} [request {rid} parent {parent}]"
        )


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes lines in batches: a write (a system call) per access line
    cost a cached read as much as answering it.

    Lines below WARNING wait in memory until ``max_bytes`` of them are there or ``flush_seconds``
    after the first of them (a timer on the running event loop; with no loop in this thread,
    at once); a WARNING or worse writes everything at once, in order, and so does ``flush()``
    (called by ``logging.shutdown`` at exit)."""

    def __init__(self, stream: Any, *, flush_seconds: float, max_bytes: int = 64 * 1024) -> None:
        super().__init__(stream)
        self.flush_seconds = flush_seconds
        self.max_bytes = max_bytes
        self._pending: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        # The loop the timer runs on: a line logged on a loop that has since closed (``serve``
        # runs its start-up steps on a loop of their own) must not leave the next lines waiting
        # for a timer that never fires.
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self.max_bytes:
            self.flush()
        elif self._timer is None or self._timer_loop is not _running_loop():
            self._schedule()

    def _schedule(self) -> None:
        loop = _running_loop()
        if loop is None:
            self.flush()
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(self.flush_seconds, self.flush)
        self._timer_loop = loop

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_loop = None
            if self._pending:
                pending, self._pending, self._size = self._pending, [], 0
                try:
                    self.stream.write("".join(pending))
                    self.stream.flush()
                except Exception:  # the stream is gone (closed at exit): nothing to write to
                    return


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def configure_logging(
    log_format: str, level: int = logging.INFO, *, flush_seconds: float = 0.0
) -> None:
    """Every logger (ours, uvicorn's, the libraries') writes through one handler on stderr;
    ``flush_seconds`` above 0 batches the lines below WARNING (``BufferedStreamHandler``)."""
    handler: logging.StreamHandler = (  # type: ignore[type-arg]
        BufferedStreamHandler(sys.stderr, flush_seconds=flush_seconds)
        if flush_seconds > 0
        else logging.StreamHandler(sys.stderr)
    )
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every Twilio request's URL at INFO; the verdict lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
