"""Twilio's REST API, the parts this service uses: account, phone numbers, Messaging Services.

Every call retries transient failures (connection drops, timeouts, 5xx, 429 / code 20429) with
exponential backoff and full jitter, honouring Retry-After, at most 4 attempts within 60 s. A
Retry-After that ends after those 60 s raises ``TwilioAskedToWait``: the caller reschedules.
Errors are read by Twilio's numeric ``code``, never by message text, and upstream bodies are
never logged (the account resource carries ``auth_token``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from providers.errors import (
    BaseUrlRefused,
    BaseUrlUnreachable,
    OutcomeUnknown,
    ProviderUnavailable,
    TwilioAskedToWait,
    TwilioError,
    TwilioRejected,
    TwilioUnreachable,
)
from providers.host_policy import HostPolicy, HostPolicyError, is_twilio_host
from providers.transport import MAX_BODY_BYTES

RATE_LIMITED = 20429
# Twilio's own hosts: the default and the regional ``api.<edge>.<region>.twilio.com``, and their
# ``messaging.`` twins. Failing to connect to one of these is this server's network problem
# (DNS, firewall, proxy), not a wrong Base URL.


@dataclass(frozen=True, slots=True)
class Credentials:
    account_sid: str
    auth_token: str
    base_url: str  # normalized, ends with "/"

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(account_sid={self.account_sid!r}, base_url={self.base_url!r})"


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
    phone_number: str
    sms: bool


@dataclass(frozen=True, slots=True)
class MessagingService:
    sid: str
    account_sid: str


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
        exhausted: TwilioError | None = None,
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
        sid = quote(credentials.account_sid, safe="")
        base = self._allowed(credentials.base_url)
        body = await self._get(credentials, f"{base}2010-04-01/Accounts/{sid}.json")
        return AccountInfo(
            sid=str(body.get("sid", "")),
            active=body.get("status") == "active",
            trial=_TRIAL_BY_TYPE.get(str(body.get("type"))),
        )

    async def incoming_numbers(
        self, credentials: Credentials, phone_number: str
    ) -> list[IncomingNumber]:
        """``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=…``."""
        sid = quote(credentials.account_sid, safe="")
        base = self._allowed(credentials.base_url)
        url = f"{base}2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json"
        body = await self._get(credentials, url, params={"PhoneNumber": phone_number})
        numbers = body.get("incoming_phone_numbers")
        if not isinstance(numbers, list):
            raise BaseUrlUnreachable("not Twilio's phone number list")
        found = []
        for number in numbers:
            if not isinstance(number, dict):
                continue
            capabilities = number.get("capabilities") or {}
            sms = isinstance(capabilities, dict) and (
                capabilities.get("sms") is True or capabilities.get("SMS") is True
            )
            found.append(IncomingNumber(phone_number=str(number.get("phone_number")), sms=sms))
        return found

    async def fetch_messaging_service(
        self, credentials: Credentials, service_sid: str
    ) -> MessagingService:
        """``GET {messaging}/v1/Services/{Sid}``."""
        base = self._allowed(messaging_base(credentials.base_url))
        url = f"{base}v1/Services/{quote(service_sid, safe='')}"
        body = await self._get(credentials, url)
        return MessagingService(
            sid=str(body.get("sid", "")), account_sid=str(body.get("account_sid", ""))
        )

    async def send_message(
        self,
        credentials: Credentials,
        *,
        to: str,
        body: str,
        sender: str,
        status_callback: str | None,
    ) -> SentMessage:
        """``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: sent at most once.

        Only a 429 (Twilio did not process it) is retried. A timeout or 5xx after the request
        went out raises ``OutcomeUnknown``; a connection that never opened raises
        ``BaseUrlUnreachable`` (nothing was sent).
        """
        sid = quote(credentials.account_sid, safe="")
        base = self._allowed(credentials.base_url)
        url = f"{base}2010-04-01/Accounts/{sid}/Messages.json"
        form = {"To": to, "Body": body}
        form["From" if sender.startswith("+") else "MessagingServiceSid"] = sender
        if status_callback:
            form["StatusCallback"] = status_callback
        auth = httpx.BasicAuth(credentials.account_sid, credentials.auth_token)

        async def once() -> dict[str, Any]:
            try:
                return await self._once("POST", url, auth, None, form, sent_once=True)
            except _Transient as transient:
                if transient.rate_limited:
                    raise
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
        auth = httpx.BasicAuth(credentials.account_sid, credentials.auth_token)
        return await self._with_retries(lambda: self._once("GET", url, auth, params))

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
                    raise TwilioAskedToWait(asked) from transient.__cause__
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


def _unreachable(url: str) -> TwilioError:
    """No connection could be made: on Twilio's own hosts the fault is this server's network."""
    if is_twilio_host(urlsplit(url).hostname or ""):
        return TwilioUnreachable("this server cannot reach Twilio")
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


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


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
    parsed = _json_object(body)
    code = parsed.get("code") if parsed is not None else None
    code = code if isinstance(code, int) else None
    if status == 429 or code == RATE_LIMITED:
        raise _Transient(_retry_after(response), rate_limited=True) from TwilioBusy(status)
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
