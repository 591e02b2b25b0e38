"""The SMS Accounts page through GraphQL: add, edit, remove, stats."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    MG_SID,
    PHONE,
    Api,
    Keys,
    phone,
)
from tests.integration.documents import ACCOUNT, ACCOUNTS, ADD, REMOVE
from tests.integration.steps import add, added, enable, mark_verified, update


async def test_adding_an_account_saves_a_draft_card(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, dltEntityId="1201159143214758390")

    assert payload["errors"] == []
    assert payload["message"] == "SMS Account added successfully"
    account = payload["account"]
    assert account["status"] == "DRAFT"
    assert account["provider"] == "TWILIO"
    assert account["displayName"] == f"Twilio {PHONE}"
    assert account["senderId"] == PHONE
    assert account["senderKind"] == "PHONE_NUMBER"
    assert account["clientId"] == ACCOUNT_SID
    assert account["dltEntityId"] == "1201159143214758390"
    assert account["authTokenHint"] == "••••" + AUTH_TOKEN[-4:]
    assert account["baseUrl"] == "https://api.twilio.com/"
    assert account["failure"] is None
    assert account["failureMessage"] is None
    assert account["trial"] is None
    assert account["verifiedAt"] is None
    assert account["inboundWebhookUrl"] is None
    assert account["createdAt"] == account["updatedAt"]
    assert account["createdAt"].endswith("+00:00")


async def test_a_messaging_service_sid_is_a_messaging_service_sender(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, senderId=MG_SID, displayName="  Marketing SMS ")
    assert account["senderKind"] == "MESSAGING_SERVICE"
    assert account["displayName"] == "Marketing SMS"


async def test_fields_are_trimmed_before_they_are_checked(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(
        api,
        keys.admin,
        senderId=f"  {PHONE}\t",
        clientId=f" {ACCOUNT_SID} ",
        authToken=f"\n{AUTH_TOKEN} ",
        dltEntityId=" 12345 ",
    )
    assert account["senderId"] == PHONE
    assert account["clientId"] == ACCOUNT_SID
    assert account["dltEntityId"] == "12345"
    assert account["authTokenHint"].endswith(AUTH_TOKEN[-4:])


async def test_a_regional_base_url_is_kept(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, baseUrl="https://api.dublin.ie1.twilio.com")
    assert account["baseUrl"] == "https://api.dublin.ie1.twilio.com/"


async def test_an_empty_display_name_defaults_to_twilio_and_the_sender(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="   ")
    assert account["displayName"] == f"Twilio {PHONE}"


async def test_the_inbound_webhook_url_is_built_from_the_public_url(
    make_api: Any, keys: Keys
) -> None:
    async with make_api(public_url="https://sms.example.com/") as api:
        await enable(api, keys.admin)
        account = await added(api, keys.admin)
    assert account["inboundWebhookUrl"] == (
        f"https://sms.example.com/webhooks/twilio/{account['id']}/inbound"
    )


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"senderId": ""}, "senderId", "REQUIRED"),
        ({"senderId": "   "}, "senderId", "REQUIRED"),
        ({"senderId": "14155550123"}, "senderId", "INVALID"),
        ({"senderId": "+04155550123"}, "senderId", "INVALID"),
        ({"senderId": "+1"}, "senderId", "INVALID"),
        ({"senderId": "+1234567890123456"}, "senderId", "INVALID"),
        ({"senderId": "+1 415 555 0123"}, "senderId", "INVALID"),
        ({"senderId": "MG123"}, "senderId", "INVALID"),
        ({"senderId": "MG" + "g" * 32}, "senderId", "INVALID"),
        ({"senderId": "PN" + "0" * 32}, "senderId", "INVALID"),
        ({"clientId": ""}, "clientId", "REQUIRED"),
        ({"clientId": "AC123"}, "clientId", "INVALID"),
        ({"clientId": "AC" + "0" * 33}, "clientId", "INVALID"),
        ({"clientId": "SK" + "0" * 32}, "clientId", "INVALID"),
        ({"clientId": "ac" + "0" * 32}, "clientId", "INVALID"),
        ({"authToken": ""}, "authToken", "REQUIRED"),
        ({"authToken": "  "}, "authToken", "REQUIRED"),
        ({"authToken": "abc def"}, "authToken", "INVALID"),
        ({"authToken": "a" * 129}, "authToken", "INVALID"),
        ({"baseUrl": "ftp://api.twilio.com/"}, "baseUrl", "INVALID"),
        ({"baseUrl": "api.twilio.com"}, "baseUrl", "INVALID"),
        ({"baseUrl": "http://api.twilio.com/"}, "baseUrl", "INVALID"),
        ({"baseUrl": "https://evil.example.com/"}, "baseUrl", "INVALID"),
        ({"dltEntityId": "12ab"}, "dltEntityId", "INVALID"),
        ({"dltEntityId": "1" * 31}, "dltEntityId", "INVALID"),
        ({"dltEntityId": "-1"}, "dltEntityId", "INVALID"),
        ({"displayName": "x" * 101}, "displayName", "INVALID"),
        ({"displayName": "two\nlines"}, "displayName", "INVALID"),
    ],
)
async def test_each_malformed_field_is_refused_with_its_code_and_stores_nothing(
    api: Api, keys: Keys, overrides: dict[str, str], field: str, code: str
) -> None:
    await enable(api, keys.admin)
    payload = await add(api, keys.admin, **overrides)

    assert payload["account"] is None
    assert payload["message"] is None
    assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, code)]
    assert len(payload["errors"][0]["message"]) > 20
    listing = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]
    assert listing["nodes"] == []


async def test_tokens_of_other_shapes_than_32_hex_are_accepted(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    for number, token in enumerate(("a" * 128, "Zx9-_.~!long-token-from-a-new-format", "x")):
        added = await add(api, keys.admin, authToken=token, senderId=phone(number))
        assert added["errors"] == []


async def test_edge_lengths_are_accepted(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(
        api,
        keys.admin,
        senderId="+" + "9" * 15,
        displayName="n" * 100,
        dltEntityId="1" * 30,
    )
    assert account["displayName"] == "n" * 100


async def test_every_field_problem_is_reported_at_once(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    payload = await add(
        api,
        keys.admin,
        senderId="nope",
        clientId="",
        authToken="has space",
        baseUrl="https://user@api.twilio.com/",
        dltEntityId="x",
        displayName="d" * 101,
    )
    assert {(error["field"], error["code"]) for error in payload["errors"]} == {
        ("senderId", "INVALID"),
        ("clientId", "REQUIRED"),
        ("authToken", "INVALID"),
        ("baseUrl", "INVALID"),
        ("dltEntityId", "INVALID"),
        ("displayName", "INVALID"),
    }


async def test_a_missing_required_input_field_is_a_graphql_error_not_a_500(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    # clientId is optional in the schema (MSG91 has none): the server reports it REQUIRED for
    # Twilio (tests/integration/test_msg91.py); authToken is required by the schema itself.
    variables = {"input": {"provider": "TWILIO", "senderId": PHONE, "clientId": AUTH_TOKEN}}
    response = await api.post(keys.admin, ADD, variables)
    assert response.status_code in (200, 400)
    body = response.json()
    assert body["errors"]
    assert AUTH_TOKEN not in response.text


async def test_a_draft_shows_up_in_the_stat_row(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    before = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]["stats"]
    await added(api, keys.admin)
    await added(api, keys.admin, senderId=MG_SID)
    after = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]

    assert before == {"connected": 0, "verified": 0, "awaitingAction": 0}
    assert after["stats"] == {"connected": 2, "verified": 0, "awaitingAction": 2}
    assert [node["senderId"] for node in after["nodes"]] == [PHONE, MG_SID]


async def test_the_accounts_page_costs_the_same_queries_for_two_or_twenty_accounts(
    api: Api, keys: Keys, database_url: str
) -> None:
    from storage.db import sqlite_path

    await enable(api, keys.admin)

    async def statements_for_one_page() -> int:
        count = 0
        engine = api.runtime.database.engine

        def on_execute(*_: Any) -> None:
            nonlocal count
            count += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
        try:
            await api.data(keys.admin, ACCOUNTS)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", on_execute)
        return count

    for number in range(2):
        await added(api, keys.admin, senderId=phone(number))
    with_two = await statements_for_one_page()
    for number in range(2, 20):
        await added(api, keys.admin, senderId=phone(number))
    with_twenty = await statements_for_one_page()

    assert with_two == with_twenty
    assert with_twenty <= 2 + (2 if sqlite_path(database_url) else 0)


async def test_reading_one_account_by_id(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    found = (await api.data(keys.admin, ACCOUNT, {"id": account["id"]}))["smsAccount"]
    assert found == account


async def test_an_unknown_or_malformed_id_reads_as_null(api: Api, keys: Keys) -> None:
    for unknown in ("00000000-0000-0000-0000-000000000000", "not-an-id", "", "x" * 500):
        assert (await api.data(keys.admin, ACCOUNT, {"id": unknown}))["smsAccount"] is None


async def test_changing_the_auth_token_returns_the_account_to_draft(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    await mark_verified(database_url, account["id"])

    result = await update(api, keys.admin, account["id"], authToken="n3wT0ken" * 4)

    assert result["errors"] == []
    assert result["message"] == "SMS Account updated successfully"
    assert result["account"]["status"] == "DRAFT"
    assert result["account"]["failure"] is None
    assert result["account"]["verifiedAt"] is None
    assert result["account"]["trial"] is None
    assert result["account"]["authTokenHint"] == "••••0ken"


@pytest.mark.parametrize(
    "change",
    [
        {"clientId": "AC" + "a" * 32},
        {"senderId": MG_SID},
        {"baseUrl": "https://api.sydney.au1.twilio.com/"},
        {"dltEntityId": "777"},
        {"senderId": ""},
    ],
)
async def test_changing_a_credential_returns_a_verified_account_to_draft(
    api: Api, keys: Keys, database_url: str, change: dict[str, str]
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="Ops")
    await mark_verified(database_url, account["id"], failed=True)

    result = await update(api, keys.admin, account["id"], **change)

    assert result["errors"] == []
    assert result["account"]["status"] == "DRAFT"
    assert result["account"]["failure"] is None
    assert result["account"]["failureMessage"] is None


async def test_renaming_alone_keeps_a_verified_account_verified(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    await mark_verified(database_url, account["id"])

    result = await update(api, keys.admin, account["id"], displayName="India transactional")

    assert result["account"]["status"] == "VERIFIED"
    assert result["account"]["displayName"] == "India transactional"
    assert result["account"]["updatedAt"] > account["updatedAt"]


async def test_saving_the_edit_dialog_unchanged_keeps_the_status(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    await mark_verified(database_url, account["id"])

    result = await update(
        api,
        keys.admin,
        account["id"],
        displayName=account["displayName"],
        senderId=PHONE,
        clientId=ACCOUNT_SID,
        authToken=AUTH_TOKEN,
        baseUrl="https://api.twilio.com/",
        dltEntityId=None,
    )

    assert result["account"]["status"] == "VERIFIED"
    assert result["account"]["updatedAt"] == account["updatedAt"]


async def test_blanking_the_sender_disconnects_it_and_keeps_the_account(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="Support line")

    result = await update(api, keys.admin, account["id"], senderId="")

    assert result["account"]["senderId"] is None
    assert result["account"]["senderKind"] is None
    assert result["account"]["displayName"] == "Support line"
    listing = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]
    assert listing["stats"]["connected"] == 1


async def test_a_default_display_name_follows_a_new_sender(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    result = await update(api, keys.admin, account["id"], senderId=MG_SID)
    assert result["account"]["displayName"] == f"Twilio {MG_SID}"


async def test_an_update_is_validated_like_an_add_and_changes_nothing_when_refused(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)

    result = await update(
        api, keys.admin, account["id"], displayName="Fine", clientId="", authToken="a b"
    )

    assert result["account"] is None
    assert {(error["field"], error["code"]) for error in result["errors"]} == {
        ("clientId", "REQUIRED"),
        ("authToken", "INVALID"),
    }
    unchanged = (await api.data(keys.admin, ACCOUNT, {"id": account["id"]}))["smsAccount"]
    assert unchanged == account


async def test_updating_an_unknown_account_answers_not_found(api: Api, keys: Keys) -> None:
    result = await update(api, keys.admin, "00000000-0000-0000-0000-000000000000", displayName="x")
    assert result["account"] is None
    assert [(e["field"], e["code"]) for e in result["errors"]] == [("id", "NOT_FOUND")]


async def test_removing_an_account_takes_it_out_of_the_page_and_the_stats(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    kept = await added(api, keys.admin)
    gone = await added(api, keys.admin, senderId=MG_SID)

    result = (await api.data(keys.admin, REMOVE, {"id": gone["id"]}))["removeSmsAccount"]

    assert result["errors"] == []
    assert result["message"] == "SMS Account removed"
    assert result["account"]["id"] == gone["id"]
    listing = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]
    assert [node["id"] for node in listing["nodes"]] == [kept["id"]]
    assert listing["stats"] == {"connected": 1, "verified": 0, "awaitingAction": 1}
    assert (await api.data(keys.admin, ACCOUNT, {"id": gone["id"]}))["smsAccount"] is None
    again = (await api.data(keys.admin, REMOVE, {"id": gone["id"]}))["removeSmsAccount"]
    assert [e["code"] for e in again["errors"]] == ["NOT_FOUND"]
    edit = await update(api, keys.admin, gone["id"], displayName="back?")
    assert [e["code"] for e in edit["errors"]] == ["NOT_FOUND"]
