"""One Twilio sender is connected once per workspace."""

from __future__ import annotations

import asyncio

from tests.conftest import ACCOUNT_SID, MG_SID, PHONE, Api, Keys
from tests.integration.documents import ACCOUNTS, REMOVE
from tests.integration.steps import add, added, enable, update

ALREADY = "This sender is already connected as 'Sales line'."
OTHER_SID = "AC" + "9" * 32


async def test_adding_the_same_account_sid_and_sender_twice_answers_sender_invalid(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Sales line")

    payload = await add(api, keys.admin, displayName="Sales line again")

    assert payload["account"] is None
    assert payload["errors"] == [{"field": "senderId", "code": "INVALID", "message": ALREADY}]
    page = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]
    assert page["stats"]["connected"] == 1


async def test_the_same_sender_under_another_account_sid_or_another_sender_is_fine(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Sales line")
    await added(api, keys.admin, clientId=OTHER_SID)
    await added(api, keys.admin, senderId=MG_SID)


async def test_a_removed_account_does_not_count(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    first = await added(api, keys.admin, displayName="Sales line")
    await api.data(keys.admin, REMOVE, {"id": first["id"]})

    again = await add(api, keys.admin)

    assert again["errors"] == []


async def test_an_update_that_would_duplicate_a_sender_is_refused_and_changes_nothing(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Sales line")
    other = await added(api, keys.admin, senderId=MG_SID, displayName="Marketing")

    payload = await update(api, keys.admin, other["id"], senderId=PHONE, displayName="Renamed")

    assert payload["errors"] == [{"field": "senderId", "code": "INVALID", "message": ALREADY}]
    page = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]
    unchanged = next(node for node in page["nodes"] if node["id"] == other["id"])
    assert unchanged["senderId"] == MG_SID
    assert unchanged["displayName"] == "Marketing"


async def test_renaming_or_resaving_an_account_is_not_a_duplicate_of_itself(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    account = await added(api, keys.admin, displayName="Sales line")

    payload = await update(
        api, keys.admin, account["id"], senderId=PHONE, clientId=ACCOUNT_SID, displayName="New"
    )

    assert payload["errors"] == []
    assert payload["account"]["displayName"] == "New"


async def test_another_workspace_may_connect_the_same_sender(
    api: Api, keys: Keys, other_keys: Keys
) -> None:
    await enable(api, keys.admin)
    await added(api, keys.admin, displayName="Sales line")
    await enable(api, other_keys.admin)

    assert (await add(api, other_keys.admin))["errors"] == []


async def test_two_simultaneous_adds_of_one_sender_connect_it_once(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)

    answers = await asyncio.gather(*(add(api, keys.admin) for _ in range(4)))

    assert sorted(len(answer["errors"]) for answer in answers) == [0, 1, 1, 1]
    page = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]
    assert page["stats"]["connected"] == 1
