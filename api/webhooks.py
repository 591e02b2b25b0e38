"""Twilio's webhooks: ``POST /webhooks/twilio/{accountId}/status`` and ``…/inbound``.

Each request must carry a valid ``X-Twilio-Signature`` for the URL Twilio called, rebuilt from
``SMS_PUBLIC_URL`` (never from Host or X-Forwarded-* headers), or it is refused with 403 and
changes nothing.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api.throttle import FailureLimiter, client_address
from providers.signature import is_valid_signature
from resolvers.services import Services
from resolvers.status_batches import StatusBatcher
from resolvers.webhooks import (
    MalformedCallbackError,
    record_inbound,
    record_status,
    signing_tokens,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_RETRY = {"Retry-After": "5"}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


FORM = "application/x-www-form-urlencoded"


class _TooLarge(Exception):
    pass


def _is_utf8_form(content_type: str | None) -> bool:
    """Twilio posts forms: ``application/x-www-form-urlencoded``, at most with a UTF-8 charset.

    Anything else is refused rather than guessed at: the body is always decoded as UTF-8, so
    another charset (or another media type) would be misread.
    """
    if content_type is None:
        return False
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != FORM:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            return False
    return True


def _declares_too_much(declared: str | None) -> bool:
    """A Content-Length over MAX_BODY. Only ASCII digits are a length (int() refuses the
    superscripts str.isdigit() takes), counted before int() reads them (it refuses over 4,300
    digits); anything else is left to the count of the bytes that arrive."""
    if declared is None or not (declared.isascii() and declared.isdigit()):
        return False
    digits = declared.lstrip("0")
    return len(digits) > len(str(MAX_BODY)) or int(digits or "0") > MAX_BODY


async def _read_body(request: Request) -> bytes:
    if _declares_too_much(request.headers.get("content-length")):
        raise _TooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _malformed(refusal: MalformedCallbackError) -> Response:
    # Signed, but not what Twilio sends: refused alone, and a retry would be refused the same.
    log.warning("a signed Twilio webhook was refused: %s", refusal)
    return PlainTextResponse(f"Bad request: {refusal}", status_code=400)


def webhook_routes(
    services: Services, failures: FailureLimiter, batcher: StatusBatcher
) -> list[Route]:
    async def authenticated(request: Request) -> tuple[str, list[tuple[str, str]]] | Response:
        """(workspace id, form parameters) of a request Twilio signed, or the refusal."""
        if not _is_utf8_form(request.headers.get("content-type")):
            return PlainTextResponse("Unsupported Media Type", status_code=415)
        try:
            body = await _read_body(request)
        except _TooLarge:
            return PlainTextResponse("Request body too large", status_code=413)
        if services.public_url is None:
            log.warning("a Twilio webhook arrived but SMS_PUBLIC_URL is not set; refused")
            return PlainTextResponse("Forbidden", status_code=403)
        try:
            params = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return PlainTextResponse("Bad request", status_code=400)
        query = request.url.query
        url = services.public_url + request.url.path + (f"?{query}" if query else "")
        account = await signing_tokens(services, request.path_params["account_id"])
        signature = request.headers.get("x-twilio-signature")
        if account is None or not is_valid_signature(url, params, signature, account.tokens):
            wait = failures.failed(client_address(request.scope))
            if wait is not None:
                return PlainTextResponse(
                    "Too many failed signatures",
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
            return PlainTextResponse("Forbidden", status_code=403)
        return account.workspace_id, params

    async def status(request: Request) -> Response:
        checked = await authenticated(request)
        if isinstance(checked, Response):
            return checked
        workspace_id, params = checked
        try:
            await record_status(
                batcher,
                workspace_id,
                request.path_params["account_id"],
                dict(params),
                request.query_params.get("mid"),
            )
        except MalformedCallbackError as refusal:
            return _malformed(refusal)
        except Exception:
            # Not written (shutting down, or the database failed): Twilio retries on a 5xx.
            log.warning("a delivery report was not recorded; Twilio will retry it")
            return PlainTextResponse("Try again later", status_code=503, headers=_RETRY)
        return Response(status_code=204)

    async def inbound(request: Request) -> Response:
        checked = await authenticated(request)
        if isinstance(checked, Response):
            return checked
        workspace_id, params = checked
        try:
            await record_inbound(
                services, workspace_id, request.path_params["account_id"], dict(params)
            )
        except MalformedCallbackError as refusal:
            return _malformed(refusal)
        return Response(EMPTY_TWIML, media_type="text/xml")

    return [
        Route("/webhooks/twilio/{account_id}/status", status, methods=["POST"]),
        Route("/webhooks/twilio/{account_id}/inbound", inbound, methods=["POST"]),
    ]
