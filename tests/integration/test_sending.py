"""sendSms: every check before anything leaves, at most one send, and what Twilio's answer does."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from tests.conftest import MG_SID, PHONE, Api, Keys
from tests.integration.documents import ACCOUNT, SENDERS, SET_ENABLED
from tests.integration.messaging import (
    PUBLIC_URL,
    TO,
    created_message,
    send,
    twilio_sends,
    verified_account,
)
from tests.integration.steps import added, enable
from tests.twilio_fixtures import error


def form(route: respx.Route, call: int = -1) -> dict[str, list[str]]:
    return parse_qs(route.calls[call].request.content.decode())


async def test_a_message_from_a_phone_sender_is_posted_once_with_from(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        card = await verified_account(api, keys, twilio)
        route = twilio_sends(twilio, httpx.Response(201, json=created_message(segments="2")))

        result = await send(api, keys.marketer, card["id"], TO, "Hello from Acme")

    assert result["errors"] == []
    message = result["message"]
    assert message["direction"] == "OUTBOUND"
    assert message["status"] == "QUEUED"
    assert message["providerMessageId"] == "SM" + "a" * 32
    assert message["segments"] == 2
    assert (message["from"], message["to"], message["body"]) == (PHONE, TO, "Hello from Acme")
    assert route.call_count == 1
    sent = form(route)
    assert sent["To"] == [TO]
    assert sent["From"] == [PHONE]
    assert sent["Body"] == ["Hello from Acme"]
    assert "MessagingServiceSid" not in sent
    assert sent["StatusCallback"] == [
        f"{PUBLIC_URL}/webhooks/twilio/{card['id']}/status?mid={message['id']}"
    ]


async def test_a_messaging_service_sender_posts_messaging_service_sid(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio, senderId=MG_SID)
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert result["errors"] == []
    sent = form(route)
    assert sent["MessagingServiceSid"] == [MG_SID]
    assert "From" not in sent
    assert "StatusCallback" not in sent  # no SMS_PUBLIC_URL: Twilio could not reach us


@pytest.mark.parametrize(
    ("to", "body", "expected"),
    [
        ("", "hi", [("to", "REQUIRED")]),
        ("4155550100", "hi", [("to", "INVALID")]),
        ("+0155550100", "hi", [("to", "INVALID")]),
        (TO, "", [("body", "REQUIRED")]),
        (TO, "   ", [("body", "REQUIRED")]),
        (TO, "x" * 1601, [("body", "INVALID")]),
        ("nope", "", [("to", "INVALID"), ("body", "REQUIRED")]),
    ],
)
async def test_bad_fields_are_refused_before_anything_leaves(
    api: Api, keys: Keys, twilio: respx.Router, to: str, body: str, expected: list[Any]
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))

    result = await send(api, keys.admin, card["id"], to, body)

    assert result["message"] is None
    assert [(e["field"], e["code"]) for e in result["errors"]] == expected
    assert not route.called


async def test_a_1600_character_body_is_sent(api: Api, keys: Keys, twilio: respx.Router) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(201, json=created_message(segments="11")))
    assert (await send(api, keys.admin, card["id"], TO, "x" * 1600))["errors"] == []


async def test_a_draft_account_cannot_send(api: Api, keys: Keys, twilio: respx.Router) -> None:
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))
    await enable(api, keys.admin)
    card = await added(api, keys.admin)

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert [(e["field"], e["code"]) for e in result["errors"]] == [
        ("accountId", "ACCOUNT_NOT_VERIFIED")
    ]
    assert not route.called


async def test_sending_while_the_integration_is_off_is_refused(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))
    await api.data(keys.admin, SET_ENABLED, {"enabled": False})

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert [e["code"] for e in result["errors"]] == ["INTEGRATION_DISABLED"]
    assert not route.called


async def test_another_workspaces_account_is_not_found(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    await enable(api, other_keys.admin)
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))

    result = await send(api, other_keys.admin, card["id"], TO, "hi")

    assert [(e["field"], e["code"]) for e in result["errors"]] == [("accountId", "NOT_FOUND")]
    assert not route.called


async def test_sales_cannot_send(api: Api, keys: Keys) -> None:
    result = await api.run(
        keys.sales,
        'mutation { sendSms(input: {accountId: "x", to: "+1", body: "b"}) { errors { code } } }',
    )
    assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_429_is_retried_after_retry_after_and_sent_once(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(
        twilio,
        httpx.Response(429, json=error(20429, 429), headers={"Retry-After": "0"}),
        httpx.Response(201, json=created_message()),
    )

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert result["errors"] == []
    assert route.call_count == 2


@pytest.mark.parametrize(
    "reply",
    [
        httpx.ReadTimeout("no answer"),
        httpx.Response(500, json=error(20500, 500)),
        httpx.Response(503, content=b"busy"),
        httpx.RemoteProtocolError("dropped"),
    ],
    ids=["timeout", "500", "503", "dropped"],
)
async def test_an_unanswered_send_is_never_repeated_and_stays_unconfirmed(
    api: Api, keys: Keys, twilio: respx.Router, reply: Any
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(twilio, reply, httpx.Response(201, json=created_message()))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert route.call_count == 1
    assert [e["code"] for e in result["errors"]] == ["PROVIDER_UNAVAILABLE"]
    assert result["message"]["status"] == "UNCONFIRMED"
    assert result["message"]["providerMessageId"] is None


async def test_a_send_that_never_connected_is_failed_not_unconfirmed(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.ConnectError("refused"))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert [e["code"] for e in result["errors"]] == ["PROVIDER_UNAVAILABLE"]
    assert result["message"]["status"] == "FAILED"


@pytest.mark.parametrize("code", [21606, 21212, 21659, 21712])
async def test_a_gone_sender_fails_the_send_and_the_account(
    api: Api, keys: Keys, twilio: respx.Router, code: int
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(
        twilio, httpx.Response(400, json=error(code, 400, "The 'From' number is not valid"))
    )

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert [e["code"] for e in result["errors"]] == ["PROVIDER_REJECTED"]
    assert result["message"]["status"] == "FAILED"
    assert result["message"]["errorCode"] == code
    assert result["message"]["errorMessage"]
    account = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]
    assert (account["status"], account["failure"]) == ("FAILED", "INVALID_FROM_NUMBER")
    assert (await api.data(keys.marketer, SENDERS))["smsSenders"] == []


async def test_rejected_credentials_fail_the_account(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(401, json=error(20003, 401, "Authenticate")))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert result["message"]["errorCode"] == 20003
    account = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]
    assert (account["status"], account["failure"]) == ("FAILED", "INVALID_CREDENTIALS")


async def test_other_rejections_fail_only_the_message(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(400, json=error(21211, 400, "Invalid 'To' Phone Number")))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert result["message"]["errorCode"] == 21211
    assert result["message"]["errorMessage"] == "The To number is not a valid phone number."
    account = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]
    assert account["status"] == "VERIFIED"


async def test_a_stop_reply_reported_by_twilio_blocks_later_sends(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(
        twilio, httpx.Response(400, json=error(21610, 400, "Attempt to send to unsubscribed"))
    )

    first = await send(api, keys.admin, card["id"], TO, "hi")
    second = await send(api, keys.admin, card["id"], TO, "hi again")

    assert first["message"]["errorCode"] == 21610
    assert [(e["field"], e["code"]) for e in second["errors"]] == [("to", "RECIPIENT_OPTED_OUT")]
    assert route.call_count == 1
    account = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]
    assert account["status"] == "VERIFIED"
