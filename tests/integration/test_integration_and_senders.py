"""The SMS integration toggle and the sender picker."""

from __future__ import annotations

from tests.conftest import MG_SID, PHONE, Api, Keys, account_input, phone
from tests.integration.documents import ADD, INTEGRATION, PROVIDERS, SENDERS, SET_ENABLED
from tests.integration.steps import added, enable, mark_verified, update


async def test_a_new_workspace_has_the_integration_off(api: Api, keys: Keys) -> None:
    assert (await api.data(keys.admin, INTEGRATION))["smsIntegration"] == {"enabled": False}


async def test_adding_an_account_while_the_integration_is_off_is_refused(
    api: Api, keys: Keys
) -> None:
    payload = (await api.data(keys.admin, ADD, {"input": account_input()}))["addSmsAccount"]
    assert payload["account"] is None
    assert [error["code"] for error in payload["errors"]] == ["INTEGRATION_DISABLED"]


async def test_the_toggle_answers_its_new_state_and_is_idempotent(api: Api, keys: Keys) -> None:
    for enabled in (True, True, False, False, True):
        payload = (await api.data(keys.admin, SET_ENABLED, {"enabled": enabled}))[
            "setSmsIntegrationEnabled"
        ]
        assert payload == {"integration": {"enabled": enabled}, "errors": []}
        assert (await api.data(keys.marketer, INTEGRATION))["smsIntegration"]["enabled"] is enabled


async def test_the_sender_picker_lists_verified_accounts_with_a_sender_by_display_name(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    zulu = await added(api, keys.admin, displayName="zulu promo", senderId=MG_SID)
    alpha = await added(api, keys.admin, displayName="Alpha alerts")
    draft = await added(api, keys.admin, displayName="Beta draft", senderId=phone(1))
    mid = await added(api, keys.admin, displayName="mid", senderId=phone(2))
    for account in (zulu, alpha, mid):
        await mark_verified(database_url, account["id"])
    await mark_verified(database_url, draft["id"], failed=True)

    senders = (await api.data(keys.marketer, SENDERS))["smsSenders"]

    assert senders == [
        {
            "accountId": alpha["id"],
            "displayName": "Alpha alerts",
            "provider": "TWILIO",
            "senderId": PHONE,
            "senderKind": "PHONE_NUMBER",
        },
        {
            "accountId": mid["id"],
            "displayName": "mid",
            "provider": "TWILIO",
            "senderId": phone(2),
            "senderKind": "PHONE_NUMBER",
        },
        {
            "accountId": zulu["id"],
            "displayName": "zulu promo",
            "provider": "TWILIO",
            "senderId": MG_SID,
            "senderKind": "MESSAGING_SERVICE",
        },
    ]


async def test_turning_the_integration_off_empties_the_picker_and_on_restores_it(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin)
    await mark_verified(database_url, account["id"])
    assert len((await api.data(keys.marketer, SENDERS))["smsSenders"]) == 1

    await api.data(keys.admin, SET_ENABLED, {"enabled": False})
    assert (await api.data(keys.marketer, SENDERS))["smsSenders"] == []
    statuses = (await api.data(keys.admin, "{ smsAccounts { nodes { status } } }"))["smsAccounts"]
    assert statuses["nodes"] == [{"status": "VERIFIED"}]

    await api.data(keys.admin, SET_ENABLED, {"enabled": True})
    assert [s["accountId"] for s in (await api.data(keys.marketer, SENDERS))["smsSenders"]] == [
        account["id"]
    ]


async def test_a_disconnected_or_removed_account_leaves_the_picker(
    api: Api, keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    first = await added(api, keys.admin, displayName="one")
    second = await added(api, keys.admin, displayName="two", senderId=phone(1))
    for account in (first, second):
        await mark_verified(database_url, account["id"])

    await update(api, keys.admin, first["id"], senderId="")
    await api.data(
        keys.admin,
        "mutation($id: ID!) { removeSmsAccount(id: $id) { errors { code } } }",
        {"id": second["id"]},
    )

    assert (await api.data(keys.marketer, SENDERS))["smsSenders"] == []


async def test_the_picker_never_shows_another_workspaces_senders(
    api: Api, keys: Keys, other_keys: Keys, database_url: str
) -> None:
    await enable(api, keys.admin)
    await enable(api, other_keys.admin)
    account = await added(api, keys.admin)
    await mark_verified(database_url, account["id"])
    assert (await api.data(other_keys.marketer, SENDERS))["smsSenders"] == []


async def test_the_providers_query_describes_the_add_dialog_in_form_order(
    api: Api, keys: Keys
) -> None:
    twilio, msg91 = (await api.data(keys.admin, PROVIDERS))["smsProviders"]
    fields = {field["name"]: field for field in twilio["fields"]}
    assert msg91["provider"] == "MSG91"  # its form: tests/integration/test_msg91.py

    assert twilio["provider"] == "TWILIO"
    assert twilio["label"] == "Twilio"
    assert [field["name"] for field in twilio["fields"]] == [
        "displayName",
        "senderId",
        "dltEntityId",
        "clientId",
        "authToken",
        "baseUrl",
    ]
    assert {name for name, field in fields.items() if field["required"]} == {
        "senderId",
        "clientId",
        "authToken",
    }
    assert {name for name, field in fields.items() if field["secret"]} == {"authToken"}
    assert fields["clientId"]["hint"] == "Account SID (Twilio)"
    assert fields["senderId"]["hint"] == "E.164 number (+1…) or Messaging Service SID (MG…)"
    assert fields["baseUrl"]["defaultValue"] == "https://api.twilio.com/"
    assert all(field["label"] for field in twilio["fields"])
