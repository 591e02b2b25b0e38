"""Request limits of /graphql before Strawberry sees a byte: the body's size (413, checked on
``Content-Length`` and on the bytes actually streamed) and its shape (400: one JSON object,
UTF-8, nested at most so deep; no batches). GET parameters carrying JSON get the same check.

A document over the token limit is answered here too, as Strawberry would (the parser's error,
status 200), but counted without parsing it (schema/limits.py): nothing after this, the response
cache's key included, spends a parse on it."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import refusal
from schema.limits import tokens_over, too_many_tokens

_JSON_PARAMETERS = ("variables", "extensions")


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        code = "PAYLOAD_TOO_LARGE" if self.status == 413 else "BAD_REQUEST"
        return refusal(self.status, self.message, code)


class LimitRequests:
    """ASGI wrapper: refuses oversized or malformed requests, replays accepted bodies."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int, max_tokens: int
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.max_tokens = max_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "POST":
                body = await self._read_body(scope, receive)
                request = self._check_json(body, what="The request body", batch_allowed=False)
                # Handed on, so that nothing after this reads or parses the body again.
                scope.setdefault("state", {}).update(body=body, request=request)
                receive = _replay(body, receive)
                document = request.get("query")
            else:
                parameters = Request(scope).query_params
                for name, value in parameters.multi_items():
                    if name in _JSON_PARAMETERS:
                        self._check_json(value.encode(), what=f"The {name} parameter")
                document = parameters.get("query")
        except RequestRefused as refused:
            await refused.response()(scope, receive, send)
            return
        if isinstance(document, str) and tokens_over(document, self.max_tokens):
            error = {"message": too_many_tokens(self.max_tokens)}
            await JSONResponse({"data": None, "errors": [error]})(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_bytes
        too_large = RequestRefused(413, f"The request body is larger than {limit} bytes.")
        declared = Request(scope).headers.get("content-length")
        if declared is not None:
            if not (declared.strip().isascii() and declared.strip().isdigit()):
                raise RequestRefused(400, "The Content-Length header is not a number.")
            if int(declared) > limit:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestRefused(400, "The client left before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _check_json(self, raw: bytes, *, what: str, batch_allowed: bool = True) -> Any:
        """The JSON value of ``raw``, or the refusal of what breaks a limit."""
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestRefused(400, f"{what} is not UTF-8 text.") from None
        except RecursionError:  # too deep for the parser itself: deeper than any limit
            value = None
        except ValueError:
            raise RequestRefused(400, f"{what} is not valid JSON.") from None
        if value is None or _depth_exceeds(value, self.max_json_depth):
            raise RequestRefused(
                400, f"{what} is nested more than {self.max_json_depth} levels deep."
            )
        if not batch_allowed and isinstance(value, list):
            raise RequestRefused(400, "Batched requests (a JSON array) are not supported.")
        if not batch_allowed and not isinstance(value, dict):
            raise RequestRefused(400, f"{what} must be a JSON object.")
        return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` deep (without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body on, then waits for the disconnect."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
