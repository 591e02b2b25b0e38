"""MSG91's HTTP API, the two calls this service makes: the balance (to check a key without
sending) and the v2 JSON send.

The key travels in the ``authkey`` header, never in a URL. Reads are retried on timeouts and 5xx
(at most 3 attempts, full jitter); a send is never retried (MSG91 takes no idempotency key). Any
failure to connect is this server's network or MSG91 being down, never the account's settings:
it is ``ProviderUnreachable`` whatever host the Base URL names. Upstream bodies are never logged.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from domain.vocabulary import ErrorCode, FailureReason
from providers.host_policy import HostPolicy, HostPolicyError
from providers.sms.errors import (
    BaseUrlRefused,
    OutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
    ProviderUnreachable,
)
from providers.sms.msg91.words import ADDRESS_NOT_WHITELISTED, describe, number_of
from providers.sms.port import Credentials
from providers.transport import MAX_BODY_BYTES, json_object

AUTH_HEADER = "authkey"
# MSG91's route numbers: 4 transactional, 1 promotional.
TRANSACTIONAL_ROUTE = "4"
PROMOTIONAL_ROUTE = "1"


class Msg91Rejected(ProviderRefused):
    """MSG91 answered with an error: its HTTP status and error code (None when it gave none)."""

    def __init__(self, status: int, code: int | None) -> None:
        whitelist = code == ADDRESS_NOT_WHITELISTED or status == ADDRESS_NOT_WHITELISTED
        super().__init__(
            FailureReason.ADDRESS_NOT_ALLOWED if whitelist else ErrorCode.PROVIDER_REJECTED,
            code=ADDRESS_NOT_WHITELISTED if whitelist else code,
            description=describe(ADDRESS_NOT_WHITELISTED if whitelist else code),
            cause=f"Msg91Rejected(status {status}, code {code})",
        )
        self.status = status


class _Busy(Exception):
    """MSG91 answered 5xx or 429, or the answer did not arrive: worth another read."""


@dataclass(frozen=True, slots=True)
class ReadRetry:
    max_attempts: int = 3
    base_seconds: float = 0.5
    cap_seconds: float = 4.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))  # noqa: S311


class Msg91Client:
    def __init__(
        self,
        http: httpx.AsyncClient,
        retry: ReadRetry,
        *,
        policy: HostPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._retry = retry
        self._policy = policy
        self._sleep = sleep

    async def balance(self, credentials: Credentials) -> None:
        """``GET api/balance.php?type=4``: returns when MSG91 answers the key with a balance."""
        url = f"{self._allowed(credentials.base_url)}api/balance.php"
        for attempt in range(self._retry.max_attempts):
            try:
                status, body = await self._call("GET", url, credentials, params={"type": "4"})
            except _Busy as busy:
                if attempt + 1 >= self._retry.max_attempts:
                    raise ProviderUnavailable("MSG91 did not answer in time") from busy
                await self._sleep(self._retry.backoff(attempt))
                continue
            _refusal(status, body)
            if not _is_balance(body):
                raise ProviderUnavailable("the answer is not MSG91's balance")
            return

    async def send(self, credentials: Credentials, payload: dict[str, Any]) -> str:
        """``POST api/v2/sendsms``, at most once: the request id MSG91 answers with."""
        url = f"{self._allowed(credentials.base_url)}api/v2/sendsms"
        try:
            status, body = await self._call("POST", url, credentials, payload=payload)
        except _Busy:
            raise OutcomeUnknown("MSG91's answer did not arrive") from None
        _refusal(status, body)
        answer = json_object(body)
        request_id = None if answer is None else answer.get("message")
        if not isinstance(request_id, str) or not request_id:
            raise OutcomeUnknown("MSG91's answer names no request")
        return request_id

    def _allowed(self, base_url: str) -> str:
        """``base_url`` if the current policy allows it: checked before every call."""
        try:
            self._policy.check_url(base_url)
        except HostPolicyError as refusal:
            raise BaseUrlRefused(str(refusal)) from None
        return base_url

    async def _call(
        self,
        method: str,
        url: str,
        credentials: Credentials,
        *,
        params: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, bytes]:
        headers = {AUTH_HEADER: credentials.secret}
        try:
            async with self._http.stream(
                method, url, params=params, json=payload, headers=headers
            ) as response:
                body = await _read_capped(response)
        except httpx.ConnectError as exc:  # DNS, refused, TLS, the address policy: never sent
            raise ProviderUnreachable("this server cannot reach MSG91") from exc
        except httpx.ConnectTimeout as exc:
            raise ProviderUnreachable("this server cannot reach MSG91") from exc
        except httpx.HTTPError as exc:  # timeouts, dropped connections after the request left
            raise _Busy() from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _Busy()
        return response.status_code, body


def _refusal(status: int, body: bytes) -> None:
    """Raise MSG91's refusal when the answer is one: an error status, or an error body (MSG91
    answers some refusals, 418 among them, with 200)."""
    answer = json_object(body)
    kind = None if answer is None else (answer.get("type") or answer.get("msgType"))
    code = None if answer is None else number_of(answer.get("code"))
    if 200 <= status < 300 and kind != "error":
        return
    if 300 <= status < 400:
        raise ProviderUnavailable("the Base URL redirects; redirects are not followed")
    raise Msg91Rejected(status, code)


def _is_balance(body: bytes) -> bool:
    """The balance answer: a number (as text, or as JSON), or a JSON object without an error."""
    text = body.decode(errors="replace").strip()
    try:
        float(text)
    except ValueError:
        return json_object(body) is not None
    return True


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProviderUnavailable("the answer is larger than any MSG91 response")
        chunks.append(chunk)
    return b"".join(chunks)
