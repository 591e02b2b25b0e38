"""sendRatePerSecond through GraphQL: each sender kind's default, an admin's choice, the range."""

from __future__ import annotations

from typing import Any

from tests.conftest import MG_SID, Api, Keys, account_input
from tests.integration.steps import enable

ADD = """
mutation Add($input: AddSmsAccountInput!) {
  addSmsAccount(input: $input) {
    account { id senderKind sendRatePerSecond status }
    errors { field code message }
  }
}
"""

UPDATE = """
mutation Update($id: ID!, $input: UpdateSmsAccountInput!) {
  updateSmsAccount(id: $id, input: $input) {
    account { id sendRatePerSecond status }
    errors { field code message }
  }
}
"""


async def add(api: Api, keys: Keys, **fields: Any) -> dict[str, Any]:
    variables = {"input": account_input(**fields)}
    payload: dict[str, Any] = (await api.data(keys.admin, ADD, variables))["addSmsAccount"]
    return payload


async def test_a_phone_number_sends_1_segment_a_second_and_a_messaging_service_10(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    phone = await add(api, keys)
    service = await add(api, keys, senderId=MG_SID)
    assert phone["account"]["sendRatePerSecond"] == 1.0
    assert service["account"]["sendRatePerSecond"] == 10.0


async def test_an_admin_sets_the_rate_on_add_and_changes_it_on_update(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    added = (await add(api, keys, sendRatePerSecond=3))["account"]
    assert added["sendRatePerSecond"] == 3.0
    variables = {"id": added["id"], "input": {"sendRatePerSecond": 0.1}}
    changed = (await api.data(keys.admin, UPDATE, variables))["updateSmsAccount"]
    assert changed["errors"] == []
    assert changed["account"]["sendRatePerSecond"] == 0.1


async def test_a_rate_outside_a_tenth_to_500_is_a_field_error_and_nothing_is_saved(
    api: Api, keys: Keys
) -> None:
    await enable(api, keys.admin)
    refused = await add(api, keys, sendRatePerSecond=501)
    assert refused["account"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("sendRatePerSecond", "INVALID")
    ]
    assert "from 0.1 to 500" in refused["errors"][0]["message"]
    account = (await add(api, keys))["account"]
    variables = {"id": account["id"], "input": {"sendRatePerSecond": 0}}
    kept = (await api.data(keys.admin, UPDATE, variables))["updateSmsAccount"]
    assert [e["code"] for e in kept["errors"]] == ["INVALID"]
