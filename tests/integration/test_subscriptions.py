"""Live updates over a real websocket: the app of ``create_app`` served by uvicorn in this process,
and the ``websockets`` client speaking graphql-transport-ws (and the legacy graphql-ws)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import (
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from pathlib import Path
from typing import Any

import pytest
import respx
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import event
from websockets.exceptions import InvalidStatus

from domain.vocabulary import Role
from resolvers.api_keys import create_api_key, revoke_api_key
from resolvers.events import accounts_channel, senders_channel
from resolvers.messages import messages_channel
from tests.cli_process import sms_accounts
from tests.conftest import ACCOUNT_SID, MG_SID, PHONE, TEST_KEY, Api, Keys, account_input, phone
from tests.integration.documents import (
    ACCOUNTS,
    ADD,
    INTEGRATION,
    REMOVE,
    SENDERS,
    SET_ENABLED,
)
from tests.integration.live import (
    ACCOUNT_CHANGED,
    SENDER_FIELDS,
    SENDERS_CHANGED,
    Live,
    Serve,
)
from tests.integration.messaging import deliver_and_reply
from tests.integration.steps import added, enable, mark_verified, update
from tests.redis_server import RedisProcess
from tests.stored_secrets import tamper
from tests.twilio_fixtures import account, incoming_numbers
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, GraphQLSocket, Message, open_socket

VERIFY = """
mutation Verify($id: ID!) {
  verifySmsAccount(id: $id) { account { id status } message errors { field code message } }
}
"""

TWILIO = "https://api.twilio.com/2010-04-01"
STATS_AFTER_ONE_DRAFT = {"connected": 1, "verified": 0, "awaitingAction": 1}


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


async def test_accounts_the_cli_fails_are_pushed_live_through_redis(
    serve: Serve, keys: Keys, database_url: str, tmp_path: Path
) -> None:
    redis = RedisProcess(tmp_path).start()
    try:
        async with serve(broadcast_url=redis.url) as live, live.socket(keys.admin) as ws:
            await enable(live.api, keys.admin)
            card = await added(live.api, keys.admin, displayName="Promo")
            await mark_verified(database_url, card["id"])
            changes = await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)
            senders = await live.subscribed(ws, keys.admin, SENDERS_CHANGED, senders_channel)

            # No key opens the stored token any more: the operator, with the servers' own
            # settings, drops what it locked.
            await tamper(database_url, card["id"])
            forgot = await sms_accounts(
                "rotate-keys",
                "--forget-unreadable",
                env={
                    "SMS_DATABASE_URL": database_url,
                    "SMS_ENCRYPTION_KEYS": TEST_KEY,
                    "SMS_BROADCAST_URL": redis.url,
                },
                cwd=tmp_path,
            )
            assert forgot.returncode == 0, forgot.stderr

            event = await account_event(ws, changes)
            assert (event["kind"], event["previousStatus"]) == ("STATUS_CHANGED", "VERIFIED")
            assert event["account"]["id"] == card["id"]
            assert event["account"]["status"] == "FAILED"
            assert event["stats"] == {"connected": 1, "verified": 0, "awaitingAction": 1}
            assert await sender_list(ws, senders) == []
    finally:
        redis.stop()


# --- who may listen ----------------------------------------------------------------------------


# (what the client sent, the words the close reason must contain)
REFUSED_PAYLOADS: list[tuple[Message | None, str]] = [
    (None, "connection_init has no payload"),
    ({}, "connection_init has no payload"),
    ({"authToken": "sms_00000000_x"}, "No Authorization in the connection_init payload"),
    ({"Authorization": ""}, "names no key"),
    ({"Authorization": "Bearer"}, "names no key"),
    ({"Authorization": "Bearer sms_00000000_not-a-key-anybody-was-given"}, "Unknown or revoked"),
    ({"Authorization": "Bearer not-even-the-shape-of-a-key"}, "Unknown or revoked"),
    ({"Authorization": "Token sms_00000000_x"}, "lacks the Bearer scheme"),
    ({"Authorization": 42}, "must be a string"),
    ({"authorization": ["Bearer", "sms_x"]}, "must be a string"),
    ({"headers": {"Authorization": "Basic dXNlcg=="}}, "lacks the Bearer scheme"),
    ({"headers": "Authorization: Bearer sms_x"}, "No Authorization"),
]
CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, code included


async def init_refused(live: Live, payload: Message | None) -> tuple[int | None, str]:
    async with live.socket() as ws:
        message: Message = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await ws.send(message)
        return await ws.closed()


async def test_a_refused_key_closes_the_socket_with_4401_saying_what_was_wrong(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live:
        issued = await create_api_key(live.services.writes, "acme", Role.ADMIN)
        async with live.socket(issued.key):  # acknowledged while the key is live
            pass
        await revoke_api_key(live.services.writes, issued.prefix)
        refused = [
            *REFUSED_PAYLOADS,
            ({"Authorization": keys.admin}, "lacks the Bearer scheme"),
            ({"Authorization": f"Bearer {issued.key}"}, "Unknown or revoked"),
        ]
        for payload, says in refused:
            code, reason = await init_refused(live, payload)
            assert code == 4401, (payload, code)
            assert says in reason, (payload, reason)
            assert len(reason.encode()) <= CLOSE_REASON_BYTES, reason
            assert "sms_" not in reason, "a close reason never quotes a key"
        assert await live.subscribers(keys.admin, accounts_channel) == 0


async def test_the_hasura_and_apollo_headers_shape_is_accepted(serve: Serve, keys: Keys) -> None:
    async with serve() as live:
        for authorization in ("Authorization", "authorization"):
            async with live.socket() as ws:
                await ws.init({"headers": {authorization: f"Bearer {keys.admin}"}})
                await live.subscribed(ws, keys.admin, ACCOUNT_CHANGED, accounts_channel)
            await live.listening(keys.admin, accounts_channel, 0)
        async with open_socket(live.ws_url, protocol=LEGACY_WS) as legacy:
            await legacy.init({"headers": {"Authorization": f"bearer {keys.admin}"}})


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


async def test_the_legacy_protocol_refuses_a_bad_key_with_its_error_then_4401(
    serve: Serve, keys: Keys
) -> None:
    async with serve() as live:
        for payload, says in REFUSED_PAYLOADS:
            async with open_socket(live.ws_url, protocol=LEGACY_WS) as ws:
                message: Message = {"type": "connection_init"}
                if payload is not None:
                    message["payload"] = payload
                await ws.send(message)
                error = await ws.receive()
                assert error["type"] == "connection_error", error
                assert says in error["payload"]["message"], (payload, error)
                code, reason = await ws.closed()
                assert code == 4401, (payload, code)
                assert reason == error["payload"]["message"]
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


@contextmanager
def key_lookups(live: Live) -> Iterator[list[str]]:
    """The statements reading API keys that the server runs meanwhile."""
    statements: list[str] = []

    def seen(_: Any, __: Any, statement: str, *args: Any) -> None:
        if "FROM api_keys" in statement:
            statements.append(statement)

    engine = live.runtime.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


SOCKETS_OF_ONE_KEY = 20
RECHECK = 0.2
ROUNDS = 5


async def test_open_sockets_cost_one_key_lookup_per_key_and_interval_until_revoked(
    serve: Serve,
) -> None:
    async with serve(key_recheck_seconds=RECHECK) as live, AsyncExitStack() as stack:
        issued = await create_api_key(live.services.writes, "acme", Role.ADMIN)
        other = await create_api_key(live.services.writes, "acme", Role.SALES)
        sockets = [
            await stack.enter_async_context(live.socket(issued.key))
            for _ in range(SOCKETS_OF_ONE_KEY)
        ]
        bystander = await stack.enter_async_context(live.socket(other.key))
        await live.subscribed(sockets[0], issued.key, ACCOUNT_CHANGED, accounts_channel)

        with key_lookups(live) as lookups:
            await asyncio.sleep(RECHECK * ROUNDS)
        # Two keys, each looked up once a round however many sockets hold it (at most one more
        # round than fits in the window).
        assert len(lookups) <= 2 * (ROUNDS + 1), len(lookups)

        await revoke_api_key(live.services.writes, issued.prefix)  # no bus announcement
        for ws in sockets:
            code, reason = await ws.closed()
            assert code == 4403
            assert "revoked" in reason
        await bystander.send({"type": "ping"})
        assert (await bystander.receive())["type"] == "pong"


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

    assert codes == [4401, 4401, 4429]


# --- queries and mutations over websockets, with Python gql's transport ---------------------------

# gql's default websocket transport offers graphql-ws (the legacy protocol) first; asked to, it
# speaks graphql-transport-ws.
PROTOCOLS = pytest.mark.parametrize(
    ("subprotocols", "protocol"),
    [(None, LEGACY_WS), ([TRANSPORT_WS], TRANSPORT_WS)],
    ids=["gql-default-graphql-ws", "graphql-transport-ws"],
)


@asynccontextmanager
async def gql_session(
    live: Live, key: str, subprotocols: list[str] | None, protocol: str
) -> AsyncIterator[AsyncClientSession]:
    transport = WebsocketsTransport(
        url=live.ws_url,
        init_payload={"Authorization": f"Bearer {key}"},
        subprotocols=subprotocols,
        connect_args={"proxy": None},
    )
    async with Client(transport=transport) as session:
        assert transport.subprotocol == protocol
        yield session


async def run(session: AsyncClientSession, document: str, **variables: Any) -> dict[str, Any]:
    return await session.execute(GraphQLRequest(document, variable_values=variables or None))


def codes(refused: TransportQueryError) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in refused.errors or ()]


@PROTOCOLS
async def test_queries_and_mutations_run_over_websockets(
    serve: Serve, keys: Keys, subprotocols: list[str] | None, protocol: str
) -> None:
    async with serve() as live, gql_session(live, keys.admin, subprotocols, protocol) as session:
        toggled = await run(session, SET_ENABLED, enabled=True)
        assert toggled["setSmsIntegrationEnabled"]["integration"] == {"enabled": True}
        payload = (await run(session, ADD, input=account_input(displayName="Over a socket")))[
            "addSmsAccount"
        ]
        assert payload["errors"] == []

        listed = await run(session, ACCOUNTS)

        assert [node["id"] for node in listed["smsAccounts"]["nodes"]] == [payload["account"]["id"]]
        assert listed == await live.api.data(keys.admin, ACCOUNTS)  # the same answer as over HTTP


@PROTOCOLS
async def test_roles_limits_and_masking_hold_for_operations_over_websockets(
    serve: Serve, keys: Keys, subprotocols: list[str] | None, protocol: str
) -> None:
    async with (
        serve(max_aliases=2) as live,
        gql_session(live, keys.sales, subprotocols, protocol) as session,
    ):
        with pytest.raises(TransportQueryError) as forbidden:
            await run(session, SET_ENABLED, enabled=True)
        assert codes(forbidden.value) == ["FORBIDDEN"]

        aliased = " ".join(f"a{n}: smsIntegration {{ enabled }}" for n in range(3))
        with pytest.raises(TransportQueryError) as too_many:
            await run(session, f"query {{ {aliased} }}")
        assert "too many aliases" in str(too_many.value)

        with pytest.raises(TransportQueryError) as invalid:
            await run(session, SET_ENABLED, enabled="sms_quoted_secret")
        assert "$enabled" in str(invalid.value)
        assert "sms_quoted_secret" not in str(invalid.value)

        # The socket serves on after each refusal.
        assert await run(session, INTEGRATION) == {"smsIntegration": {"enabled": False}}


# --- how many sockets, for how long ------------------------------------------------------------


async def answers(ws: GraphQLSocket, protocol: str, key: str) -> None:
    """The socket is open and serves: a ping (graphql-transport-ws) or a query (legacy)."""
    if protocol == TRANSPORT_WS:
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"
    else:
        operation_id = await ws.start(INTEGRATION)
        assert "smsIntegration" in await ws.legacy_data(operation_id)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_socket_that_sends_no_connection_init_in_time_is_closed_with_4408(
    serve: Serve, keys: Keys, protocol: str
) -> None:
    async with (
        serve(ws_init_timeout_seconds=1) as live,
        open_socket(live.ws_url, protocol=protocol) as silent,
        open_socket(live.ws_url, protocol=protocol) as prompt,
    ):
        await prompt.init({"Authorization": f"Bearer {keys.admin}"})

        code, reason = await silent.closed()

        assert code == 4408
        assert "initialisation timeout" in reason
        await answers(prompt, protocol, keys.admin)  # in time: it outlives the timeout


async def test_a_legacy_socket_may_send_connection_init_only_once(serve: Serve, keys: Keys) -> None:
    async with serve() as live, open_socket(live.ws_url, protocol=LEGACY_WS) as ws:
        await ws.init({"Authorization": f"Bearer {keys.sales}"})
        # As over graphql-transport-ws: no switching keys (and roles) on an open socket.
        await ws.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {keys.admin}"}}
        )
        assert await ws.closed() == (4429, "Too many initialisation requests")


async def refused_at_once(live: Live) -> tuple[int | None, str]:
    async with open_socket(live.ws_url) as ws:
        return await ws.closed()


async def test_at_most_the_cap_of_sockets_await_connection_init_at_once(
    serve: Serve, keys: Keys
) -> None:
    async with serve(ws_max_awaiting_init=2) as live, AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_socket(live.ws_url))
        second = await stack.enter_async_context(open_socket(live.ws_url, protocol=LEGACY_WS))
        code, reason = await refused_at_once(live)
        assert code == 4429
        assert "awaiting connection_init" in reason

        await first.init({"Authorization": f"Bearer {keys.admin}"})  # no longer awaiting
        third = await stack.enter_async_context(open_socket(live.ws_url))
        await answers(third, TRANSPORT_WS, keys.admin)
        assert (await refused_at_once(live))[0] == 4429

        await second.connection.close()  # whichever side closes, the place is freed
        await live.holding(2)
        fourth = await stack.enter_async_context(open_socket(live.ws_url))
        await answers(fourth, TRANSPORT_WS, keys.admin)
        assert (await refused_at_once(live))[0] == 4429
        await answers(first, TRANSPORT_WS, keys.admin)


TOO_BIG = json.dumps({"type": "ping", "payload": {"pad": "x" * 65_536}})


async def test_an_api_key_holds_at_most_its_cap_of_sockets_however_they_end(
    serve: Serve, keys: Keys
) -> None:
    async with serve(ws_max_sockets_per_key=3) as live:
        for _ in range(2):  # the second time, exactly as many fit again
            async with AsyncExitStack() as stack:
                held = [await stack.enter_async_context(live.socket(keys.admin)) for _ in "ab"]
                legacy = await stack.enter_async_context(
                    open_socket(live.ws_url, protocol=LEGACY_WS)
                )
                await legacy.init({"Authorization": f"Bearer {keys.admin}"})

                code, reason = await init_refused(live, {"Authorization": f"Bearer {keys.admin}"})
                assert code == 4429
                assert "holds the most open websockets" in reason
                async with live.socket(keys.marketer) as other:  # other keys are not affected
                    await answers(other, TRANSPORT_WS, keys.marketer)

                await held[0].connection.send(TOO_BIG)  # the server closes it
                assert await held[0].close_code() == 1009
                held[1].connection.transport.abort()  # the network drops it
            # ...and the client closes the legacy one.
            await live.holding(0)


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


async def test_one_event_reaches_many_subscribers_with_one_serialization(
    serve: Serve, keys: Keys
) -> None:
    """The group writes each socket's frame itself from one JSON text (GET /statusz counts the
    serializations)."""
    async with serve() as live, AsyncExitStack() as stack:
        await enable(live.api, keys.admin)
        sockets = [await stack.enter_async_context(live.socket(keys.admin)) for _ in range(12)]
        operations = [
            await live.subscribed(sockets[0], keys.admin, ACCOUNT_CHANGED, accounts_channel)
        ]
        operations += [await ws.subscribe(ACCOUNT_CHANGED) for ws in sockets[1:]]
        await asyncio.sleep(0.2)  # the others joined the group
        await live.listening(keys.admin, accounts_channel, 1)
        before = (await live.api.http.get("/statusz")).json()["shared_serializations"]

        account = await added(live.api, keys.admin, displayName="Once")

        frames = [await ws.receive() for ws, op in zip(sockets, operations, strict=True)]
        after = (await live.api.http.get("/statusz")).json()["shared_serializations"]
        assert after - before == 1
        for frame, op in zip(frames, operations, strict=True):
            assert (frame["id"], frame["type"]) == (op, "next")
            assert frame["payload"] == frames[0]["payload"]
        assert frames[0]["payload"]["data"]["smsAccountChanged"]["account"]["id"] == account["id"]


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
