"""The provider-host policy as the Add dialog meets it: through addSmsAccount."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Keys, phone
from tests.integration.test_accounts import add, enable


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
    dns["internal.twilio.com"] = [address]
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, baseUrl="https://internal.twilio.com/")
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
    payload = await add(api, keys.admin, baseUrl="https://api.nowhere.twilio.com/")
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
