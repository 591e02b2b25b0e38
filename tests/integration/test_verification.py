"""verifySmsAccount against Twilio (mocked with respx from Twilio's own spec)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from storage.db import create_engine
from storage.models import SmsAccountRow
from storage.types import utcnow
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, MG_SID, PHONE, Api, Keys, phone
from tests.integration.documents import ACCOUNT, SENDERS, UPDATE, VERIFY
from tests.integration.steps import (
    ACCOUNT_URL,
    BASE,
    NUMBERS_URL,
    added,
    enable,
    twilio_answers,
    verdict,
    verified_card,
    verify,
)
from tests.twilio_fixtures import (
    account,
    error,
    incoming_numbers,
    messaging_service,
)


async def test_a_phone_sender_with_good_credentials_is_verified(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)

    card = await verified_card(api, keys)

    assert card["status"] == "VERIFIED"
    assert card["failure"] is None
    assert card["trial"] is False
    assert card["verifiedAt"] is not None
    request = routes["numbers"].calls.last.request
    assert request.url.params["PhoneNumber"] == PHONE
    assert "PhoneNumber=%2B1" in str(request.url)
    auth = httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)
    assert (
        request.headers["authorization"] == next(auth.auth_flow(request)).headers["authorization"]
    )
    assert [s["accountId"] for s in (await api.data(keys.marketer, SENDERS))["smsSenders"]] == [
        card["id"]
    ]


async def test_a_messaging_service_sender_is_checked_on_the_messaging_host(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)

    card = await verified_card(api, keys, senderId=MG_SID)

    assert card["status"] == "VERIFIED"
    assert routes["service"].called
    assert not routes["numbers"].called


async def test_a_regional_base_url_checks_the_regional_messaging_host(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    regional = "https://api.dublin.ie1.twilio.com"
    twilio.get(f"{regional}/2010-04-01/Accounts/{ACCOUNT_SID}.json").respond(json=account())
    service = twilio.get(f"https://messaging.dublin.ie1.twilio.com/v1/Services/{MG_SID}").respond(
        json=messaging_service(MG_SID)
    )

    card = await verified_card(api, keys, senderId=MG_SID, baseUrl=regional)

    assert card["status"] == "VERIFIED"
    assert service.called


async def test_a_trial_account_is_verified_and_marked_trial(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    twilio_answers(twilio, account_reply=httpx.Response(200, json=account(type="Trial")))
    card = await verified_card(api, keys)
    assert card["status"] == "VERIFIED"
    assert card["trial"] is True


@pytest.mark.parametrize(
    ("replies", "failure"),
    [
        ({"account_reply": httpx.Response(401, json=error(20003, 401))}, "INVALID_CREDENTIALS"),
        ({"account_reply": httpx.Response(404, json=error(20404, 404))}, "INVALID_CREDENTIALS"),
        ({"account_reply": httpx.Response(403, json=error(20003, 403))}, "INVALID_CREDENTIALS"),
        (
            {"account_reply": httpx.Response(200, json=account("AC" + "9" * 32))},
            "INVALID_CREDENTIALS",
        ),
        (
            {"account_reply": httpx.Response(200, json=account(status="suspended"))},
            "ACCOUNT_SUSPENDED",
        ),
        (
            {"account_reply": httpx.Response(200, json=account(status="closed"))},
            "ACCOUNT_SUSPENDED",
        ),
        (
            {"numbers_reply": httpx.Response(200, json=incoming_numbers())},
            "INVALID_FROM_NUMBER",
        ),
        (
            {"numbers_reply": httpx.Response(200, json=incoming_numbers((PHONE, False)))},
            "INVALID_FROM_NUMBER",
        ),
        (
            {"numbers_reply": httpx.Response(200, json=incoming_numbers(("+14155550124", True)))},
            "INVALID_FROM_NUMBER",
        ),
        (
            {"account_reply": httpx.Response(200, content=b"<html>hello</html>")},
            "BASE_URL",
        ),
        (
            {"account_reply": httpx.Response(404, content=b"<html>not found</html>")},
            "BASE_URL",
        ),
        ({"account_reply": httpx.ConnectError("refused")}, "PROVIDER_UNAVAILABLE"),
        ({"account_reply": httpx.Response(503, json=error(20500, 503))}, "PROVIDER_UNAVAILABLE"),
        ({"account_reply": httpx.ReadTimeout("slow")}, "PROVIDER_UNAVAILABLE"),
        ({"account_reply": httpx.ConnectTimeout("slow")}, "PROVIDER_UNAVAILABLE"),
        ({"numbers_reply": httpx.Response(500, json=error(20500, 500))}, "PROVIDER_UNAVAILABLE"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_each_failure_kind_fails_the_account_with_its_reason(
    api: Api, keys: Keys, twilio: respx.Router, replies: dict[str, Any], failure: str
) -> None:
    twilio_answers(twilio, **replies)

    card = await verified_card(api, keys)

    assert card["status"] == "FAILED"
    assert card["failure"] == failure
    assert card["verifiedAt"] is None
    assert "Twilio says no" not in card["failureMessage"]
    assert len(card["failureMessage"]) > 40
    assert (await api.data(keys.marketer, SENDERS))["smsSenders"] == []


@pytest.mark.parametrize(
    ("service_reply", "failure"),
    [
        (httpx.Response(404, json=error(20404, 404)), "INVALID_MESSAGING_SERVICE"),
        (
            httpx.Response(200, json=messaging_service(MG_SID, account_sid="AC" + "1" * 32)),
            "INVALID_MESSAGING_SERVICE",
        ),
    ],
)
async def test_a_messaging_service_of_another_account_fails_the_check(
    api: Api, keys: Keys, twilio: respx.Router, service_reply: httpx.Response, failure: str
) -> None:
    twilio_answers(twilio, service_reply=service_reply)
    card = await verified_card(api, keys, senderId=MG_SID)
    assert card["failure"] == failure


async def test_the_failure_message_says_what_to_do(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    twilio_answers(twilio, account_reply=httpx.Response(401, json=error(20003, 401)))
    card = await verified_card(api, keys)
    assert card["failureMessage"] == (
        "Invalid credentials: Twilio rejected this Account SID and Auth Token. Copy both fresh "
        "from the Twilio Console, save, and verify again."
    )


async def test_errors_are_read_by_code_not_by_message(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    misleading = error(20003, 400, message="Service unavailable, please retry later")
    twilio_answers(twilio, account_reply=httpx.Response(400, json=misleading))
    card = await verified_card(api, keys)
    assert card["failure"] == "INVALID_CREDENTIALS"


async def test_a_5xx_then_success_is_retried_and_verified(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(
        twilio,
        account_reply=[
            httpx.Response(503, json=error(20503, 503)),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=account()),
        ],
    )
    card = await verified_card(api, keys)
    assert card["status"] == "VERIFIED"
    assert routes["account"].call_count == 3


async def test_a_429_waits_for_retry_after_then_succeeds(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(
        twilio,
        account_reply=[
            httpx.Response(429, json=error(20429, 429), headers={"Retry-After": "1"}),
            httpx.Response(200, json=account()),
        ],
    )
    started = time.monotonic()
    card = await verified_card(api, keys)
    assert card["status"] == "VERIFIED"
    assert routes["account"].call_count == 2
    assert time.monotonic() - started >= 1.0


async def test_a_retry_after_beyond_the_budget_reschedules_the_check_instead_of_failing_it(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(
        twilio,
        account_reply=[
            httpx.Response(429, json=error(20429, 429), headers={"Retry-After": "3600"}),
            httpx.Response(200, json=account()),
        ],
    )
    # Twilio's wait is capped, and a sweep resumes the check once the capped wait is over.
    async with make_api(verify_max_wait_seconds=0.2, verify_sweep_seconds=0.05) as api:
        card = await verified_card(api, keys)

    assert (card["status"], card["failure"]) == ("VERIFIED", None)
    assert routes["account"].call_count == 2


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(429, "3600"), (503, "61"), (429, "9" * 400)],  # "9" * 400 reads as an infinite wait
)
async def test_while_twilio_asks_to_wait_the_account_stays_verifying_until_the_capped_wait(
    api: Api, keys: Keys, twilio: respx.Router, database_url: str, status: int, retry_after: str
) -> None:
    twilio_answers(
        twilio,
        account_reply=httpx.Response(
            status, json=error(20429, status), headers={"Retry-After": retry_after}
        ),
    )
    await enable(api, keys.admin)
    added_card = await added(api, keys.admin)
    await verify(api, keys.admin, added_card["id"])
    await api.runtime.verifier.wait_idle()

    card = (await api.data(keys.admin, ACCOUNT, {"id": added_card["id"]}))["smsAccount"]
    again = await verify(api, keys.admin, added_card["id"])

    assert (card["status"], card["failure"]) == ("VERIFYING", None)
    assert [e["code"] for e in again["errors"]] == ["VERIFICATION_IN_PROGRESS"]
    resumes_in = await seconds_until(database_url, "verify_lease_until", added_card["id"])
    assert min(int(retry_after[:5]), 300) - 30 < resumes_in <= min(int(retry_after[:5]), 300)


async def test_a_health_check_twilio_asks_to_wait_for_keeps_the_account_verified_until_then(
    make_api: Any, keys: Keys, twilio: respx.Router, database_url: str
) -> None:
    wait = httpx.Response(429, json=error(20429, 429), headers={"Retry-After": "3600"})
    routes = twilio_answers(twilio, account_reply=[httpx.Response(200, json=account()), wait])
    async with make_api(recheck_seconds=1, verify_sweep_seconds=0.05) as api:
        card = await verified_card(api, keys)
        for _ in range(200):  # the health check comes 1 s (±10 %) after the verdict
            if routes["account"].call_count == 2:
                break
            await asyncio.sleep(0.05)
        await api.runtime.verifier.wait_idle()
        after = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]

    assert (after["status"], after["failure"]) == ("VERIFIED", None)
    assert 270 < await seconds_until(database_url, "next_check_at", card["id"]) <= 300


async def seconds_until(database_url: str, column: str, account_id: str) -> float:
    """How far ahead of now the account's timestamp ``column`` is."""
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        when = (
            await connection.execute(
                select(SmsAccountRow.__table__.c[column]).where(  # type: ignore[attr-defined]
                    SmsAccountRow.__table__.c.id == account_id  # type: ignore[attr-defined]
                )
            )
        ).scalar_one()
    await engine.dispose()
    seconds: float = (when - utcnow()).total_seconds()
    return seconds


