"""MSG91 through GraphQL: its form, add, verify, send, delivery reports in each webhook version,
and the report URL's rotation. MSG91 is the fake of ``tests/msg91_double.py`` at HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import respx

from tests.conftest import Api, Keys
from tests.integration.documents import ADD, PROVIDERS, UPDATE
from tests.integration.messaging import MESSAGES, PUBLIC_URL, SEND
from tests.integration.steps import enable, verdict, verify
from tests.msg91_double import (
    API_KEY,
    ENTITY_ID,
    HEADER,
    REPORT_FORMATS,
    TEMPLATE_ID,
    FakeMsg91,
)

TO = "+919876543210"
CARD = """
  id provider senderId senderKind clientId dltEntityId route baseUrl status failure
  failureMessage inboundWebhookUrl statusWebhookUrl
"""
ADD_MSG91 = f"""
mutation Add($input: AddSmsAccountInput!) {{
  addSmsAccount(input: $input) {{ account {{ {CARD} }} errors {{ field code message }} }}
}}
"""
ROTATE = f"""
mutation Rotate($id: ID!) {{
  updateSmsAccount(id: $id, input: {{rotateStatusWebhookToken: true}}) {{
    account {{ {CARD} }} errors {{ field code message }}
  }}
}}
"""


@pytest.fixture
async def api(make_api: Any) -> AsyncIterator[Api]:
    async with make_api(public_url=PUBLIC_URL) as built:
        yield built


@pytest.fixture
def msg91(twilio: respx.Router) -> FakeMsg91:
    """MSG91 answered on the providers' router (the fixture keeps its first provider's name)."""
    return FakeMsg91().install(twilio)


def msg91_input(**overrides: Any) -> dict[str, Any]:
    return {
        "provider": "MSG91",
        "senderId": HEADER,
        "dltEntityId": ENTITY_ID,
        "authToken": API_KEY,
        **overrides,
    }


async def add_msg91(api: Api, keys: Keys, **overrides: Any) -> dict[str, Any]:
    await enable(api, keys.admin)
    payload: dict[str, Any] = (
        await api.data(keys.admin, ADD_MSG91, {"input": msg91_input(**overrides)})
    )["addSmsAccount"]
    return payload


async def verified_msg91(api: Api, keys: Keys) -> dict[str, Any]:
    card: dict[str, Any] = (await add_msg91(api, keys))["account"]
    await verify(api, keys.admin, card["id"])
    shown = await verdict(api, keys.admin, card["id"])
    assert shown["status"] == "VERIFIED", shown
    return card


async def send(api: Api, key: str, account_id: str, **extra: Any) -> dict[str, Any]:
    variables = {"input": {"accountId": account_id, "to": TO, "body": "Your OTP is 4821", **extra}}
    result: dict[str, Any] = (await api.data(key, SEND, variables))["sendSms"]
    return result


async def post_report(api: Api, url: str, version: str, request_id: str, status: int) -> int:
    media_type, body = REPORT_FORMATS[version](request_id, status)
    path = url.removeprefix(PUBLIC_URL)
    response = await api.http.post(path, content=body, headers={"content-type": media_type})
    return response.status_code


async def message_status(api: Api, keys: Keys, message_id: str) -> tuple[str, int | None]:
    edges = (await api.data(keys.sales, MESSAGES, {"first": 10}))["smsMessages"]["edges"]
    [node] = [edge["node"] for edge in edges if edge["node"]["id"] == message_id]
    return node["status"], node["errorCode"]


async def test_the_providers_query_describes_msg91s_form_in_form_order(
    api: Api, keys: Keys
) -> None:
    _, msg91 = (await api.data(keys.admin, PROVIDERS))["smsProviders"]
    fields = {field["name"]: field for field in msg91["fields"]}

    assert (msg91["provider"], msg91["label"]) == ("MSG91", "MSG91")
    assert list(fields) == ["displayName", "senderId", "dltEntityId", "authToken", "route"]
    assert [name for name, field in fields.items() if field["required"]] == [
        "senderId",
        "dltEntityId",
        "authToken",
    ]
    assert [name for name, field in fields.items() if field["secret"]] == ["authToken"]
    assert fields["authToken"]["label"] == "API Key"
    assert "inbound replies are not supported" in fields["authToken"]["hint"]
    assert fields["route"]["defaultValue"] == "TRANSACTIONAL"
    assert "6-letter DLT header" in fields["senderId"]["hint"]


async def test_an_msg91_account_is_added_without_a_client_id_and_shows_its_report_url(
    api: Api, keys: Keys
) -> None:
    payload = await add_msg91(api, keys)

    assert payload["errors"] == []
    card = payload["account"]
    assert (card["provider"], card["status"], card["senderKind"]) == (
        "MSG91",
        "DRAFT",
        "ALPHANUMERIC",
    )
    assert (card["clientId"], card["route"], card["baseUrl"]) == (
        HEADER,
        "TRANSACTIONAL",
        "https://api.msg91.com/",
    )
    assert card["inboundWebhookUrl"] is None
    prefix = f"{PUBLIC_URL}/webhooks/reports/{card['id']}/"
    assert card["statusWebhookUrl"].startswith(prefix)
    assert len(card["statusWebhookUrl"].removeprefix(prefix)) >= 22  # at least 128 bits


async def test_a_twilio_account_still_requires_its_client_id_and_has_no_report_url(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    twilio = {"provider": "TWILIO", "senderId": "+14155550123", "authToken": "a" * 32}

    missing = (await api.data(keys.admin, ADD, {"input": twilio}))["addSmsAccount"]
    given = (
        await api.data(keys.admin, ADD_MSG91, {"input": {**twilio, "clientId": "AC" + "0" * 32}})
    )["addSmsAccount"]

    assert [(e["field"], e["code"]) for e in missing["errors"]] == [("clientId", "REQUIRED")]
    assert given["account"]["statusWebhookUrl"] is None
    assert given["account"]["route"] is None


async def test_msg91s_hosts_are_the_only_base_urls_of_msg91_accounts_by_default(
    api: Api, keys: Keys
) -> None:
    payload = await add_msg91(api, keys, baseUrl="https://api.twilio.com/")

    [error] = payload["errors"]
    assert (error["field"], error["code"]) == ("baseUrl", "INVALID")
    assert "not an allowed MSG91 host" in error["message"]


async def test_the_operators_hosts_are_admitted_for_both_providers(
    make_api: Any, keys: Keys, dns: dict[str, list[str]]
) -> None:
    dns["sms-proxy.example.com"] = ["203.0.113.7"]
    async with make_api(
        public_url=PUBLIC_URL, allowed_provider_hosts="sms-proxy.example.com"
    ) as api:
        msg91 = await add_msg91(api, keys, baseUrl="https://sms-proxy.example.com/")
        own_host = await add_msg91(api, keys, senderId="OTHRIN")

    assert msg91["errors"] == []
    assert msg91["account"]["baseUrl"] == "https://sms-proxy.example.com/"
    assert [e["field"] for e in own_host["errors"]] == ["baseUrl"]  # only the operator's list


async def test_verify_checks_the_key_through_the_balance_and_the_account_turns_verified(
    api: Api, keys: Keys, msg91: FakeMsg91
) -> None:
    card = await verified_msg91(api, keys)

    assert card["provider"] == "MSG91"
    assert msg91.balance_calls == 1
    assert msg91.sends == []  # checking a key sends nothing


@pytest.mark.parametrize(
    ("steer", "failure", "advice"),
    [
        ("unknown key", "INVALID_CREDENTIALS", "MSG91 rejected this API Key"),
        ("status", "PROVIDER_UNAVAILABLE", "key's IP whitelist in MSG91"),
        ("body", "PROVIDER_UNAVAILABLE", "key's IP whitelist in MSG91"),
    ],
)
async def test_a_refused_key_and_the_whitelist_refusal_each_fail_verify_with_their_sentence(
    api: Api, keys: Keys, msg91: FakeMsg91, steer: str, failure: str, advice: str
) -> None:
    if steer == "unknown key":
        msg91.keys = set()
    else:
        msg91.whitelist_refusal = steer
    card = (await add_msg91(api, keys))["account"]

    await verify(api, keys.admin, card["id"])
    shown = await verdict(api, keys.admin, card["id"])

    assert (shown["status"], shown["failure"]) == ("FAILED", failure)
    assert advice in shown["failureMessage"]


async def test_a_send_needs_the_dlt_template_id_and_carries_it_with_our_body(
    api: Api, keys: Keys, msg91: FakeMsg91
) -> None:
    card = await verified_msg91(api, keys)

    refused = await send(api, keys.marketer, card["id"])
    sent = await send(api, keys.marketer, card["id"], dltTemplateId=TEMPLATE_ID)

    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("dltTemplateId", "REQUIRED")]
    assert sent["errors"] == []
    assert (sent["message"]["status"], sent["message"]["providerMessageId"]) == (
        "ACCEPTED",
        FakeMsg91.request_id(1),
    )
    [payload] = msg91.sends
    assert payload["sms"] == [{"message": "Your OTP is 4821", "to": ["9876543210"]}]
    assert (payload["DLT_TE_ID"], payload["PE_ID"], payload["route"]) == (
        TEMPLATE_ID,
        ENTITY_ID,
        "4",
    )


@pytest.mark.parametrize("version", sorted(REPORT_FORMATS))
async def test_delivery_reports_in_each_version_settle_the_message_once_and_forward_only(
    api: Api, keys: Keys, msg91: FakeMsg91, version: str
) -> None:
    card = await verified_msg91(api, keys)
    message = (await send(api, keys.admin, card["id"], dltTemplateId=TEMPLATE_ID))["message"]
    url = card["statusWebhookUrl"]

    delivered = await post_report(api, url, version, message["providerMessageId"], 1)
    failed_after = await post_report(api, url, version, message["providerMessageId"], 16)
    unknown = await post_report(api, url, version, "no-such-request", 2)

    assert (delivered, failed_after, unknown) == (204, 204, 204)
    assert await message_status(api, keys, message["id"]) == ("DELIVERED", None)


async def test_an_undelivered_report_keeps_msg91s_status_as_the_error_code(
    api: Api, keys: Keys, msg91: FakeMsg91
) -> None:
    card = await verified_msg91(api, keys)
    message = (await send(api, keys.admin, card["id"], dltTemplateId=TEMPLATE_ID))["message"]

    await post_report(api, card["statusWebhookUrl"], "v3", message["providerMessageId"], 17)

    assert await message_status(api, keys, message["id"]) == ("FAILED", 17)


async def test_rotating_the_report_url_refuses_the_old_one_at_once(
    api: Api, keys: Keys, msg91: FakeMsg91
) -> None:
    card = await verified_msg91(api, keys)
    message = (await send(api, keys.admin, card["id"], dltTemplateId=TEMPLATE_ID))["message"]
    old = card["statusWebhookUrl"]

    rotated = (await api.data(keys.admin, ROTATE, {"id": card["id"]}))["updateSmsAccount"]
    new = rotated["account"]["statusWebhookUrl"]

    assert rotated["errors"] == []
    assert rotated["account"]["status"] == "VERIFIED"
    assert new != old
    assert await post_report(api, old, "v2", message["providerMessageId"], 1) == 403
    assert await message_status(api, keys, message["id"]) == ("ACCEPTED", None)
    assert await post_report(api, new, "v2", message["providerMessageId"], 1) == 204
    assert await message_status(api, keys, message["id"]) == ("DELIVERED", None)


async def test_a_report_url_is_refused_for_another_account_and_a_post_msg91_never_makes(
    api: Api, keys: Keys, msg91: FakeMsg91
) -> None:
    card = await verified_msg91(api, keys)
    token = card["statusWebhookUrl"].rsplit("/", 1)[1]
    other = (await add_msg91(api, keys, senderId="OTHRIN"))["account"]

    borrowed = await api.http.post(
        f"/webhooks/reports/{other['id']}/{token}",
        content=b"{}",
        headers={"content-type": "application/json"},
    )
    garbled = await api.http.post(
        card["statusWebhookUrl"].removeprefix(PUBLIC_URL),
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    xml = await api.http.post(
        card["statusWebhookUrl"].removeprefix(PUBLIC_URL),
        content=b"<report/>",
        headers={"content-type": "text/xml"},
    )

    assert (borrowed.status_code, garbled.status_code, xml.status_code) == (403, 400, 415)


async def test_a_twilio_account_refuses_a_report_url_rotation(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    twilio = {
        "provider": "TWILIO",
        "senderId": "+14155550123",
        "clientId": "AC" + "0" * 32,
        "authToken": "a" * 32,
    }
    card = (await api.data(keys.admin, ADD, {"input": twilio}))["addSmsAccount"]["account"]

    result = (
        await api.data(
            keys.admin, UPDATE, {"id": card["id"], "input": {"rotateStatusWebhookToken": True}}
        )
    )["updateSmsAccount"]

    assert [(e["field"], e["code"]) for e in result["errors"]] == [
        ("rotateStatusWebhookToken", "INVALID")
    ]


async def test_wrong_report_tokens_go_through_the_failed_check_throttle(
    make_api: Any, keys: Keys
) -> None:
    async with make_api(auth_failures_per_second=3, public_url=PUBLIC_URL) as api:
        card = (await add_msg91(api, keys))["account"]
        path = f"/webhooks/reports/{card['id']}/{'x' * 32}"
        answers = [
            (
                await api.http.post(
                    path, content=b"{}", headers={"content-type": "application/json"}
                )
            ).status_code
            for _ in range(6)
        ]

    assert answers[0] == 403
    assert answers[-1] == 429
