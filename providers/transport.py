"""The HTTP client for Twilio: pooled, bounded, and unable to reach anything the policy refuses.

The provider-host policy is checked again at connect time on the address actually dialled: the
name is resolved here, every address is checked, and the connection goes to a checked address
(TLS still verifies the certificate for the name). DNS rebinding between check and use is moot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from providers.host_policy import HostPolicy, HostPolicyError, Resolver

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
MAX_BODY_BYTES = 1024 * 1024


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address against the policy, then dials a checked address."""

    def __init__(self, policy: HostPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore.AsyncNetworkBackend)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self._resolver(host), timeout or CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        try:
            for address in addresses:
                self._policy.check_address(host, address)
        except HostPolicyError as refusal:
            raise httpcore.ConnectError(str(refusal)) from None
        return await self._inner.connect_tcp(
            addresses[0].strip("[]"), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def create_http_client(
    policy: HostPolicy, resolver: Resolver, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """One pooled client for the app's life. Tests pass their own transport (respx)."""
    if transport is None:
        guarded = httpx.AsyncHTTPTransport(trust_env=False)
        # httpx does not take a network backend; its pool does. Same settings, guarded dialling.
        guarded._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=30.0,
            network_backend=GuardedNetworkBackend(policy, resolver),
        )
        transport = guarded
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, pool=CONNECT_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "sms-accounts/0.1", "Accept": "application/json"},
    )


def json_object(body: bytes) -> dict[str, Any] | None:
    """A provider's answer read as a JSON object; None when it is anything else (a provider's
    HTML error page, a number, a truncated body)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
