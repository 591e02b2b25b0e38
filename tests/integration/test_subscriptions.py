"""Live updates over a real websocket: the app of ``create_app`` served by uvicorn in this process,
and the ``websockets`` client speaking graphql-transport-ws (and the legacy graphql-ws)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
import uvicorn
from starlette.applications import Starlette
from websockets.exceptions import InvalidStatus

from api.app import create_app
from api.response_cache import BumpingBus
from api.settings import Settings
from providers.bus import MemoryBus
from providers.redis_bus import RedisBus
from resolvers.api_keys import authenticate, create_api_key, revoke_api_key
from resolvers.domain import Role
from resolvers.events import accounts_channel, senders_channel
from resolvers.messages import messages_channel
from resolvers.services import Services
from tests.conftest import ACCOUNT_SID, MG_SID, PHONE, Api, Keys, phone
from tests.integration.documents import ACCOUNT_FIELDS, REMOVE, SENDERS, SET_ENABLED
from tests.integration.messaging import deliver_and_reply
from tests.integration.test_accounts import added, enable, mark_verified, update
from tests.twilio_fixtures import account, incoming_numbers
from tests.ws_client import LEGACY_WS, GraphQLSocket, Message, open_socket

ACCOUNT_CHANGED = f"""
subscription AccountChanged {{
  smsAccountChanged {{
    kind
    previousStatus
    account {{ {ACCOUNT_FIELDS} }}
    stats {{ connected verified awaitingAction }}
  }}
}}
"""

SENDER_FIELDS = "accountId displayName provider senderId senderKind"
SENDERS_CHANGED = f"subscription SendersChanged {{ smsSendersChanged {{ {SENDER_FIELDS} }} }}"

VERIFY = """
mutation Verify($id: ID!) {
  verifySmsAccount(id: $id) { account { id status } message errors { field code message } }
}
"""

TWILIO = "https://api.twilio.com/2010-04-01"
STATS_AFTER_ONE_DRAFT = {"connected": 1, "verified": 0, "awaitingAction": 1}


async def _no_dns(host: str) -> list[str]:
    raise OSError(f"{host} does not resolve")


@dataclass
class Live:
    """The app served by uvicorn on 127.0.0.1, and an HTTP GraphQL client to the same server."""

    app: Starlette
    url: str
    api: Api

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/graphql"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @asynccontextmanager
    async def socket(self, key: str | None = None, **options: Any) -> AsyncIterator[GraphQLSocket]:
        """A graphql-transport-ws socket, acknowledged for ``key`` when one is given."""
        async with open_socket(self.ws_url, **options) as ws:
            if key is not None:
                await ws.init({"Authorization": f"Bearer {key}"})
            yield ws

    async def subscribers(self, key: str, channel: Callable[[str], str]) -> int:
        caller = await authenticate(self.services.reads, key)
        assert caller is not None
        bus = self.services.bus
        if isinstance(bus, BumpingBus):  # the response cache's versions ride on the bus
            bus = bus.inner
        assert isinstance(bus, MemoryBus | RedisBus)
        return bus.subscriber_count(channel(caller.workspace_id))

    async def listening(self, key: str, channel: Callable[[str], str], count: int = 1) -> None:
        """Wait until ``count`` subscriptions of ``key``'s workspace listen on ``channel``: the
        protocol acknowledges no subscription, so a test asks the server's bus before it makes
        the change it expects to hear about."""
        deadline = time.monotonic() + 5
        while await self.subscribers(key, channel) != count:
            assert time.monotonic() < deadline, f"{count} subscription(s) never listened"
            await asyncio.sleep(0.005)

    async def subscribed(
        self, ws: GraphQLSocket, key: str, query: str, channel: Callable[[str], str]
    ) -> str:
        """Subscribe on ``ws`` and wait until the server listens; the operation id."""
        before = await self.subscribers(key, channel)
        operation_id = await ws.subscribe(query)
        await self.listening(key, channel, before + 1)
        return operation_id


Serve = Callable[..., AbstractAsyncContextManager[Live]]


@pytest.fixture
def serve(settings_factory: Callable[..., Settings], twilio: respx.Router) -> Serve:
    """``async with serve(**settings) as live``: the app of ``create_app`` on a real port, with
    Twilio answered by the ``twilio`` router (as ``make_api`` builds it)."""

    @asynccontextmanager
    async def start(*, send_buffer: int | None = None, **overrides: Any) -> AsyncIterator[Live]:
        overrides.setdefault("retry_base_seconds", 0.01)
        app = create_app(
            settings_factory(**overrides),
            twilio_transport=httpx.MockTransport(twilio.async_handler),
            resolver=_no_dns,
        )
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on such sockets, and without it
        # every response waits 40 ms for a delayed ACK.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        if send_buffer is not None:  # the connections it accepts inherit it
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if task.done():
                    task.result()
                    raise AssertionError("uvicorn stopped before it started")
                assert time.monotonic() < deadline, "uvicorn did not start"
                await asyncio.sleep(0.01)
            url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=10) as http:
                yield Live(app, url, Api(http, app))
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
            listener.close()

    return start


def answer_verification(twilio: respx.Router) -> None:
    """Twilio says: the account is active and the numbers are in it, SMS capable."""
    twilio.get(f"{TWILIO}/Accounts/{ACCOUNT_SID}.json").respond(200, json=account())
    twilio.get(f"{TWILIO}/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json").respond(
        200, json=incoming_numbers((PHONE, True), (phone(1), True))
    )


async def verify(api: Api, key: str, account_id: str) -> None:
    started = (await api.data(key, VERIFY, {"id": account_id}))["verifySmsAccount"]
    assert started["errors"] == [], started
    assert started["account"]["status"] == "VERIFYING"


async def remove(api: Api, key: str, account_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(key, REMOVE, {"id": account_id}))["removeSmsAccount"]
    assert payload["errors"] == [], payload
    return payload


async def toggle(api: Api, key: str, enabled: bool) -> None:
    await api.data(key, SET_ENABLED, {"enabled": enabled})


async def account_event(ws: GraphQLSocket, operation_id: str) -> dict[str, Any]:
    event: dict[str, Any] = (await ws.next_data(operation_id))["smsAccountChanged"]
    return event


async def sender_list(ws: GraphQLSocket, operation_id: str) -> list[dict[str, Any]]:
    senders: list[dict[str, Any]] = (await ws.next_data(operation_id))["smsSendersChanged"]
    return senders


async def picker(live: Live, key: str) -> list[dict[str, Any]]:
    """The sender picker as the smsSenders query answers it now."""
    senders: list[dict[str, Any]] = (await live.api.data(key, SENDERS))["smsSenders"]
    return senders


# --- smsAccountChanged -------------------------------------------------------------------------


async def test_account_events_arrive_in_order_over_a_real_websocket(
    serve: Serve, keys: Keys, twilio: respx.Router
) -> None:
    answer_verification(twilio)
    async with serve() as live, live.socket(keys.admin) as ws:
        await enable(live.api, keys.admin)
        op = await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)

        card = await added(live.api, keys.admin)
        event = await account_event(ws, op)
        assert event["kind"] == "ADDED"
        assert event["previousStatus"] is None
        assert event["account"] == card
        assert event["stats"] == STATS_AFTER_ONE_DRAFT

        await verify(live.api, keys.admin, card["id"])
        event = await account_event(ws, op)
        assert event["kind"] == "STATUS_CHANGED"
        assert event["previousStatus"] == "DRAFT"
        assert event["account"]["id"] == card["id"]
        assert event["account"]["status"] == "VERIFYING"
        assert event["stats"] == STATS_AFTER_ONE_DRAFT

        event = await account_event(ws, op)
        assert event["kind"] == "STATUS_CHANGED"
        assert event["previousStatus"] == "VERIFYING"
        assert event["account"]["id"] == card["id"]
        assert event["account"]["status"] == "VERIFIED"
        assert event["account"]["verifiedAt"] is not None
        assert event["account"]["trial"] is False
        assert event["stats"] == {"connected": 1, "verified": 1, "awaitingAction": 0}


async def test_edits_and_removals_are_pushed_with_the_stats_after_them(
    serve: Serve, keys: Keys, database_url: str
) -> None:
    async with serve() as live, live.socket(keys.admin) as ws:
        await enable(live.api, keys.admin)
        card = await added(live.api, keys.admin)
        await mark_verified(database_url, card["id"])
        op = await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)

        renamed = await update(live.api, keys.admin, card["id"], displayName="Ops line")
        event = await account_event(ws, op)
        assert event["kind"] == "UPDATED"
        assert event["account"] == renamed["account"]
        assert event["account"]["status"] == "VERIFIED"
        assert event["stats"] == {"connected": 1, "verified": 1, "awaitingAction": 0}

        new_token = await update(live.api, keys.admin, card["id"], authToken="n3wT0ken" * 4)
        event = await account_event(ws, op)
        assert event["kind"] == "STATUS_CHANGED"
        assert event["previousStatus"] == "VERIFIED"
        assert event["account"] == new_token["account"]
        assert event["account"]["status"] == "DRAFT"
        assert event["stats"] == STATS_AFTER_ONE_DRAFT

        draft_renamed = await update(live.api, keys.admin, card["id"], displayName="Ops 2")
        event = await account_event(ws, op)
        assert event["kind"] == "UPDATED"
        assert event["account"] == draft_renamed["account"]
        assert event["stats"] == STATS_AFTER_ONE_DRAFT

        # Saving the edit dialog unchanged changes nothing, so it pushes nothing: the next event
        # is the next real change.
        await update(live.api, keys.admin, card["id"], displayName="Ops 2", senderId=PHONE)
        second = await added(live.api, keys.admin, senderId=MG_SID)
        event = await account_event(ws, op)
        assert event["kind"] == "ADDED"
        assert event["account"] == second
        assert event["stats"] == {"connected": 2, "verified": 0, "awaitingAction": 2}

        removed = await remove(live.api, keys.admin, card["id"])
        event = await account_event(ws, op)
        assert event["kind"] == "REMOVED"
        assert event["account"]["id"] == card["id"]
        assert event["account"] == removed["account"]
        assert event["stats"] == STATS_AFTER_ONE_DRAFT


# --- smsSendersChanged -------------------------------------------------------------------------


async def test_the_sender_picker_is_pushed_whole_whenever_it_changes(
    serve: Serve, keys: Keys, twilio: respx.Router
) -> None:
    answer_verification(twilio)
    async with serve() as live, live.socket(keys.marketer) as ws:
        api = live.api
        await enable(api, keys.admin)
        op = await live.subscribed(ws, keys.marketer, SENDERS_CHANGED, senders_channel)

        # Drafts are not in the picker: adding and editing one pushes nothing, so the first list
        # the marketer receives is the one of the verification below.
        draft = await added(api, keys.admin, displayName="Alpha", senderId=phone(1))
        await update(api, keys.admin, draft["id"], displayName="Alpha draft")
        bravo = await added(api, keys.admin, displayName="Bravo")
        await verify(api, keys.admin, bravo["id"])
        pushed = await sender_list(ws, op)
        assert [sender["accountId"] for sender in pushed] == [bravo["id"]]
        assert pushed == [
            {
                "accountId": bravo["id"],
                "displayName": "Bravo",
                "provider": "TWILIO",
                "senderId": PHONE,
                "senderKind": "PHONE_NUMBER",
            }
        ]
        assert pushed == await picker(live, keys.marketer)

        await update(api, keys.admin, bravo["id"], displayName="Charlie")
        pushed = await sender_list(ws, op)
        assert [sender["displayName"] for sender in pushed] == ["Charlie"]
        assert pushed == await picker(live, keys.marketer)

        another = await added(api, keys.admin, displayName="Delta draft", senderId=MG_SID)
        await update(api, keys.admin, another["id"], displayName="Delta draft 2")
        await toggle(api, keys.admin, False)
        assert await sender_list(ws, op) == []
        await toggle(api, keys.admin, True)
        pushed = await sender_list(ws, op)
        assert [sender["displayName"] for sender in pushed] == ["Charlie"]
        assert pushed == await picker(live, keys.marketer)

        await verify(api, keys.admin, draft["id"])
        pushed = await sender_list(ws, op)
        assert [sender["displayName"] for sender in pushed] == ["Alpha draft", "Charlie"]
        assert pushed == await picker(live, keys.marketer)

        # A credential change returns the account to Draft: it leaves the picker.
        await update(api, keys.admin, draft["id"], authToken="n3wT0ken" * 4)
        pushed = await sender_list(ws, op)
        assert [sender["displayName"] for sender in pushed] == ["Charlie"]

        await remove(api, keys.admin, bravo["id"])
        assert await sender_list(ws, op) == []
        assert await picker(live, keys.marketer) == []


# --- who may listen ----------------------------------------------------------------------------


BAD_PAYLOADS: list[tuple[str, Message | None]] = [
    ("no payload", None),
    ("empty payload", {}),
    ("empty header", {"Authorization": ""}),
    ("bearer without key", {"Authorization": "Bearer"}),
    ("unknown key", {"Authorization": "Bearer sms_00000000_not-a-key-anybody-was-given"}),
    ("malformed key", {"Authorization": "Bearer not-even-the-shape-of-a-key"}),
    ("not a string", {"Authorization": 42}),
    ("a list", {"authorization": ["Bearer", "sms_x"]}),
]


async def test_a_missing_bad_or_revoked_key_closes_the_socket_with_4403(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live:
        issued = await create_api_key(live.services.writes, "acme", Role.ADMIN)
        async with live.socket(issued.key):  # acknowledged while the key is live
            pass
        await revoke_api_key(live.services.writes, issued.prefix)
        refused = [
            *BAD_PAYLOADS,
            ("key without its Bearer scheme", {"Authorization": keys.admin}),
            ("revoked key", {"Authorization": f"Bearer {issued.key}"}),
        ]
        for name, payload in refused:
            async with live.socket() as ws:
                message: Message = {"type": "connection_init"}
                if payload is not None:
                    message["payload"] = payload
                await ws.send(message)
                assert await ws.close_code() == 4403, name
        assert await live.subscribers(keys.admin, accounts_channel) == 0


async def test_subscribing_before_connection_init_closes_the_socket_with_4401(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live, live.socket() as ws:
        await ws.subscribe(ACCOUNT_CHANGED)
        assert await ws.close_code() == 4401
        assert await live.subscribers(keys.admin, accounts_channel) == 0


async def test_a_role_that_may_not_subscribe_gets_forbidden(serve: Serve, keys: Keys) -> None:
    refused = [
        (Role.SALES, ACCOUNT_CHANGED, accounts_channel),
        (Role.MARKETER, ACCOUNT_CHANGED, accounts_channel),
        (Role.SALES, SENDERS_CHANGED, senders_channel),
    ]
    async with serve() as live:
        for role, query, channel in refused:
            async with live.socket(keys.of(role)) as ws:
                operation_id = await ws.subscribe(query)
                message = await ws.receive()
                assert message["type"] == "error", (role, message)
                assert message["id"] == operation_id
                codes = [error["extensions"]["code"] for error in message["payload"]]
                assert codes == ["FORBIDDEN"], (role, message)
                assert await live.subscribers(keys.admin, channel) == 0
                # Only the operation was refused: the socket stays usable.
                await ws.send({"type": "ping"})
                assert (await ws.receive())["type"] == "pong"


async def test_the_legacy_graphql_ws_protocol_works_for_a_valid_key(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live, open_socket(live.ws_url, protocol=LEGACY_WS) as ws:
        await ws.init({"Authorization": f"Bearer {keys.admin}"})
        await enable(live.api, keys.admin)
        op = await ws.start(ACCOUNT_CHANGED)
        await live.listening(keys.admin, accounts_channel)

        card = await added(live.api, keys.admin)
        event = (await ws.legacy_data(op))["smsAccountChanged"]
        assert event["kind"] == "ADDED"
        assert event["account"] == card
        assert event["stats"] == STATS_AFTER_ONE_DRAFT

        await ws.stop(op)
        message = await ws.receive()
        assert message == {"type": "complete", "id": op}
        await live.listening(keys.admin, accounts_channel, 0)


async def test_the_legacy_protocol_refuses_a_bad_key_too(serve: Serve, keys: Keys) -> None:
    async with serve() as live, open_socket(live.ws_url, protocol=LEGACY_WS) as ws:
        await ws.send({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        message = await ws.receive()
        assert message["type"] == "connection_error", message
        assert await ws.close_code() is not None
        assert await live.subscribers(keys.admin, accounts_channel) == 0


async def test_completing_or_closing_stops_listening(serve: Serve, keys: Keys) -> None:
    async with serve() as live:
        async with live.socket(keys.admin) as ws:
            op = await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)
            await live.subscribed(ws, keys.admin, SENDERS_CHANGED, senders_channel)
            await ws.complete(op)
            await live.listening(keys.admin, accounts_channel, 0)
            assert await live.subscribers(keys.admin, senders_channel) == 1
        await live.listening(keys.admin, senders_channel, 0)


# --- workspaces and origins --------------------------------------------------------------------


async def test_a_workspace_hears_nothing_of_another_workspaces_changes(
    serve: Serve, keys: Keys, other_keys: Keys, database_url: str
) -> None:
    async with serve() as live:
        api = live.api
        await enable(api, keys.admin)
        mine = await added(api, keys.admin, displayName="Acme line")
        await mark_verified(database_url, mine["id"])
        await enable(api, other_keys.admin)
        theirs = await added(api, other_keys.admin, displayName="Globex line")
        await mark_verified(database_url, theirs["id"])
        async with (
            live.socket(keys.admin) as acme,
            live.socket(other_keys.admin) as globex,
            live.socket(other_keys.marketer) as globex_picker,
        ):
            acme_op = await live.subscribed(acme, keys.admin, ACCOUNT_CHANGED, accounts_channel)
            globex_op = await live.subscribed(
                globex, other_keys.admin, ACCOUNT_CHANGED, accounts_channel
            )
            picker_op = await live.subscribed(
                globex_picker, other_keys.marketer, SENDERS_CHANGED, senders_channel
            )

            # Every kind of acme change, accounts and picker alike.
            draft = await added(api, keys.admin, senderId=MG_SID)
            await update(api, keys.admin, mine["id"], displayName="Acme renamed")
            await toggle(api, keys.admin, False)
            await toggle(api, keys.admin, True)
            await remove(api, keys.admin, draft["id"])
            assert (await account_event(acme, acme_op))["account"]["id"] == draft["id"]

            # globex's first events are its own.
            renamed = await update(api, other_keys.admin, theirs["id"], displayName="Globex 2")
            event = await account_event(globex, globex_op)
            assert event["kind"] == "UPDATED"
            assert event["account"] == renamed["account"]
            assert event["stats"] == {"connected": 1, "verified": 1, "awaitingAction": 0}
            assert await sender_list(globex_picker, picker_op) == [
                {
                    "accountId": theirs["id"],
                    "displayName": "Globex 2",
                    "provider": "TWILIO",
                    "senderId": PHONE,
                    "senderKind": "PHONE_NUMBER",
                }
            ]


EVIL = "https://evil.example"
APP = "https://app.example"


async def _handshake_status(live: Live, origin: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(live.ws_url, origin=origin):
            pass
    status: int = refused.value.response.status_code
    return status


async def test_a_cross_origin_browser_handshake_is_refused(serve: Serve, keys: Keys) -> None:
    async with serve() as live:
        assert await _handshake_status(live, EVIL) == 403
        assert await _handshake_status(live, APP) == 403
        # Non-browser clients send no Origin; a page of the server's own origin may connect.
        for origin in (None, live.url):
            async with open_socket(live.ws_url, origin=origin) as ws:
                await ws.init({"Authorization": f"Bearer {keys.admin}"})


async def test_allowed_origins_let_that_origin_in(serve: Serve, keys: Keys) -> None:
    async with serve(allowed_origins=APP) as live:
        async with open_socket(live.ws_url, origin=APP) as ws:
            await ws.init({"Authorization": f"Bearer {keys.admin}"})
            await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)
        assert await _handshake_status(live, EVIL) == 403
        async with open_socket(live.ws_url) as ws:
            await ws.init({"Authorization": f"Bearer {keys.admin}"})


async def test_development_lets_pages_on_this_machine_in_and_production_does_not(
    serve: Serve, keys: Keys
) -> None:
    vite = "http://127.0.0.1:5173"
    async with serve() as live, open_socket(live.ws_url, origin=vite) as ws:
        await ws.init({"Authorization": f"Bearer {keys.admin}"})
    async with serve(env="production") as live:
        assert await _handshake_status(live, vite) == 403


# --- slow subscribers --------------------------------------------------------------------------

# A client that does not read only backs events up on the server once the socket between them is
# full. Small socket buffers and big messages (a long display name asked many times under aliases)
# fill it within a few events; the queue of 2 then overflows well within BURST events.
BURST = 12


def padding(aliases: int) -> str:
    return " ".join(f"pad{i}: displayName" for i in range(aliases))


FAT_ACCOUNT_CHANGED = (
    f"subscription {{ smsAccountChanged {{ kind account {{ id {padding(300)} }} }} }}"
)
FAT_SENDERS_CHANGED = f"subscription {{ smsSendersChanged {{ {SENDER_FIELDS} {padding(150)} }} }}"
SMALL_BUFFER = 4096
# The fat documents alias one field hundreds of times to make big messages.
FAT = {"subscriber_queue_size": 2, "send_buffer": SMALL_BUFFER, "max_aliases": 300}


@asynccontextmanager
async def slow_reader(live: Live, key: str) -> AsyncIterator[GraphQLSocket]:
    """A socket whose client stops reading: ``websockets`` pauses it as soon as one message waits
    unread, and its receive buffer is small."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    client.setblocking(False)
    await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", live.port))
    async with live.socket(key, sock=client, max_queue=1) as ws:
        yield ws


