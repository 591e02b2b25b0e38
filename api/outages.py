"""While the database is unreachable, requests get a JSON 503 the client can retry after."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.db import is_outage

log = logging.getLogger(__name__)

_BODY = json.dumps(
    {
        "errors": [
            {
                "message": "The database is unavailable right now; retry shortly.",
                "extensions": {"code": "UNAVAILABLE"},
            }
        ]
    }
).encode()


class DatabaseUnavailableError(Exception):
    """Raised where an outage surfaced inside a layer that would otherwise report it as data."""


class AnswerOutagesWith503:
    """ASGI wrapper: an outage that escapes a handler before it answered becomes a JSON 503."""

    def __init__(self, app: ASGIApp, *, retry_after_seconds: int) -> None:
        self.app = app
        self.retry_after = str(retry_after_seconds).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not (isinstance(exc, DatabaseUnavailableError) or is_outage(exc)):
                raise
            log.warning("database unavailable: answered 503 (%s)", type(exc).__name__)
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", self.retry_after),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})
