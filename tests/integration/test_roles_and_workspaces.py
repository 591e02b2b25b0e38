"""Keys, roles and workspaces: who may run what, and nobody sees another workspace."""

from __future__ import annotations

from typing import Any

import pytest

from domain.vocabulary import Role
from tests.conftest import Api, Keys, account_input
from tests.integration.documents import (
    ACCOUNT,
    ACCOUNTS,
    ADD,
    INTEGRATION,
    PROVIDERS,
    REMOVE,
    SENDERS,
    SET_ENABLED,
    UPDATE,
)

UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"

# Every operation of this part, with the variables it needs and the roles that may run it.
OPERATIONS: list[tuple[str, str, dict[str, Any], set[Role]]] = [
    ("smsIntegration", INTEGRATION, {}, {Role.ADMIN, Role.MARKETER, Role.SALES}),
    ("smsProviders", PROVIDERS, {}, {Role.ADMIN}),
    ("smsAccounts", ACCOUNTS, {}, {Role.ADMIN}),
    ("smsAccount", ACCOUNT, {"id": UNKNOWN_ID}, {Role.ADMIN}),
    ("smsSenders", SENDERS, {}, {Role.ADMIN, Role.MARKETER}),
    ("setSmsIntegrationEnabled", SET_ENABLED, {"enabled": True}, {Role.ADMIN}),
    ("addSmsAccount", ADD, {"input": account_input()}, {Role.ADMIN}),
    ("updateSmsAccount", UPDATE, {"id": UNKNOWN_ID, "input": {"displayName": "x"}}, {Role.ADMIN}),
    ("removeSmsAccount", REMOVE, {"id": UNKNOWN_ID}, {Role.ADMIN}),
]


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
@pytest.mark.parametrize(
    ("operation", "document", "variables", "allowed"),
    OPERATIONS,
    ids=[operation[0] for operation in OPERATIONS],
)
async def test_each_role_runs_exactly_the_operations_it_may(
    api: Api,
    keys: Keys,
    role: Role,
    operation: str,
    document: str,
    variables: dict[str, Any],
    allowed: set[Role],
) -> None:
    result = await api.run(keys.of(role), document, variables)

    if role in allowed:
        assert "errors" not in result, result
        assert operation in result["data"]
    else:
        assert result["data"] is None or result["data"][operation] is None
        [error] = result["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert error["path"] == [operation]


async def test_a_forbidden_field_does_not_run_its_mutation(api: Api, keys: Keys) -> None:
    await api.data(keys.admin, SET_ENABLED, {"enabled": True})
    result = await api.run(keys.marketer, ADD, {"input": account_input()})
    assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]["nodes"] == []


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwdw==",
        "Bearer sms_00000000_unknown",
        "Bearer not-even-our-format",
        "Token abc",
    ],
)
async def test_a_request_without_a_live_key_gets_401_before_any_graphql(
    api: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await api.http.post("/graphql", json={"query": INTEGRATION}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_malformed_request_body_is_a_client_error_not_a_500(api: Api, keys: Keys) -> None:
    headers = {"Authorization": f"Bearer {keys.admin}", "content-type": "application/json"}
    for body in (b"{", b"[]", b'{"query": 5}', b'{"query": "{ nope }"}', b""):
        response = await api.http.post("/graphql", content=body, headers=headers)
        assert 400 <= response.status_code < 500 or (
            response.status_code == 200 and response.json()["errors"]
        ), (body, response.status_code, response.text)


async def test_the_scheme_is_case_insensitive(api: Api, keys: Keys) -> None:
    response = await api.http.post(
        "/graphql", json={"query": INTEGRATION}, headers={"Authorization": f"bearer {keys.sales}"}
    )
    assert response.status_code == 200


async def test_the_graphiql_page_opens_in_a_browser_without_a_key(api: Api) -> None:
    response = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_a_query_over_get_still_needs_a_key(api: Api) -> None:
    response = await api.http.get(
        "/graphql", params={"query": INTEGRATION}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 401


async def test_another_workspaces_account_behaves_like_one_that_does_not_exist(
    api: Api, keys: Keys, other_keys: Keys
) -> None:
    await api.data(keys.admin, SET_ENABLED, {"enabled": True})
    ours = (await api.data(keys.admin, ADD, {"input": account_input()}))["addSmsAccount"]
    account_id = ours["account"]["id"]

    theirs = other_keys.admin
    assert (await api.data(theirs, ACCOUNT, {"id": account_id}))["smsAccount"] is None
    listing = (await api.data(theirs, ACCOUNTS))["smsAccounts"]
    assert listing == {"stats": {"connected": 0, "verified": 0, "awaitingAction": 0}, "nodes": []}
    for document, variables, field in (
        (UPDATE, {"id": account_id, "input": {"displayName": "mine now"}}, "updateSmsAccount"),
        (REMOVE, {"id": account_id}, "removeSmsAccount"),
    ):
        payload = (await api.data(theirs, document, variables))[field]
        assert payload["account"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("id", "NOT_FOUND")]
        unknown = (await api.data(theirs, document, {**variables, "id": UNKNOWN_ID}))[field]
        assert unknown["errors"] == payload["errors"]

    still = (await api.data(keys.admin, ACCOUNT, {"id": account_id}))["smsAccount"]
    assert still == ours["account"]


async def test_the_integration_toggle_belongs_to_one_workspace(
    api: Api, keys: Keys, other_keys: Keys
) -> None:
    await api.data(keys.admin, SET_ENABLED, {"enabled": True})
    assert (await api.data(keys.sales, INTEGRATION))["smsIntegration"]["enabled"] is True
    assert (await api.data(other_keys.sales, INTEGRATION))["smsIntegration"]["enabled"] is False
