"""What every HTTP answer obeys, whichever handler wrote it (ours, Starlette's router, Strawberry's
view): an HTML page may not be framed by another site (clickjacking), and an error is JSON shaped
like a GraphQL error, never a plain-text line a client cannot parse."""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_FRAMING = "frame-ancestors 'none'"
# Codes of the plain-text errors that reach here; the others already answer JSON themselves.
_CODES = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    503: "UNAVAILABLE",
}


class ResponsePolicy:
    """ASGI middleware: frame-guard headers on HTML, plain-text errors turned into JSON."""

    def __init__(self, app: ASGIApp, *, graphql_path: str = "/graphql") -> None:
        self.app = app
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # a plain-text error's start, until its body has come
        body: list[bytes] = []

        async def policed(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = Headers(raw=message["headers"])
                kind = headers.get("content-type", "")
                if kind.startswith("text/html"):
                    message = {**message, "headers": _unframable(headers)}
                elif _plain_error(message["status"], kind, headers):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    text = self._sentence(scope, held, b"".join(body))
                    for part in _as_json(held, text):
                        await send(part)
                return
            await send(message)

        await self.app(scope, receive, policed)

    def _sentence(self, scope: Scope, start: Message, body: bytes) -> str:
        """The handler's own text, unless it is only the status's name."""
        status: int = start["status"]
        text = body.decode("utf-8", "replace").strip()
        if status == 405:
            allowed = Headers(raw=start["headers"]).get("allow")
            return f"This method is not allowed here{f'; use {allowed}' if allowed else ''}."
        if status != 404 or text != HTTPStatus.NOT_FOUND.phrase:
            return text
        if scope["path"] == self.graphql_path:  # a GET without a document
            return 'No GraphQL document: POST {"query": ...} as JSON, or GET with ?query=...'
        return f"Nothing is here: the GraphQL API is at {self.graphql_path}."


def _unframable(headers: Headers) -> list[tuple[bytes, bytes]]:
    """Headers by which no page may frame this one: CSP ``frame-ancestors`` (a policy in a
    <meta> cannot carry it) and X-Frame-Options for browsers older than CSP level 2."""
    raw = [(name, value) for name, value in headers.raw if name != b"x-frame-options"]
    policy = headers.get("content-security-policy")
    if policy is None:
        raw.append((b"content-security-policy", NO_FRAMING.encode()))
    elif "frame-ancestors" not in policy:
        raw = [(name, value) for name, value in raw if name != b"content-security-policy"]
        raw.append((b"content-security-policy", f"{policy}; {NO_FRAMING}".encode()))
    raw.append((b"x-frame-options", b"DENY"))
    return raw


def _plain_error(status: int, kind: str, headers: Headers) -> bool:
    return status >= 400 and kind.startswith("text/plain") and "content-encoding" not in headers


def _as_json(start: Message, message: str) -> list[Message]:
    status: int = start["status"]
    code = _CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL")
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    kept = [
        (name, value)
        for name, value in start["headers"]
        if name not in (b"content-type", b"content-length")
    ]
    headers = [
        *kept,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return [
        {**start, "headers": headers},
        {"type": "http.response.body", "body": body, "more_body": False},
    ]
