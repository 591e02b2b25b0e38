"""Twilio's REST API, the parts this service uses: account, phone numbers, Messaging Services,
messages.

Every call retries transient failures (connection drops, timeouts, 5xx, 429 / code 20429) with
exponential backoff and full jitter, honouring Retry-After, at most 4 attempts within 60 s. A
Retry-After that ends after those 60 s raises ``ProviderAskedToWait``: the caller reschedules.
Errors are read by Twilio's numeric ``code``, never by message text, and upstream bodies are
never logged (the account resource carries ``auth_token``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from domain.vocabulary import ErrorCode
from providers.host_policy import HostPolicy, HostPolicyError, is_twilio_host
from providers.sms.errors import (
    BaseUrlRefused,
    BaseUrlUnreachable,
    OutcomeUnknown,
    ProviderAskedToWait,
    ProviderRateLimited,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUnreachable,
    SmsProviderError,
)
from providers.sms.port import Credentials
from providers.sms.twilio.error_codes import (
    AUTHENTICATION_FAILED,
    NOT_FOUND,
    RATE_LIMITED,
    describe,
)
from providers.transport import MAX_BODY_BYTES, json_object


class TwilioRejected(ProviderRefused):
    """Twilio answered the request with an error: its HTTP status and numeric error code. The
    adapter reads them into the reason of the call that was refused."""

    def __init__(self, status: int, code: int | None) -> None:
        super().__init__(
            ErrorCode.PROVIDER_REJECTED,
            code=code,
            description=describe(code),
            cause=f"TwilioRejected(status {status}, code {code})",
        )
        self.status = status

    @property
    def bad_credentials(self) -> bool:
        """Twilio refused the Account SID / Auth Token pair itself (20003, or a bare 401)."""
        return self.code == AUTHENTICATION_FAILED or self.status == 401

    @property
    def no_such_resource(self) -> bool:
        """What was asked for is not there, or not visible to these credentials (20404, 403,
        404)."""
        return self.code == NOT_FOUND or self.status in (403, 404)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    budget_seconds: float = 60.0
    base_seconds: float = 0.5
    cap_seconds: float = 8.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]."""
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))  # noqa: S311


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """The account resource in our words: Twilio's ``status`` ("active", "suspended", "closed")
    and ``type`` ("Trial", "Full") stay here."""

    sid: str
    active: bool
    trial: bool | None  # None: Twilio did not say


_TRIAL_BY_TYPE = {"Trial": True, "Full": False}


@dataclass(frozen=True, slots=True)
class IncomingNumber:
    sid: str
    phone_number: str
    sms: bool
    sms_url: str | None
    sms_method: str | None
    sms_application_sid: str | None


@dataclass(frozen=True, slots=True)
class MessagingService:
    sid: str
    account_sid: str
    inbound_request_url: str | None
    inbound_method: str | None
    use_inbound_webhook_on_number: bool | None


@dataclass(frozen=True, slots=True)
class SentMessage:
    sid: str
    status: str
    segments: int | None
    error_code: int | None


class TwilioBusy(Exception):
    """Twilio answered 5xx or 429: the cause logged under a ProviderUnavailable."""


class _Transient(Exception):
    def __init__(
        self,
        retry_after: float | None = None,
        *,
        rate_limited: bool = False,
        exhausted: SmsProviderError | None = None,
    ) -> None:
        super().__init__("transient")
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        # What to raise when the retries run out on this failure.
        self.exhausted = exhausted or ProviderUnavailable("Twilio did not answer in time")