def long_name(text: str) -> str:
    """A display name of the longest length allowed, to make big messages."""
    return f"{text} ".ljust(100, "x")


ZULU = long_name("Zulu")


def strip(senders: list[Message]) -> list[Message]:
    """A list of FAT_SENDERS_CHANGED without its padding."""
    return [{name: sender[name] for name in SENDER_FIELDS.split()} for sender in senders]


async def test_a_slow_account_subscriber_is_ended_with_an_error(serve: Serve, keys: Keys) -> None:
    async with serve(**FAT) as live:
        await enable(live.api, keys.admin)
        async with slow_reader(live, keys.admin) as ws:
            op = await live.subscribed(ws, keys.admin, FAT_ACCOUNT_CHANGED, accounts_channel)
            ids = [
                (await burst_card(live.api, keys.admin, number))["id"] for number in range(BURST)
            ]

            delivered, errors = await read_until_error(ws, op)

            assert delivered == ids[: len(delivered)], "the events before the overflow, in order"
            assert len(delivered) < BURST - 2, "the queue of 2 never overflowed"
            assert errors
            await live.listening(keys.admin, accounts_channel, 0)
            # The socket outlives the subscription: the client can subscribe again.
            again = await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)
            card = await added(live.api, keys.admin)
            assert (await account_event(ws, again))["account"] == card


