"""The steps the integration tests are written in: turn the integration on, add, edit and
verify accounts through GraphQL, with Twilio answered at HTTP (respx, checked against its
OpenAPI description)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import respx

from tests.conftest import (
    ACCOUNT_SID,
    MG_SID,
    PHONE,
    Api,
    Keys,
    account_input,
)
from tests.integration.documents import (
    ACCOUNT,
    ADD,
    SET_ENABLED,
    UPDATE,
    VERIFY,
)
from tests.twilio_fixtures import (
    account,
    assert_request_matches_spec,
    incoming_numbers,
    messaging_service,
)


async def enable(api: Api, key: str) -> None:
    await api.data(key, SET_ENABLED, {"enabled": True})


async def add(api: Api, key: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(key, ADD, {"input": account_input(**overrides)}))[
        "addSmsAccount"
    ]
    return payload


async def added(api: Api, key: str, **overrides: Any) -> dict[str, Any]:
    payload = await add(api, key, **overrides)
    assert payload["errors"] == []
    account: dict[str, Any] = payload["account"]
    return account


async def update(api: Api, key: str, account_id: str, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(key, UPDATE, {"id": account_id, "input": fields}))[
        "updateSmsAccount"
    ]
    return result


async def mark_verified(database_url: str, account_id: str, *, failed: bool = False) -> None:
    """Put an account in a state that part 2's verification produces (not reachable via API yet)."""
    from sqlalchemy import text

    from storage.db import create_engine

    engine = create_engine(database_url)
    async with engine.begin() as connection:
        if failed:
            await connection.execute(
                text(
                    "UPDATE sms_accounts SET status='FAILED', failure='INVALID_CREDENTIALS' "
                    "WHERE id=:id"
                ),
                {"id": account_id},
            )
        else:
            await connection.execute(
                text(
                    "UPDATE sms_accounts SET status='VERIFIED', trial=false, "
                    "verified_at=updated_at WHERE id=:id"
                ),
                {"id": account_id},
            )
    await engine.dispose()


BASE = "https://api.twilio.com"


ACCOUNT_URL = f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}.json"


NUMBERS_URL = f"{BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json"


SERVICE_URL = f"https://messaging.twilio.com/v1/Services/{MG_SID}"


async def verify(api: Api, key: str, account_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.data(key, VERIFY, {"id": account_id}))["verifySmsAccount"]
    return payload


async def verdict(api: Api, key: str, account_id: str) -> dict[str, Any]:
    """Wait for the background check to finish; the account as the card then shows it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found: dict[str, Any] = (await api.data(key, ACCOUNT, {"id": account_id}))["smsAccount"]
        if found["status"] != "VERIFYING":
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("the verification did not finish")


def twilio_answers(
    twilio: respx.Router,
    *,
    account_reply: Any = None,
    numbers_reply: Any = None,
    service_reply: Any = None,
) -> dict[str, respx.Route]:
    routes = {
        "account": twilio.get(ACCOUNT_URL).mock(
            side_effect=_checked(account_reply or httpx.Response(200, json=account()))
        ),
        "numbers": twilio.get(NUMBERS_URL).mock(
            side_effect=_checked(
                numbers_reply or httpx.Response(200, json=incoming_numbers((PHONE, True)))
            )
        ),
        "service": twilio.get(SERVICE_URL).mock(
            side_effect=_checked(
                service_reply or httpx.Response(200, json=messaging_service(MG_SID))
            )
        ),
    }
    return routes


def _checked(reply: Any) -> Any:
    """Every request is checked against Twilio's spec before it is answered."""
    replies = list(reply) if isinstance(reply, list) else None

    def answer(request: httpx.Request) -> Any:
        assert_request_matches_spec(request)
        current = replies.pop(0) if replies else reply
        if isinstance(current, BaseException):
            raise current
        return current

    return answer


async def verified_card(api: Api, keys: Keys, **overrides: Any) -> dict[str, Any]:
    await enable(api, keys.admin)
    card = await added(api, keys.admin, **overrides)
    started = await verify(api, keys.admin, card["id"])
    assert started["errors"] == []
    assert started["message"] == "Verification process started"
    assert started["account"]["status"] == "VERIFYING"
    return await verdict(api, keys.admin, card["id"])
