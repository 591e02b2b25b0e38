"""The provider-host policy again at connect time, on the address actually dialled."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest

from providers.host_policy import HostPolicy
from providers.sms.errors import BaseUrlUnreachable, ProviderUnreachable
from providers.sms.port import Credentials
from providers.sms.twilio.client import RetryPolicy, TwilioClient
from providers.transport import create_http_client

SID = "AC" + "a" * 32


class Listener:
    """A loopback HTTP server that answers every request with a Twilio account body."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = json.dumps({"sid": SID, "status": "active", "type": "Full"}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    state = Listener()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state


def client_for(policy: str, names: dict[str, list[str]]) -> TwilioClient:
    async def resolver(host: str) -> list[str]:
        if host in names:
            return names[host]
        raise OSError("no such name")

    checked = HostPolicy.parse(policy)
    http = create_http_client(checked, resolver)
    return TwilioClient(http, RetryPolicy(base_seconds=0), policy=checked)


async def test_a_name_resolving_to_loopback_is_never_dialled(listener: Listener) -> None:
    client = client_for("*.example.test", {"sms.example.test": ["127.0.0.1"]})
    credentials = Credentials(SID, "token", f"http://sms.example.test:{listener.port}/")

    with pytest.raises(BaseUrlUnreachable):
        await client.fetch_account(credentials)

    assert listener.connections == 0


async def test_a_literally_listed_loopback_stand_in_is_dialled(listener: Listener) -> None:
    client = client_for("localhost", {"localhost": ["127.0.0.1"]})
    credentials = Credentials(SID, "token", f"http://localhost:{listener.port}/")

    info = await client.fetch_account(credentials)

    assert info.sid == SID
    assert listener.connections == 1


async def test_a_custom_name_that_does_not_resolve_is_a_base_url_failure() -> None:
    client = client_for("*.example.test", {})
    with pytest.raises(BaseUrlUnreachable):
        await client.fetch_account(Credentials(SID, "token", "https://sms.example.test/"))


async def test_twilios_own_name_not_resolving_is_this_servers_network_with_dns_as_cause() -> None:
    async def no_dns(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    policy = HostPolicy.parse("api.twilio.com,*.twilio.com")
    http = create_http_client(policy, no_dns)
    client = TwilioClient(http, RetryPolicy(base_seconds=0), policy=policy)
    with pytest.raises(ProviderUnreachable) as raised:
        await client.fetch_account(Credentials(SID, "token", "https://api.twilio.com/"))
    assert raised.value.cause == "gaierror"


async def test_twilios_own_name_resolving_inside_is_refused(listener: Listener) -> None:
    client = client_for("api.twilio.com,*.twilio.com", {"api.twilio.com": ["127.0.0.1"]})
    # Split DNS sending Twilio's name inside is the network's doing: the administrator's to fix.
    with pytest.raises(ProviderUnreachable):
        await client.fetch_account(Credentials(SID, "token", "https://api.twilio.com/"))
    assert listener.connections == 0