async def test_the_error_of_a_slow_account_subscriber_tells_it_to_refetch(
    serve: Serve, keys: Keys
) -> None:
    async with serve(**FAT) as live:
        await enable(live.api, keys.admin)
        async with slow_reader(live, keys.admin) as ws:
            op = await live.subscribed(ws, keys.admin, FAT_ACCOUNT_CHANGED, accounts_channel)
            for number in range(BURST):
                await burst_card(live.api, keys.admin, number)

            _, errors = await read_until_error(ws, op)

            assert len(errors) == 1
            assert "refetch" in errors[0]["message"], errors
            assert errors[0]["extensions"]["code"] == "RESYNC_REQUIRED"


async def burst_card(api: Api, key: str, number: int) -> dict[str, Any]:
    return await added(api, key, displayName=long_name(f"Burst {number}"), senderId=phone(number))


async def read_until_error(ws: GraphQLSocket, op: str) -> tuple[list[str], list[Message]]:
    """Read a slow account subscription to its end: the ids of the events it got, then the
    errors of its last message, which ``complete`` must follow."""
    delivered: list[str] = []
    while "errors" not in (payload := await ws.next_payload(op)):
        delivered.append(payload["data"]["smsAccountChanged"]["account"]["id"])
    assert payload["data"] is None
    assert (await ws.receive()) == {"id": op, "type": "complete"}
    errors: list[Message] = payload["errors"]
    return delivered, errors


