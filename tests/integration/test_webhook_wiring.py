"""Webhooks wired on Verify, through GraphQL, against the Twilio double (each request checked
against Twilio's OpenAPI description first): the number's SmsUrl or the Messaging Service's
InboundRequestUrl pointed at the account's inbound URL, put back exactly as it was, never
clobbering what the customer changed since, and every failure said in a sentence while the
account stays verified."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import respx

from providers.sms.twilio.standin_fixtures import pn_sid
from resolvers.events import accounts_channel
from tests.conftest import MG_SID, PHONE, Api, Keys, account_input
from tests.integration.live import Serve
from tests.integration.steps import enable, verify
from tests.integration.wiring import (
    ADD_WIRED,
    UPDATE_WIRED,
    WEBHOOKS,
    TwilioBehindRouter,
    settled,
)
from tests.twilio_double import TwilioDouble

PUBLIC_URL = "https://sms.example.com"
CRM = "https://crm.example.com/sms"
APPLICATION = "AP" + "2" * 32
NUMBER_PATH = f"/2010-04-01/Accounts/{'AC' + '0123456789abcdef' * 2}/IncomingPhoneNumbers"


@pytest.fixture
def twilio_double(twilio: respx.Router) -> TwilioBehindRouter:
    """The double answers Twilio; the number points at the customer's CRM through an SMS
    application, the Messaging Service leaves inbound to its numbers."""
    double = TwilioDouble()
    form = [("SmsUrl", CRM), ("SmsMethod", "GET"), ("SmsApplicationSid", APPLICATION)]
    assert double.account.update_number(pn_sid(PHONE), form) is not None
    return TwilioBehindRouter(twilio, double)


async def add(api: Api, key: str, **overrides: Any) -> dict[str, Any]:
    payload = await api.data(key, ADD_WIRED, {"input": account_input(**overrides)})
    assert payload["addSmsAccount"]["errors"] == []
    account: dict[str, Any] = payload["addSmsAccount"]["account"]
    return account


async def update(api: Api, key: str, account_id: str, **fields: Any) -> dict[str, Any]:
    answer = await api.data(key, UPDATE_WIRED, {"id": account_id, "input": fields})
    payload: dict[str, Any] = answer["updateSmsAccount"]
    assert payload["errors"] == []
    return payload


async def verified(api: Api, key: str, **overrides: Any) -> dict[str, Any]:
    """An account added (wireWebhooks as given) and verified, once everything settled."""
    await enable(api, key)
    account = await add(api, key, **overrides)
    assert (await verify(api, key, account["id"]))["errors"] == []
    return await settled(api, key, account["id"])


def number(twilio_double: TwilioBehindRouter) -> tuple[Any, Any, Any]:
    found = twilio_double.double.incoming_number(PHONE)
    return found["sms_url"], found["sms_method"], found["sms_application_sid"]


def service(twilio_double: TwilioBehindRouter) -> tuple[Any, Any, Any]:
    found = twilio_double.double.account.service(MG_SID)
    assert found is not None
    return (
        found["inbound_request_url"] or None,  # cleared: Twilio's empty value
        found["inbound_method"],
        found["use_inbound_webhook_on_number"],
    )


async def test_verify_points_the_number_at_the_inbound_url_and_remembers_what_was_there(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin, wireWebhooks=True)

    ours = shown["inboundWebhookUrl"]
    assert shown["status"] == "VERIFIED"
    assert shown["webhooks"]["status"] == "WIRED"
    assert (shown["webhooks"]["inboundUrl"], shown["webhooks"]["previousInboundUrl"]) == (ours, CRM)
    assert number(twilio_double) == (ours, "POST", "")
    [(host, path, form)] = twilio_double.posts
    assert (host, path) == ("api.twilio.com", f"{NUMBER_PATH}/{pn_sid(PHONE)}.json")
    assert form == {"SmsUrl": ours, "SmsMethod": "POST", "SmsApplicationSid": ""}


async def test_a_sender_change_puts_back_the_number_exactly_and_waits_for_the_next_verify(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin, wireWebhooks=True)
        await update(api, keys.admin, shown["id"], senderId=MG_SID)
        after = await settled(api, keys.admin, shown["id"])

    assert number(twilio_double) == (CRM, "GET", APPLICATION)
    assert after["webhooks"]["status"] == "PENDING"
    assert after["webhooks"]["message"] == f"Put back what {PHONE} pointed at before: {CRM}."
    assert after["webhooks"]["previousInboundUrl"] is None


async def test_a_messaging_service_is_wired_on_the_messaging_host_and_put_back(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    before = service(twilio_double)
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin, senderId=MG_SID, wireWebhooks=True)
        wired = service(twilio_double)
        await update(api, keys.admin, shown["id"], wireWebhooks=False)
        after = await settled(api, keys.admin, shown["id"])

    assert shown["webhooks"]["status"] == "WIRED"
    assert wired == (shown["inboundWebhookUrl"], "POST", False)
    assert service(twilio_double) == before
    assert after["webhooks"]["status"] == "OFF"
    hosts = {host for host, path, _ in twilio_double.posts if path.startswith("/v1/Services/")}
    assert hosts == {"messaging.twilio.com"}
    assert twilio_double.posts[0][2] == {
        "InboundRequestUrl": shown["inboundWebhookUrl"],
        "InboundMethod": "POST",
        "UseInboundWebhookOnNumber": "false",
    }


async def test_a_url_the_customer_changed_since_is_left_alone_and_the_card_says_so(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    theirs = "https://helpdesk.example.com/sms"
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin, wireWebhooks=True)
        twilio_double.double.account.update_number(pn_sid(PHONE), [("SmsUrl", theirs)])
        await update(api, keys.admin, shown["id"], wireWebhooks=False)
        after = await settled(api, keys.admin, shown["id"])

    assert number(twilio_double)[0] == theirs
    assert len(twilio_double.posts) == 1  # the wiring's, nothing since
    assert after["webhooks"]["status"] == "OFF"
    assert after["webhooks"]["message"].startswith(f"Left {PHONE} alone")


async def test_removing_the_account_puts_back_the_number(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin, wireWebhooks=True)
        removed = await api.data(
            keys.admin,
            "mutation R($id: ID!) { removeSmsAccount(id: $id) { message } }",
            {"id": shown["id"]},
        )
        await api.runtime.wirer.wait_idle()

    assert removed["removeSmsAccount"]["message"] == "SMS Account removed"
    assert number(twilio_double) == (CRM, "GET", APPLICATION)


def refuse_updates(status: int) -> Callable[[TwilioBehindRouter], None]:
    def apply(twilio_double: TwilioBehindRouter) -> None:
        twilio_double.double.refuse_updates = status

    return apply


def fail_updates(twilio_double: TwilioBehindRouter) -> None:
    twilio_double.double.failing_updates = 4  # every try of the update's budget


def cut_off(twilio_double: TwilioBehindRouter) -> None:
    twilio_double.unreachable = True


def release_number(twilio_double: TwilioBehindRouter) -> None:
    twilio_double.double.account.release_number(PHONE)


def drop_sms(twilio_double: TwilioBehindRouter) -> None:
    twilio_double.double.account.set_sms_capable(PHONE, False)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (refuse_updates(403), "did not let these credentials change"),
        (refuse_updates(401), "did not let these credentials change"),
        (fail_updates, "could not be reached"),
        (cut_off, "could not be reached"),
        (release_number, "not an SMS sender of this Twilio account"),
        (drop_sms, "cannot send or receive SMS"),
    ],
    ids=["forbidden", "unauthenticated", "5xx", "unreachable", "released", "no-sms"],
)
async def test_a_wiring_twilio_refuses_fails_alone_with_what_to_do_and_the_account_stays_verified(
    make_api: Callable[..., Any],
    keys: Keys,
    twilio_double: TwilioBehindRouter,
    fault: Callable[[TwilioBehindRouter], None],
    says: str,
) -> None:
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin)
        fault(twilio_double)
        await update(api, keys.admin, shown["id"], wireWebhooks=True)  # wired at once
        after = await settled(api, keys.admin, shown["id"])

    assert (after["status"], after["failure"]) == ("VERIFIED", None)
    assert after["webhooks"]["status"] == "FAILED"
    assert says in after["webhooks"]["message"]
    assert "paste the inboundWebhookUrl by hand" in after["webhooks"]["message"]


async def test_an_update_twilio_fails_is_tried_at_most_four_times(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    twilio_double.double.failing_updates = 3
    async with make_api(public_url=PUBLIC_URL) as api:
        shown = await verified(api, keys.admin, wireWebhooks=True)
        twilio_double.double.failing_updates = 4
        await update(api, keys.admin, shown["id"], senderId=MG_SID)  # the put-back fails
        after = await settled(api, keys.admin, shown["id"])

    number_posts = [path for _, path, _ in twilio_double.posts if path.startswith(NUMBER_PATH)]
    assert shown["webhooks"]["status"] == "WIRED"  # the fourth try of the wiring went through
    assert len(number_posts) == 4 + 4
    assert after["webhooks"]["message"].startswith("Not put back")
    assert f"back at {CRM} by hand" in after["webhooks"]["message"]


async def test_without_a_public_address_nothing_is_asked_of_twilio_and_the_card_says_why(
    make_api: Callable[..., Any], keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    async with make_api() as api:
        shown = await verified(api, keys.admin, wireWebhooks=True)

    assert shown["webhooks"]["status"] == "FAILED"
    assert (
        "this server does not know its public address (SMS_PUBLIC_URL)"
        in (shown["webhooks"]["message"])
    )
    assert twilio_double.posts == []


async def test_the_wiring_is_pushed_as_its_own_updated_event(
    serve: Serve, keys: Keys, twilio_double: TwilioBehindRouter
) -> None:
    subscription = (
        f"subscription {{ smsAccountChanged {{ kind account {{ id status {WEBHOOKS} }} }} }}"
    )
    async with serve(public_url=PUBLIC_URL) as live, live.socket(keys.admin) as ws:
        await enable(live.api, keys.admin)
        operation = await live.subscribed(ws, keys.admin, subscription, accounts_channel)
        account = await add(live.api, keys.admin, wireWebhooks=True)
        await verify(live.api, keys.admin, account["id"])

        events = [(await ws.next_data(operation))["smsAccountChanged"] for _ in range(4)]

    seen = [(e["kind"], e["account"]["status"], e["account"]["webhooks"]["status"]) for e in events]
    assert seen == [
        ("ADDED", "DRAFT", "PENDING"),
        ("STATUS_CHANGED", "VERIFYING", "PENDING"),
        ("STATUS_CHANGED", "VERIFIED", "PENDING"),
        ("UPDATED", "VERIFIED", "WIRED"),
    ]
