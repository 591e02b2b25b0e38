"""Delivery reports are checked with the account's secrets remembered in memory, and the
account version they were read at is checked when the report is written: an edit or a removal
counts from the very next report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text

from tests.conftest import AUTH_TOKEN, Api, Keys
from tests.integration.documents import REMOVE, UPDATE
from tests.integration.messaging import (
    PUBLIC_URL,
    sent,
    signed_post,
    status_params,
    twilio_accepts_sends,
)
from tests.integration.messaging import verified_account as verified
from tests.integration.steps import added, enable

NEW_TOKEN = "n" * 32


@pytest.fixture
async def api(make_api: Any) -> AsyncIterator[Api]:
    async with make_api(public_url=PUBLIC_URL) as built:
        yield built


async def report(
    api: Api, account_id: str, message: dict[str, Any], status: str, token: str = AUTH_TOKEN
) -> httpx.Response:
    path = f"/webhooks/twilio/{account_id}/status?mid={message['id']}"
    response: httpx.Response = await signed_post(
        api, path, status_params(status, sid=message["providerMessageId"]), token=token
    )
    return response


async def status_in_database(api: Api, message_id: str) -> str:
    async with api.runtime.services.reads() as session:
        found = await session.execute(
            text("SELECT status FROM sms_messages WHERE id = :id"), {"id": message_id}
        )
        return str(found.scalar_one())


async def test_an_edited_auth_token_signs_the_very_next_report_and_the_old_one_no_longer_does(
    make_api: Any, keys: Keys, twilio: respx.Router
) -> None:
    async with make_api(public_url=PUBLIC_URL, webhook_token_grace_seconds=0) as api:
        account = await verified(api, keys, twilio)
        twilio_accepts_sends(twilio)
        first, second = await sent(api, keys.marketer, account["id"], 2)
        assert (await report(api, account["id"], first, "sent")).status_code == 204

        await api.data(keys.admin, UPDATE, {"id": account["id"], "input": {"authToken": NEW_TOKEN}})

        old = await report(api, account["id"], first, "delivered")
        new = await report(api, account["id"], second, "delivered", token=NEW_TOKEN)
        assert (old.status_code, new.status_code) == (403, 204)
        assert await status_in_database(api, first["id"]) == "SENT"
        assert await status_in_database(api, second["id"]) == "DELIVERED"


async def test_a_removed_accounts_reports_are_refused_at_once(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    account = await verified(api, keys, twilio)
    twilio_accepts_sends(twilio)
    [message] = await sent(api, keys.marketer, account["id"], 1)
    assert (await report(api, account["id"], message, "sent")).status_code == 204

    await api.data(keys.admin, REMOVE, {"id": account["id"]})

    assert (await report(api, account["id"], message, "delivered")).status_code == 403
    assert await status_in_database(api, message["id"]) == "SENT"


async def test_an_edit_by_another_replica_counts_from_the_next_report(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    """Nothing tells this process about the edit: the write's own check of the version finds
    it."""
    account = await verified(api, keys, twilio)
    twilio_accepts_sends(twilio)
    [message] = await sent(api, keys.marketer, account["id"], 1)
    assert (await report(api, account["id"], message, "sent")).status_code == 204
    async with api.runtime.services.writes() as session:
        await session.execute(
            text(
                "UPDATE sms_accounts SET removed_at = updated_at,"
                " credentials_version = credentials_version + 1 WHERE id = :id"
            ),
            {"id": account["id"]},
        )
        await session.commit()

    assert (await report(api, account["id"], message, "delivered")).status_code == 403
    assert await status_in_database(api, message["id"]) == "SENT"


async def test_a_remembered_signer_is_used_without_reading_the_token_again(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    """The stored token made unreadable behind the app's back, its version unchanged: reports
    are still checked with the secret read before (a new version would have been read anew)."""
    account = await verified(api, keys, twilio)
    twilio_accepts_sends(twilio)
    [message] = await sent(api, keys.marketer, account["id"], 1)
    assert (await report(api, account["id"], message, "sent")).status_code == 204
    async with api.runtime.services.writes() as session:
        await session.execute(
            text("UPDATE sms_accounts SET auth_token_ciphertext = 'v1:x' WHERE id = :id"),
            {"id": account["id"]},
        )
        await session.commit()

    assert (await report(api, account["id"], message, "delivered")).status_code == 204
    assert await status_in_database(api, message["id"]) == "DELIVERED"


async def test_at_most_the_configured_number_of_signers_is_remembered(
    make_api: Any, keys: Keys
) -> None:
    async with make_api(public_url=PUBLIC_URL, webhook_signers_remembered=2) as api:
        await enable(api, keys.admin)
        accounts = [await added(api, keys.admin, senderId=f"+1415555020{n}") for n in range(3)]

        for _ in range(2):  # the second round reads again the signer the third one pushed out
            for account in accounts:
                path = f"/webhooks/twilio/{account['id']}/status"
                answer = await signed_post(api, path, status_params("sent"))
                assert answer.status_code == 204

        assert len(api.runtime.services.signers) == 2
