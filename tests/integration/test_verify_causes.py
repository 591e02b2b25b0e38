"""Verify names the real cause when Twilio cannot be reached, and logs every verdict."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, MG_SID, Api, Keys
from tests.integration.steps import twilio_answers, verified_card
from tests.twilio_fixtures import account, error

CANNOT_REACH = (
    "This server cannot reach Twilio (DNS, firewall or proxy): ask your administrator to allow "
    "outbound HTTPS to api.twilio.com, then verify again."
)


@pytest.mark.parametrize(
    "problem",
    [
        httpx.ConnectError("[Errno -2] Name or service not known"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        httpx.ConnectTimeout("a firewall drops the packets"),
    ],
    ids=["dns", "refused", "tls", "connect-timeout"],
)
async def test_twilio_unreachable_from_this_server_says_so_and_logs_the_cause(
    api: Api,
    keys: Keys,
    twilio: respx.Router,
    caplog: pytest.LogCaptureFixture,
    problem: httpx.HTTPError,
) -> None:
    caplog.set_level(logging.INFO)
    twilio_answers(twilio, account_reply=problem)

    card = await verified_card(api, keys)

    assert card["status"] == "FAILED"
    assert card["failure"] == "PROVIDER_UNAVAILABLE"
    assert card["failureMessage"] == CANNOT_REACH
    [line] = [r.getMessage() for r in caplog.records if "verification verdict" in r.getMessage()]
    assert f"account={card['id']}" in line
    assert "failure=PROVIDER_UNAVAILABLE (TWILIO_UNREACHABLE)" in line
    # Over a real network the class under httpx's shows (gaierror: see test_guarded_transport).
    assert f"cause={type(problem).__name__}" in line


async def test_a_regional_twilio_host_that_cannot_be_reached_is_this_servers_network(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    regional = "https://api.dublin.ie1.twilio.com"
    twilio.get(f"{regional}/2010-04-01/Accounts/{ACCOUNT_SID}.json").respond(json=account())
    twilio.get(f"https://messaging.dublin.ie1.twilio.com/v1/Services/{MG_SID}").mock(
        side_effect=httpx.ConnectError("[Errno -2] Name or service not known")
    )

    card = await verified_card(api, keys, senderId=MG_SID, baseUrl=regional)

    assert card["failure"] == "PROVIDER_UNAVAILABLE"
    assert card["failureMessage"] == CANNOT_REACH


async def test_twilio_answering_5xx_keeps_the_twilio_is_unavailable_advice(
    api: Api, keys: Keys, twilio: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    twilio_answers(twilio, account_reply=httpx.Response(503, json=error(20503, 503)))

    card = await verified_card(api, keys)

    assert card["failure"] == "PROVIDER_UNAVAILABLE"
    assert card["failureMessage"].startswith("Twilio is unavailable:")
    assert "failure=PROVIDER_UNAVAILABLE cause=TwilioBusy" in caplog.text


async def test_a_custom_base_url_that_cannot_be_reached_stays_a_base_url_problem(
    make_api: Any, keys: Keys, twilio: respx.Router, dns: dict[str, list[str]]
) -> None:
    custom = "https://twilio-proxy.example.com"
    dns["twilio-proxy.example.com"] = ["93.184.216.34"]
    twilio.get(f"{custom}/2010-04-01/Accounts/{ACCOUNT_SID}.json").mock(
        side_effect=httpx.ConnectError("[Errno -2] Name or service not known")
    )
    async with make_api(allowed_provider_hosts="api.twilio.com,*.example.com") as api:
        card = await verified_card(api, keys, baseUrl=custom)

    assert card["failure"] == "BASE_URL"
    assert card["failureMessage"].startswith("Base URL:")


async def test_every_verdict_is_logged_without_token_or_upstream_text(
    api: Api, keys: Keys, twilio: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    twilio_answers(twilio, account_reply=httpx.Response(401, json=error(20003, 401)))
    rejected = await verified_card(api, keys)
    twilio_answers(twilio)
    accepted = await verified_card(api, keys, senderId=MG_SID)

    verdicts = [r for r in caplog.records if "verification verdict" in r.getMessage()]
    assert [r.levelno for r in verdicts] == [logging.INFO, logging.INFO]
    assert f"account={rejected['id']} failure=INVALID_CREDENTIALS" in verdicts[0].getMessage()
    assert "cause=TwilioRejected(status 401, code 20003)" in verdicts[0].getMessage()
    assert f"account={accepted['id']} failure=none" in verdicts[1].getMessage()
    assert AUTH_TOKEN not in caplog.text
    assert "Twilio says no" not in caplog.text
