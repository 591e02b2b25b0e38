"""The provider-host policy as the Add dialog meets it: through addSmsAccount."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from tests.conftest import ACCOUNT_SID, MG_SID, Api, Keys, phone
from tests.integration.documents import ACCOUNT
from tests.integration.messaging import send
from tests.integration.steps import add, added, enable, mark_verified, update, verdict, verify
from tests.twilio_fixtures import account as twilio_account


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.twilio.com/",
        "https://api.twilio.com:8443/",
        "https://user@api.twilio.com/",
        "https://user:pw@api.twilio.com/",
        "https://api.twilio.com/?x=1",
        "https://api.twilio.com/#frag",
        "https://twilio.com/",
        "https://api.twilio.com.evil.com/",
        "https://eviltwilio.com/",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://127.1/",
        "https://169.254.169.254/",
        "javascript:alert(1)",
        "file:///etc/passwd",
    ],
)
async def test_a_base_url_outside_the_policy_is_refused(
    api: Api, keys: Keys, base_url: str
) -> None:
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl=base_url)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("baseUrl", "INVALID")]
    assert "pw" not in payload["errors"][0]["message"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
    ],
)
async def test_a_twilio_name_that_resolves_inside_is_refused(
    api: Api, keys: Keys, dns: dict[str, list[str]], address: str
) -> None:
    dns["api.ashburn.us1.twilio.com"] = [address]
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl="https://api.ashburn.us1.twilio.com/")
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("baseUrl", "INVALID")]


async def test_a_twilio_name_that_resolves_publicly_is_accepted(
    api: Api, keys: Keys, dns: dict[str, list[str]]
) -> None:
    dns["api.sydney.au1.twilio.com"] = ["54.252.1.1"]
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl="https://api.sydney.au1.twilio.com")
    assert payload["errors"] == []


async def test_a_name_that_does_not_resolve_today_is_not_refused_for_that(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl="https://api.nowhere.us1.twilio.com/")
    assert payload["errors"] == []


async def test_an_operator_can_list_a_loopback_stand_in_literally(
    make_api: Any, keys: Keys, dns: dict[str, list[str]]
) -> None:
    dns["localhost"] = ["127.0.0.1"]
    async with make_api(allowed_provider_hosts="localhost,127.0.0.1") as api:
        await enable(api, keys.admin)
        by_name = await add(api, keys.admin, baseUrl="http://localhost:8765")
        by_ip = await add(api, keys.admin, baseUrl="http://127.0.0.1:8765/", senderId=phone(1))
        other_ip = await add(api, keys.admin, baseUrl="http://127.0.0.2:8765/", senderId=phone(2))
    assert by_name["errors"] == []
    assert by_name["account"]["baseUrl"] == "http://localhost:8765/"
    assert by_ip["errors"] == []
    assert [e["code"] for e in other_ip["errors"]] == ["INVALID"]


async def test_a_wildcard_matches_subdomains_only(
    make_api: Any, keys: Keys, dns: dict[str, list[str]]
) -> None:
    dns["sms.example.com"] = ["93.184.216.34"]
    async with make_api(allowed_provider_hosts="*.example.com") as api:
        await enable(api, keys.admin)
        sub = await add(api, keys.admin, baseUrl="https://sms.example.com/")
        bare = await add(api, keys.admin, baseUrl="https://example.com/")
    assert sub["errors"] == []
    assert [e["code"] for e in bare["errors"]] == ["INVALID"]


@pytest.mark.parametrize(
    "base_url",
    [
        "https://evil.twilio.com/",
        "https://api.evil.twilio.com/",
        "https://api.twilio.com.evil.com/",
        "https://api.ie1.twilio.com/",
        "https://api.dublin.ie11.twilio.com/",
        "https://api.twilio.com./",
        "https://api.twilio.com .evil.com/",
        "https://api.twil\u200bio.com/",
        "https://аpi.twilio.com/",  # a Cyrillic а
        "https://bücher.twilio.com/",
        "https://" + "a." * 125 + "api.twilio.com/",
        "https://api.twilio.com/" + "a" * 2030,
    ],
)
async def test_lookalike_hosts_and_odd_spellings_are_refused_not_normalised(
    api: Api, keys: Keys, dns: dict[str, list[str]], base_url: str
) -> None:
    dns["evil.twilio.com"] = ["54.1.1.1"]
    dns["api.evil.twilio.com"] = ["54.1.1.1"]
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl=base_url)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("baseUrl", "INVALID")]


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.sydney.au1.twilio.com/",
        "https://api.dublin.ie1.twilio.com/",
        "https://api.sao-paulo.br1.twilio.com/",
        "https://messaging.twilio.com/",
    ],
)
async def test_twilios_regional_hosts_are_accepted(api: Api, keys: Keys, base_url: str) -> None:
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl=base_url)
    assert payload["errors"] == []
    assert payload["account"]["baseUrl"] == base_url


LOOSER = "api.twilio.com,*.twilio.com"
LEGACY = "https://legacy.twilio.com/"


async def test_an_account_saved_under_a_looser_policy_fails_its_next_check_with_base_url(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(allowed_provider_hosts=LOOSER) as api:
        await enable(api, keys.admin)
        account = await added(api, keys.admin, baseUrl=LEGACY)

    async with make_api() as api:
        await verify(api, keys.admin, account["id"])
        checked = await verdict(api, keys.admin, account["id"])

    assert (checked["status"], checked["failure"]) == ("FAILED", "BASE_URL")
    assert not twilio.calls


async def test_sending_through_an_account_saved_under_a_looser_policy_sends_nothing(
    make_api: Any, keys: Keys, twilio: respx.Router, database_url: str
) -> None:
    async with make_api(allowed_provider_hosts=LOOSER) as api:
        await enable(api, keys.admin)
        account = await added(api, keys.admin, baseUrl=LEGACY)
    await mark_verified(database_url, account["id"])

    async with make_api() as api:
        sent = await send(api, keys.admin, account["id"], "+14155550100", "Hello")
        after = (await api.data(keys.admin, ACCOUNT, {"id": account["id"]}))["smsAccount"]

    assert sent["message"]["status"] == "FAILED"
    assert [(e["field"], e["code"]) for e in sent["errors"]] == [
        ("accountId", "ACCOUNT_NOT_VERIFIED")
    ]
    assert (after["status"], after["failure"]) == ("FAILED", "BASE_URL")
    assert not twilio.calls


async def test_the_derived_messaging_host_is_checked_against_the_policy_too(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    """An operator who allows api.example.com has not allowed messaging.example.com."""
    base = "https://api.example.com/"
    account_route = twilio.get(f"{base}2010-04-01/Accounts/{ACCOUNT_SID}.json").respond(
        200, json=twilio_account()
    )
    async with make_api(allowed_provider_hosts="api.example.com") as api:
        await enable(api, keys.admin)
        card = await added(api, keys.admin, baseUrl=base, senderId=MG_SID)
        await verify(api, keys.admin, card["id"])
        checked = await verdict(api, keys.admin, card["id"])

    assert (checked["status"], checked["failure"]) == ("FAILED", "BASE_URL")
    assert account_route.called
    assert all(call.request.url.host == "api.example.com" for call in twilio.calls)


WHITESPACE = "Base URL must not contain spaces or control characters."


@pytest.mark.parametrize(
    "base_url",
    [
        " https://api.twilio.com/",
        "https://api.twilio.com/ ",
        "\thttps://api.twilio.com/",
        "https://api.twilio.com/\n",
        "https://api.twilio.com /",
        "https://api.twilio.com/2010 04/",
        "   ",
    ],
)
async def test_a_base_url_with_whitespace_anywhere_is_refused_not_trimmed(
    api: Api, keys: Keys, base_url: str
) -> None:
    await enable(api, keys.admin)
    existing = await added(api, keys.admin, senderId=phone(1))

    added_payload = await add(api, keys.admin, baseUrl=base_url)
    updated = await update(api, keys.admin, existing["id"], baseUrl=base_url)

    for payload in (added_payload, updated):
        assert [(e["field"], e["code"], e["message"]) for e in payload["errors"]] == [
            ("baseUrl", "INVALID", WHITESPACE)
        ]
    shown = (await api.data(keys.admin, ACCOUNT, {"id": existing["id"]}))["smsAccount"]
    assert shown["baseUrl"] == "https://api.twilio.com/"


async def test_a_base_url_over_512_characters_is_refused_and_512_is_accepted(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    longest = "https://api.twilio.com/" + "a" * (512 - len("https://api.twilio.com/") - 1) + "/"

    accepted = await add(api, keys.admin, baseUrl=longest)
    refused = await add(api, keys.admin, baseUrl=longest + "b", senderId=phone(2))

    assert accepted["errors"] == []
    assert accepted["account"]["baseUrl"] == longest
    assert [(e["field"], e["code"], e["message"]) for e in refused["errors"]] == [
        ("baseUrl", "INVALID", "Base URL is too long: at most 512 characters (this one has 513).")
    ]