async def test_a_slow_sender_subscriber_is_resynced_with_the_current_list(
    serve: Serve, keys: Keys, database_url: str
) -> None:
    async with serve(**FAT) as live:
        api = live.api
        await enable(api, keys.admin)
        first = await added(api, keys.admin, displayName=long_name("Burst 00"))
        second = await added(api, keys.admin, displayName=ZULU, senderId=MG_SID)
        for card in (first, second):
            await mark_verified(database_url, card["id"])
        async with slow_reader(live, keys.marketer) as ws:
            op = await live.subscribed(ws, keys.marketer, FAT_SENDERS_CHANGED, senders_channel)
            names = [long_name(f"Burst {number:02d}") for number in range(1, BURST + 1)]
            for name in names:
                await update(api, keys.admin, first["id"], displayName=name)
            current = await picker(live, keys.marketer)
            assert [sender["displayName"] for sender in current] == [names[-1], ZULU]

            # The lists sent before the socket filled up, in order, then the current one.
            received = [strip(await sender_list(ws, op))]
            while received[-1][0]["displayName"] == names[len(received) - 1]:
                assert len(received) < BURST, "every list arrived: the queue never overflowed"
                received.append(strip(await sender_list(ws, op)))
            assert len(received) - 1 < BURST - 2, "the queue of 2 never overflowed"
            assert received[-1] == current

            # The subscription goes on: the next change arrives, after whatever was queued.
            await update(api, keys.admin, first["id"], displayName="Sentinel")
            while (pushed := await sender_list(ws, op))[0]["displayName"] != "Sentinel":
                assert strip(pushed)[0]["accountId"] == first["id"]
            assert strip(pushed) == await picker(live, keys.marketer)


