"""Helpers for the sending and webhook tests: a verified account, signed Twilio requests."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlencode

import httpx
import respx

from providers.sms.twilio.signature import compute_signature
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, MG_SID, PHONE, Api, Keys
from tests.integration.steps import twilio_answers, verified_card
from tests.twilio_fixtures import assert_request_matches_spec

PUBLIC_URL = "https://sms.example.com"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

SEND = """
mutation Send($input: SendSmsInput!) {
  sendSms(input: $input) {
    message {
      id accountId direction from to body status providerMessageId errorCode errorMessage
      segments createdAt updatedAt
    }
    errors { field code message }
  }
}
"""

MESSAGES = """
query Messages($accountId: ID, $direction: MessageDirection, $first: Int, $after: String) {
  smsMessages(accountId: $accountId, direction: $direction, first: $first, after: $after) {
    edges { cursor node { id direction from to body status providerMessageId errorCode } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def verified_account(
    api: Api, keys: Keys, twilio: respx.Router, **overrides: Any
) -> dict[str, Any]:
    twilio_answers(twilio)
    card = await verified_card(api, keys, **overrides)
    assert card["status"] == "VERIFIED", card
    return card


def created_message(
    sid: str = "SM" + "a" * 32, *, status: str = "queued", segments: str = "1", **extra: Any
) -> dict[str, Any]:
    """Twilio's answer to a send (the 201 of Messages.json, trimmed to what we read)."""
    return {
        "account_sid": ACCOUNT_SID,
        "sid": sid,
        "status": status,
        "num_segments": segments,
        "error_code": None,
        "error_message": None,
        "messaging_service_sid": None,
        **extra,
    }


async def send(api: Api, key: str, account_id: str, to: str, body: str) -> dict[str, Any]:
    result: dict[str, Any] = (
        await api.data(key, SEND, {"input": {"accountId": account_id, "to": to, "body": body}})
    )["sendSms"]
    return result


def signed_post(
    api: Api,
    path: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    url: str | None = None,
    signature: str | None = None,
) -> Any:
    """POST form ``params`` to ``path`` signed as Twilio signs: over the public URL."""
    signed_url = url or PUBLIC_URL + path
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = signature or compute_signature(
        signed_url, list(params.items()), token
    )
    return api.http.post(path, content=urlencode(params), headers=headers)


_sids = iter(range(1, 1_000_000))


async def deliver_and_reply(
    api: Api, keys: Keys, twilio: respx.Router, *, body: str = "Thanks!"
) -> str:
    """Verify an account, send one SMS, report it delivered and receive a reply, as Twilio
    would; the sent message's id."""
    card = await verified_account(api, keys, twilio)
    sid = f"SM{next(_sids):032x}"
    twilio.post(MESSAGES_URL).respond(201, json=created_message(sid))
    sent = await send(api, keys.marketer, card["id"], "+14155550100", "Your code is 1234")
    message_id: str = sent["message"]["id"]
    status = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    reply = {
        "MessageSid": f"SM{next(_sids):032x}",
        "From": "+14155550100",
        "To": card["senderId"],
        "Body": body,
        "AccountSid": ACCOUNT_SID,
    }
    path = f"/webhooks/twilio/{card['id']}"
    delivered = await signed_post(api, f"{path}/status?mid={message_id}", status)
    replied = await signed_post(api, f"{path}/inbound", reply)
    assert (delivered.status_code, replied.status_code) == (204, 200)
    return message_id


__all__ = ["MG_SID", "httpx"]


TO = "+14155550100"


def twilio_sends(twilio: respx.Router, *replies: Any) -> respx.Route:
    answers = list(replies)

    def answer(request: httpx.Request) -> Any:
        assert_request_matches_spec(request)
        reply = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(reply, BaseException):
            raise reply
        return reply() if callable(reply) else reply

    return twilio.post(MESSAGES_URL).mock(side_effect=answer)


SID = "SM" + "a" * 32


def status_params(status: str, sid: str = SID, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": PHONE,
        "To": TO,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def inbound_params(body: str, sid: str = "SM" + "b" * 32, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "From": TO,
        "To": PHONE,
        "Body": body,
        "NumSegments": "1",
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
        **extra,
    }


async def messages(api: Api, key: str, **variables: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(key, MESSAGES, variables))["smsMessages"]
    return result


_confirmed_sids = (f"SM{n:032x}" for n in itertools.count(1))


def twilio_accepts_sends(twilio: respx.Router, *lost: int) -> None:
    """Twilio confirms every send with a new SID, except the sends numbered in ``lost`` (from
    0), whose answer never arrives: they stay UNCONFIRMED, with no SID."""
    numbers = itertools.count()

    def answer(_: httpx.Request) -> httpx.Response:
        if next(numbers) in lost:
            raise httpx.ReadTimeout("the answer was lost")
        return httpx.Response(201, json=created_message(next(_confirmed_sids)))

    twilio.post(MESSAGES_URL).mock(side_effect=answer)


async def sent(api: Api, key: str, account_id: str, count: int) -> list[dict[str, Any]]:
    """``count`` messages sent through the account, one by one."""
    return [(await send(api, key, account_id, TO, "hi"))["message"] for _ in range(count)]
