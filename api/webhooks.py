"""The providers' webhooks: ``POST /webhooks/twilio/{accountId}/status`` and ``…/inbound``,
and ``POST /webhooks/reports/{accountId}/{token}`` (an account's ``statusWebhookUrl``).

Each Twilio request must carry a valid signature (checked by the account's provider port) for
the URL the provider called, rebuilt from ``SMS_PUBLIC_URL`` (never from Host or X-Forwarded-*
headers), or it is refused with 403 and changes nothing. A provider that signs nothing posts
to its account's report URL, whose token is the proof: a wrong one is refused with 403 through
the same throttle of failed checks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api.throttle import FailureLimiter, client_address
from resolvers.services import Services
from resolvers.status_batches import StaleSignerError, StatusBatcher
from resolvers.webhooks import (
    MalformedCallbackError,
    SigningAccount,
    record_account_reports,
    record_inbound,
    record_status,
    remembered_signing_account,
    reporting_account,
    signing_account,
)

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_RETRY = {"Retry-After": "5"}


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
Form = dict[str, str]
Params = list[tuple[str, str]]
Record = Callable[[Request, SigningAccount, Form], Awaitable[Response]]


class _TooLarge(Exception):
    pass


def _is_utf8_form(content_type: str | None) -> bool:
    """Providers post forms: ``application/x-www-form-urlencoded``, at most with a UTF-8 charset.

    Anything else is refused rather than guessed at: the body is always decoded as UTF-8, so
    another charset (or another media type) would be misread.
    """
    return _utf8_media_type(content_type) == FORM


def _utf8_media_type(content_type: str | None) -> str | None:
    """The media type (lower case) of a body declared UTF-8 or without a charset; None for any
    other charset or parameter."""
    if content_type is None:
        return None
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            return None
    return media_type.lower()


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
    # Signed, but not what the provider sends: refused alone, and a retry would be refused the
    # same.
    log.warning("a signed webhook was refused: %s", refusal)
    return PlainTextResponse(f"Bad request: {refusal}", status_code=400)


def webhook_routes(
    services: Services, failures: FailureLimiter, batcher: StatusBatcher
) -> list[Route]:
    webhooks = _Webhooks(services, failures, batcher)
    return [
        Route("/webhooks/twilio/{account_id}/status", webhooks.status, methods=["POST"]),
        Route("/webhooks/twilio/{account_id}/inbound", webhooks.inbound, methods=["POST"]),
        Route("/webhooks/reports/{account_id}/{token}", webhooks.reports, methods=["POST"]),
    ]


class _Webhooks:
    """The two endpoints: a delivery report (``status``) and a reply (``inbound``)."""

    def __init__(
        self, services: Services, failures: FailureLimiter, batcher: StatusBatcher
    ) -> None:
        self.services = services
        self.failures = failures
        self.batcher = batcher

    async def status(self, request: Request) -> Response:
        # A delivery report's write checks the account version its signer was read at, so the
        # signer remembered from the last report may sign it (resolvers.signers).
        return await self._handled(request, self._report, remembered=True)

    async def inbound(self, request: Request) -> Response:
        return await self._handled(request, self._reply, remembered=False)

    async def reports(self, request: Request) -> Response:
        """Delivery reports posted to an account's report URL (a form or JSON, unsigned)."""
        media_type = _utf8_media_type(request.headers.get("content-type"))
        if media_type not in (FORM, JSON):
            return PlainTextResponse("Unsupported Media Type", status_code=415)
        try:
            body = await _read_body(request)
        except _TooLarge:
            return PlainTextResponse("Request body too large", status_code=413)
        account_id = request.path_params["account_id"]
        account = await reporting_account(self.services, account_id, request.path_params["token"])
        if account is None:
            return self._forged(request)
        try:
            await record_account_reports(self.batcher, account, account_id, body, media_type)
        except MalformedCallbackError as refusal:
            return _malformed(refusal)
        except Exception:
            log.warning("delivery reports were not recorded; the provider will retry them")
            return PlainTextResponse("Try again later", status_code=503, headers=_RETRY)
        return Response(status_code=204)

    async def _handled(self, request: Request, record: Record, *, remembered: bool) -> Response:
        """A signed webhook, recorded by ``record`` (which answers it), or the refusal."""
        checked = await self._signed_form(request)
        if isinstance(checked, Response):
            return checked
        url, params = checked
        account_id = request.path_params["account_id"]
        account = remembered_signing_account(self.services, account_id) if remembered else None
        if account is None or not self._signs(account, url, params, request):
            # Not remembered, or its secrets do not sign this: the token may have changed.
            account = await self._signer_now(account_id, url, params, request)
        for _ in range(2):
            if account is None:
                return self._forged(request)
            try:
                return await record(request, account, dict(params))
            except MalformedCallbackError as refusal:
                return _malformed(refusal)
            except StaleSignerError:
                # The account changed after its secrets were read: check again with today's.
                account = await self._signer_now(account_id, url, params, request)
        log.warning("a delivery report met an account changing under it twice; retried later")
        return PlainTextResponse("Try again later", status_code=503, headers=_RETRY)

    async def _signer_now(
        self, account_id: str, url: str, params: Params, request: Request
    ) -> SigningAccount | None:
        """Who signed the request, by the account's secrets as they are now; None: no one."""
        account = await signing_account(self.services, account_id)
        if account is None or not self._signs(account, url, params, request):
            return None
        return account

    @staticmethod
    def _signs(account: SigningAccount, url: str, params: Params, request: Request) -> bool:
        return account.port.signature_valid(url, params, request.headers, account.secrets)

    async def _report(self, request: Request, account: SigningAccount, form: Form) -> Response:
        try:
            await record_status(
                self.batcher,
                account,
                request.path_params["account_id"],
                form,
                request.query_params.get("mid"),
            )
        except (MalformedCallbackError, StaleSignerError):
            raise
        except Exception:
            # Not written (shutting down, or the database failed): providers retry on a 5xx.
            log.warning("a delivery report was not recorded; the provider will retry it")
            return PlainTextResponse("Try again later", status_code=503, headers=_RETRY)
        return Response(status_code=204)

    async def _reply(self, request: Request, account: SigningAccount, form: Form) -> Response:
        await record_inbound(self.services, account, request.path_params["account_id"], form)
        answer = account.port.inbound_answer
        return Response(answer.body, media_type=answer.media_type)

    async def _signed_form(self, request: Request) -> tuple[str, Params] | Response:
        """(the URL the provider signed, the form's parameters), or the refusal."""
        if not _is_utf8_form(request.headers.get("content-type")):
            return PlainTextResponse("Unsupported Media Type", status_code=415)
        try:
            body = await _read_body(request)
        except _TooLarge:
            return PlainTextResponse("Request body too large", status_code=413)
        public_url = self.services.public_url
        if public_url is None:
            log.warning("a provider's webhook arrived but SMS_PUBLIC_URL is not set; refused")
            return PlainTextResponse("Forbidden", status_code=403)
        try:
            params = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return PlainTextResponse("Bad request", status_code=400)
        query = request.url.query
        return public_url + request.url.path + (f"?{query}" if query else ""), params

    def _forged(self, request: Request) -> Response:
        wait = self.failures.failed(client_address(request.scope))
        if wait is not None:
            return PlainTextResponse(
                "Too many failed webhook checks",
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        return PlainTextResponse("Forbidden", status_code=403)