async def test_transient_failures_stop_after_four_attempts(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio, account_reply=httpx.Response(500, json=error(20500, 500)))
    card = await verified_card(api, keys)
    assert card["failure"] == "PROVIDER_UNAVAILABLE"
    assert routes["account"].call_count == 4


async def test_a_redirect_is_not_followed(api: Api, keys: Keys, twilio: respx.Router) -> None:
    elsewhere = twilio.get("https://evil.example.com/steal").respond(200, json=account())
    twilio_answers(
        twilio,
        account_reply=httpx.Response(
            301, headers={"Location": "https://evil.example.com/steal"}, json={}
        ),
    )
    card = await verified_card(api, keys)
    assert card["failure"] == "BASE_URL"
    assert not elsewhere.called


async def test_an_oversized_body_is_not_read_past_its_cap(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    huge = b'{"sid": "' + b"A" * (2 * 1024 * 1024) + b'"}'
    twilio_answers(twilio, account_reply=httpx.Response(200, content=huge))
    card = await verified_card(api, keys)
    assert card["failure"] == "BASE_URL"


async def test_an_account_without_a_sender_fails_at_once(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)
    await enable(api, keys.admin)
    card = await added(api, keys.admin)
    await api.data(keys.admin, UPDATE, {"id": card["id"], "input": {"senderId": ""}})

    payload = await verify(api, keys.admin, card["id"])

    assert payload["account"]["status"] == "FAILED"
    assert payload["account"]["failure"] == "MISSING_SENDER"
    assert payload["errors"] == []
    assert not routes["account"].called


async def test_a_second_verify_while_one_runs_starts_nothing(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json=account())

    account_route = twilio.get(ACCOUNT_URL).mock(side_effect=slow)
    twilio.get(NUMBERS_URL).respond(json=incoming_numbers((PHONE, True)))
    await enable(api, keys.admin)
    card = await added(api, keys.admin)

    first = await verify(api, keys.admin, card["id"])
    second = await verify(api, keys.admin, card["id"])
    release.set()

    assert first["account"]["status"] == "VERIFYING"
    assert second["account"] is None
    assert [(e["field"], e["code"]) for e in second["errors"]] == [
        ("id", "VERIFICATION_IN_PROGRESS")
    ]
    assert (await verdict(api, keys.admin, card["id"]))["status"] == "VERIFIED"
    assert account_route.call_count == 1


async def test_verifying_a_verified_account_checks_it_again(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(
        twilio,
        account_reply=[
            httpx.Response(200, json=account()),
            httpx.Response(200, json=account(status="suspended")),
        ],
    )
    card = await verified_card(api, keys)
    assert card["status"] == "VERIFIED"

    again = await verify(api, keys.admin, card["id"])
    assert again["account"]["status"] == "VERIFYING"
    final = await verdict(api, keys.admin, card["id"])

    assert final["failure"] == "ACCOUNT_SUSPENDED"
    assert routes["account"].call_count == 2


async def test_credentials_changed_mid_check_are_never_marked_by_the_old_check(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    in_flight = asyncio.Event()
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        in_flight.set()
        await release.wait()
        return httpx.Response(200, json=account())

    twilio.get(ACCOUNT_URL).mock(side_effect=slow)
    twilio.get(NUMBERS_URL).respond(json=incoming_numbers((PHONE, True)))
    await enable(api, keys.admin)
    card = await added(api, keys.admin)
    await verify(api, keys.admin, card["id"])
    await asyncio.wait_for(in_flight.wait(), 5)

    changed = await api.data(
        keys.admin, UPDATE, {"id": card["id"], "input": {"authToken": "a-brand-new-token-1234"}}
    )
    release.set()
    await api.runtime.verifier.wait_idle()

    assert changed["updateSmsAccount"]["account"]["status"] == "DRAFT"
    after = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]
    assert after["status"] == "DRAFT"
    assert after["verifiedAt"] is None


async def test_verify_while_the_integration_is_off_answers_integration_disabled(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)
    await enable(api, keys.admin)
    card = await added(api, keys.admin)
    await api.data(
        keys.admin,
        "mutation { setSmsIntegrationEnabled(enabled: false) { errors { code } } }",
    )

    disabled = await verify(api, keys.admin, card["id"])

    assert [e["code"] for e in disabled["errors"]] == ["INTEGRATION_DISABLED"]
    assert not routes["account"].called


async def test_another_workspaces_account_cannot_be_verified(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    routes = twilio_answers(twilio)
    await enable(api, keys.admin)
    await enable(api, other_keys.admin)
    card = await added(api, keys.admin)

    foreign = await verify(api, other_keys.admin, card["id"])

    assert [(e["field"], e["code"]) for e in foreign["errors"]] == [("id", "NOT_FOUND")]
    assert not routes["account"].called


async def test_only_admins_verify(api: Api, keys: Keys) -> None:
    for key in (keys.marketer, keys.sales):
        result = await api.run(key, VERIFY, {"id": "x"})
        assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_nothing_upstream_reaches_the_log(
    api: Api, keys: Keys, twilio: respx.Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    twilio_answers(twilio, account_reply=httpx.Response(401, json=error(20003, 401)))
    await verified_card(api, keys)
    twilio_answers(twilio)
    await verified_card(api, keys, senderId=MG_SID)
    assert AUTH_TOKEN not in caplog.text
    assert "a-real-looking-upstream-auth-token" not in caplog.text
    assert "Twilio says no" not in caplog.text


async def test_verifying_new_credentials_while_a_check_of_old_ones_runs_starts_a_new_check(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    in_flight = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def first_slow_then_fast(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            in_flight.set()
            await release.wait()
        return httpx.Response(200, json=account())

    twilio.get(ACCOUNT_URL).mock(side_effect=first_slow_then_fast)
    twilio.get(NUMBERS_URL).respond(json=incoming_numbers((PHONE, True)))
    await enable(api, keys.admin)
    card = await added(api, keys.admin)
    await verify(api, keys.admin, card["id"])
    await asyncio.wait_for(in_flight.wait(), 5)
    await api.data(
        keys.admin, UPDATE, {"id": card["id"], "input": {"authToken": "the-right-token-9876"}}
    )

    again = await verify(api, keys.admin, card["id"])
    final = await verdict(api, keys.admin, card["id"])
    release.set()

    assert again["account"]["status"] == "VERIFYING"
    assert final["status"] == "VERIFIED"
    assert calls == 2


class InFlight:
    """Counts the account checks Twilio is answering at once, per Account SID."""

    def __init__(self) -> None:
        self.now: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.total = 0
        self.total_most = 0

    async def answer(self, request: httpx.Request) -> httpx.Response:
        sid = request.url.path.split("/")[3].removesuffix(".json")
        self.now[sid] = self.now.get(sid, 0) + 1
        self.most[sid] = max(self.most.get(sid, 0), self.now[sid])
        self.total += 1
        self.total_most = max(self.total_most, self.total)
        try:
            await asyncio.sleep(0.3)  # long enough for every queued check to pile up
        finally:
            self.now[sid] -= 1
            self.total -= 1
        return httpx.Response(200, json=account(sid))


async def test_one_twilio_account_never_has_more_than_two_checks_in_flight(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    counter = InFlight()
    twilio.get(url__regex=rf"{BASE}/2010-04-01/Accounts/AC[0-9a-f]+\.json").mock(
        side_effect=counter.answer
    )
    senders = [phone(n) for n in range(5)]
    twilio.get(NUMBERS_URL).respond(json=incoming_numbers(*[(s, True) for s in senders]))
    await enable(api, keys.admin)
    cards = [await added(api, keys.admin, senderId=sender) for sender in senders]

    for card in cards:
        await verify(api, keys.admin, card["id"])
    finals = [await verdict(api, keys.admin, card["id"]) for card in cards]

    assert [final["status"] for final in finals] == ["VERIFIED"] * 5
    assert counter.most[ACCOUNT_SID] == 2


async def test_the_checks_in_flight_are_capped_by_a_setting(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    counter = InFlight()
    twilio.get(url__regex=rf"{BASE}/2010-04-01/Accounts/AC[0-9a-f]+\.json").mock(
        side_effect=counter.answer
    )
    twilio.get(
        url__regex=rf"{BASE}/2010-04-01/Accounts/AC[0-9a-f]+/IncomingPhoneNumbers\.json"
    ).respond(json=incoming_numbers((PHONE, True)))
    async with make_api(max_concurrent_checks=3) as api:
        await enable(api, keys.admin)
        sids = [f"AC{n:032x}" for n in range(1, 7)]
        cards = [await added(api, keys.admin, clientId=sid) for sid in sids]
        for card in cards:
            await verify(api, keys.admin, card["id"])
        finals = [await verdict(api, keys.admin, card["id"]) for card in cards]

    assert [final["status"] for final in finals] == ["VERIFIED"] * 6
    assert len(counter.most) == 6  # every account was checked
    assert counter.total_most == 3