async def test_revoking_a_key_closes_its_open_socket(serve: Serve) -> None:
    async with serve(key_recheck_seconds=0.1) as live:
        issued = await create_api_key(live.services.writes, "acme", Role.ADMIN)
        async with live.socket(issued.key) as ws:
            await live.subscribed(ws, issued.key, ACCOUNT_CHANGED, accounts_channel)
            await revoke_api_key(live.services.writes, issued.prefix)
            assert await ws.close_code() == 4403


MESSAGE_UPDATED = "subscription { smsMessageUpdated { id direction from body status } }"


async def test_replies_and_delivery_reports_are_pushed_live_to_every_role(
    serve: Serve, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    async with (
        serve(public_url="https://sms.example.com") as live,
        live.socket(keys.sales) as ws,
        live.socket(other_keys.sales) as other,
    ):
        await enable(live.api, other_keys.admin)
        mine = await live.subscribed(ws, keys.sales, MESSAGE_UPDATED, messages_channel)
        theirs = await live.subscribed(other, other_keys.sales, MESSAGE_UPDATED, messages_channel)
        sent_id = await deliver_and_reply(live.api, keys, twilio)

        pushed = [(await ws.next_data(mine))["smsMessageUpdated"] for _ in range(3)]
        assert [(m["direction"], m["status"]) for m in pushed] == [
            ("OUTBOUND", "QUEUED"),
            ("OUTBOUND", "DELIVERED"),
            ("INBOUND", "RECEIVED"),
        ]
        assert pushed[0]["id"] == pushed[1]["id"] == sent_id
        assert pushed[2]["body"] == "Thanks!"

        their_id = await deliver_and_reply(live.api, other_keys, twilio, body="theirs")
        first_of_theirs = (await other.next_data(theirs))["smsMessageUpdated"]
        assert first_of_theirs["id"] == their_id  # nothing of the first workspace came before


async def test_a_websocket_message_over_64_kib_closes_the_socket_with_1009(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live:
        async with live.socket(keys.admin) as ws:
            fits = json.dumps({"type": "ping", "payload": {"pad": "x" * (64 * 1024 - 40)}})
            assert len(fits) <= 64 * 1024
            await ws.connection.send(fits)
            assert (await ws.receive())["type"] == "pong"

            await ws.connection.send(json.dumps({"type": "ping", "payload": {"pad": "x" * 65_536}}))
            assert await ws.close_code() == 1009
        async with live.socket(keys.admin) as ws:
            # 30,000 characters, 90,000 bytes: the limit counts bytes.
            await ws.connection.send(
                json.dumps({"type": "ping", "payload": {"pad": "€" * 30_000}}, ensure_ascii=False)
            )
            assert await ws.close_code() == 1009


async def test_a_connection_holds_at_most_twenty_subscriptions(serve: Serve, keys: Keys) -> None:
    async with serve() as live, live.socket(keys.admin) as ws:
        for n in range(20):
            # Distinct operation names: identical subscriptions would share one bus listener.
            named = ACCOUNT_CHANGED.replace("n AccountChanged", f"n AccountChanged{n}")
            await live.subscribed(ws, keys.admin, named, accounts_channel)

        extra = await ws.subscribe(ACCOUNT_CHANGED)
        refused = await ws.receive()

        assert refused["type"] == "error"
        assert refused["id"] == extra
        assert refused["payload"][0]["message"] == "Subscription limit reached"
        # The socket itself stays open: a ping is still answered.
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


async def test_too_many_failed_websocket_keys_close_with_4429(serve: Serve, keys: Keys) -> None:
    bad = {"Authorization": "Bearer sms_00000000_not-a-key"}
    async with serve(auth_failures_per_second=2) as live:
        codes = []
        for _ in range(3):
            async with live.socket() as ws:
                await ws.send({"type": "connection_init", "payload": bad})
                codes.append(await ws.close_code())
        async with live.socket(keys.admin) as ws:  # a live key still connects
            await ws.send({"type": "ping"})
            assert (await ws.receive())["type"] == "pong"

    assert codes == [4403, 4403, 4429]


# --- shared fan-out: one execution per event and shape ------------------------------------------

MEMBERS = 5


async def test_identical_subscriptions_listen_once_and_all_receive_each_event(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live, AsyncExitStack() as stack:
        await enable(live.api, keys.admin)
        sockets = [await stack.enter_async_context(live.socket(keys.admin)) for _ in range(MEMBERS)]
        first = await live.subscribed(sockets[0], keys.admin, ACCOUNT_CHANGED, accounts_channel)
        others = [await ws.subscribe(ACCOUNT_CHANGED) for ws in sockets[1:]]
        await asyncio.sleep(0.2)  # the others joined the group: still one listener on the bus
        await live.listening(keys.admin, accounts_channel, 1)

        account = await added(live.api, keys.admin, displayName="Shared")

        payloads = [
            await ws.next_data(op) for ws, op in zip(sockets, [first, *others], strict=True)
        ]
        assert all(p == payloads[0] for p in payloads)
        assert payloads[0]["smsAccountChanged"]["account"]["id"] == account["id"]


async def test_roles_and_documents_do_not_share_and_the_group_ends_with_its_last_member(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live:
        await enable(live.api, keys.admin)
        async with live.socket(keys.admin) as admin, live.socket(keys.marketer) as marketer:
            await live.subscribed(admin, keys.admin, SENDERS_CHANGED, senders_channel)
            await live.subscribed(marketer, keys.marketer, SENDERS_CHANGED, senders_channel)
            await live.listening(keys.admin, senders_channel, 2)
        await live.listening(keys.admin, senders_channel, 0)