def messaging_base(base_url: str) -> str:
    """Messaging v1 lives on ``messaging.`` beside ``api.``; any other host serves both."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.startswith("api."):
        netloc = parts.netloc.replace(host, "messaging." + host.removeprefix("api."), 1)
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return base_url


class TwilioClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        *,
        policy: HostPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._policy = policy
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    async def fetch_account(self, credentials: Credentials) -> AccountInfo:
        """``GET /2010-04-01/Accounts/{Sid}.json``."""
        base = self._allowed(credentials.base_url)
        body = await self._get(credentials, f"{base}{_account_path(credentials)}.json")
        return AccountInfo(
            sid=str(body.get("sid", "")),
            active=body.get("status") == "active",
            trial=_TRIAL_BY_TYPE.get(str(body.get("type"))),
        )

    async def incoming_numbers(
        self, credentials: Credentials, phone_number: str
    ) -> list[IncomingNumber]:
        """``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=…``.

        Twilio's ``PhoneNumber`` filter matches partially: callers compare ``phone_number``.
        """
        base = self._allowed(credentials.base_url)
        url = f"{base}{_account_path(credentials)}/IncomingPhoneNumbers.json"
        body = await self._get(credentials, url, params={"PhoneNumber": phone_number})
        numbers = body.get("incoming_phone_numbers")
        if not isinstance(numbers, list):
            raise BaseUrlUnreachable("not Twilio's phone number list")
        return [_incoming_number(number) for number in numbers if isinstance(number, dict)]

    async def update_incoming_number(
        self, credentials: Credentials, number_sid: str, form: Mapping[str, str]
    ) -> IncomingNumber:
        """``POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json``: an
        idempotent update, retried like a read."""
        base = self._allowed(credentials.base_url)
        sid = quote(number_sid, safe="")
        url = f"{base}{_account_path(credentials)}/IncomingPhoneNumbers/{sid}.json"
        return _incoming_number(await self._post(credentials, url, form))

    async def fetch_messaging_service(
        self, credentials: Credentials, service_sid: str
    ) -> MessagingService:
        """``GET {messaging}/v1/Services/{Sid}``."""
        url = self._service_url(credentials, service_sid)
        return _messaging_service(await self._get(credentials, url))

    async def update_messaging_service(
        self, credentials: Credentials, service_sid: str, form: Mapping[str, str]
    ) -> MessagingService:
        """``POST {messaging}/v1/Services/{Sid}``: an idempotent update, retried like a read."""
        url = self._service_url(credentials, service_sid)
        return _messaging_service(await self._post(credentials, url, form))

    def _service_url(self, credentials: Credentials, service_sid: str) -> str:
        base = self._allowed(messaging_base(credentials.base_url))
        return f"{base}v1/Services/{quote(service_sid, safe='')}"

    async def send_message(
        self,
        credentials: Credentials,
        *,
        to: str,
        body: str,
        sender: str,
        status_callback: str | None,
        wait_out_rate_limits: bool = True,
    ) -> SentMessage:
        """``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: sent at most once.

        Only a 429 (Twilio did not process it) is sent again, and only ``wait_out_rate_limits``;
        otherwise, or once the retries ran out, it raises ``ProviderRateLimited``. A timeout or
        5xx after the request went out raises ``OutcomeUnknown``; a connection that never opened
        raises ``BaseUrlUnreachable`` (nothing was sent).
        """
        base = self._allowed(credentials.base_url)
        url = f"{base}{_account_path(credentials)}/Messages.json"
        form = {"To": to, "Body": body}
        form["From" if sender.startswith("+") else "MessagingServiceSid"] = sender
        if status_callback:
            form["StatusCallback"] = status_callback
        auth = httpx.BasicAuth(credentials.client_id, credentials.secret)

        async def once() -> dict[str, Any]:
            try:
                return await self._once("POST", url, auth, None, form, sent_once=True)
            except _Transient as transient:
                if transient.rate_limited and wait_out_rate_limits:
                    raise
                if transient.rate_limited:
                    raise transient.exhausted from None
                raise OutcomeUnknown("Twilio's answer did not arrive") from None

        answer = await self._with_retries(once)
        code = answer.get("error_code")
        return SentMessage(
            sid=str(answer.get("sid", "")),
            status=str(answer.get("status", "queued")),
            segments=_int_or_none(answer.get("num_segments")),
            error_code=_int_or_none(code),
        )

    def _allowed(self, base_url: str) -> str:
        """``base_url`` if the current policy allows it. A Base URL is checked before every
        call, not only when saved: one saved under a looser policy must not be called."""
        try:
            self._policy.check_url(base_url)
        except HostPolicyError as refusal:
            raise BaseUrlRefused(str(refusal)) from None
        return base_url

    async def _get(
        self, credentials: Credentials, url: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        auth = httpx.BasicAuth(credentials.client_id, credentials.secret)
        return await self._with_retries(lambda: self._once("GET", url, auth, params))

    async def _post(
        self, credentials: Credentials, url: str, form: Mapping[str, str]
    ) -> dict[str, Any]:
        """An idempotent POST (an update that sets values): retried as a read is."""
        auth = httpx.BasicAuth(credentials.client_id, credentials.secret)
        return await self._with_retries(lambda: self._once("POST", url, auth, None, form))

    async def _with_retries(
        self, attempt_once: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + self._retry.budget_seconds
        attempt = 0
        while True:
            try:
                return await attempt_once()
            except _Transient as transient:
                attempt += 1
                left = deadline - time.monotonic()
                asked = transient.retry_after
                if asked is not None and asked >= left:
                    # Twilio said when to come back, after this call's budget: not a failure.
                    raise ProviderAskedToWait(asked) from transient.__cause__
                delay = max(self._retry.backoff(attempt - 1), asked or 0.0)
                if attempt >= self._retry.max_attempts or delay >= left:
                    raise transient.exhausted from transient.__cause__
                await self._sleep(delay)

    async def _once(
        self,
        method: str,
        url: str,
        auth: httpx.Auth,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None = None,
        *,
        sent_once: bool = False,
    ) -> dict[str, Any]:
        try:
            async with self._http.stream(
                method, url, params=params, data=data, auth=auth
            ) as response:
                body = await _read_capped(response)
        except httpx.ConnectTimeout as exc:
            if sent_once:  # the request never left: nothing was sent
                raise _unreachable(url) from exc
            raise _Transient(exhausted=_unreachable(url)) from exc
        except (httpx.TimeoutException, httpx.ReadError, httpx.WriteError) as exc:
            raise _Transient() from exc
        except httpx.RemoteProtocolError as exc:
            raise _Transient() from exc
        except httpx.ConnectError as exc:  # DNS failure, refused, TLS failure, policy refusal
            raise _unreachable(url) from exc
        except httpx.HTTPError as exc:
            raise BaseUrlUnreachable("the Base URL did not answer HTTP") from exc
        return _interpret(response, body)


def _account_path(credentials: Credentials) -> str:
    return f"2010-04-01/Accounts/{quote(credentials.client_id, safe='')}"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _incoming_number(number: dict[str, Any]) -> IncomingNumber:
    capabilities = number.get("capabilities") or {}
    sms = isinstance(capabilities, dict) and (
        capabilities.get("sms") is True or capabilities.get("SMS") is True
    )
    return IncomingNumber(
        sid=str(number.get("sid", "")),
        phone_number=str(number.get("phone_number")),
        sms=sms,
        sms_url=_text(number.get("sms_url")),
        sms_method=_text(number.get("sms_method")),
        sms_application_sid=_text(number.get("sms_application_sid")),
    )


def _messaging_service(body: dict[str, Any]) -> MessagingService:
    on_number = body.get("use_inbound_webhook_on_number")
    return MessagingService(
        sid=str(body.get("sid", "")),
        account_sid=str(body.get("account_sid", "")),
        inbound_request_url=_text(body.get("inbound_request_url")),
        inbound_method=_text(body.get("inbound_method")),
        use_inbound_webhook_on_number=on_number if isinstance(on_number, bool) else None,
    )


def _unreachable(url: str) -> SmsProviderError:
    """No connection could be made: on Twilio's own hosts the fault is this server's network."""
    if is_twilio_host(urlsplit(url).hostname or ""):
        return ProviderUnreachable("this server cannot reach Twilio")
    return BaseUrlUnreachable("the Base URL cannot be reached")


async def _read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BaseUrlUnreachable("the answer is larger than any Twilio response")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BaseUrlUnreachable("the answer is larger than any Twilio response")
        chunks.append(chunk)
    return b"".join(chunks)


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)  # ASCII digits only: int() refuses superscripts isdigit() takes
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # float() refuses superscripts isdigit() takes
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _interpret(response: httpx.Response, body: bytes) -> dict[str, Any]:
    status = response.status_code
    parsed = json_object(body)
    code = parsed.get("code") if parsed is not None else None
    code = code if isinstance(code, int) else None
    if status == 429 or code == RATE_LIMITED:
        wait = _retry_after(response)
        limited = ProviderRateLimited(wait, code=code)
        raise _Transient(wait, rate_limited=True, exhausted=limited) from TwilioBusy(status)
    if status >= 500:
        raise _Transient(_retry_after(response)) from TwilioBusy(status)
    if 200 <= status < 300:
        if parsed is None:
            raise BaseUrlUnreachable("the Base URL did not answer with Twilio's JSON")
        return parsed
    if 300 <= status < 400:
        raise BaseUrlUnreachable("the Base URL redirects; redirects are not followed")
    if parsed is None or ("code" not in parsed and "status" not in parsed):
        raise BaseUrlUnreachable("the Base URL did not answer with Twilio's JSON")
    # Twilio's own "message" is not kept: clients only see our sentence for the code.
    raise TwilioRejected(status, code)
