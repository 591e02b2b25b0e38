"""Text that is not text: lone surrogates, NUL and control characters are refused as INVALID,
look-alike digits are not digits, malformed ids read as not found, and cursors cannot be forged."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import ACCOUNT_SID, Api, Keys, account_input
from tests.integration.documents import ACCOUNT, ACCOUNTS, ADD, REMOVE, UPDATE, VERIFY
from tests.integration.messaging import (
    MESSAGES,
    SEND,
    TO,
    created_message,
    twilio_sends,
    verified_account,
)
from tests.integration.steps import added, enable
from tests.twilio_fixtures import error

NOT_TEXT = ["a\x00b", "a\ud800b", "\udfff", "a\x1b[31mb", "a\x85b", "a\x7fb", "a\tb"]
ARABIC_INDIC_TO = "+١٤١٥٥٥٥٠١٠٠"  # +14155550100 in Arabic-Indic digits


async def post(api: Api, key: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    """JSON as the standard allows it: "\\ud800" escapes decode to a lone surrogate."""
    return await api.http.post(
        "/graphql",
        content=json.dumps({"query": query, "variables": variables}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


async def run(api: Api, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await post(api, key, query, variables)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def problems(result: dict[str, Any], field: str) -> list[tuple[str, str]]:
    assert "errors" not in result, result
    return [(e["field"], e["code"]) for e in result["data"][field]["errors"]]


async def account_count(api: Api, keys: Keys) -> int:
    return len((await api.data(keys.admin, ACCOUNTS))["smsAccounts"]["nodes"])


@pytest.mark.parametrize("bad", NOT_TEXT)
@pytest.mark.parametrize(
    "field", ["displayName", "senderId", "dltEntityId", "clientId", "authToken", "baseUrl"]
)
async def test_adding_an_account_with_text_that_is_not_text_is_invalid_and_stores_nothing(
    api: Api, keys: Keys, field: str, bad: str
) -> None:
    await enable(api, keys.admin)

    result = await run(api, keys.admin, ADD, {"input": account_input(**{field: bad})})

    assert problems(result, "addSmsAccount") == [(field, "INVALID")]
    assert await account_count(api, keys) == 0


@pytest.mark.parametrize("bad", NOT_TEXT)
@pytest.mark.parametrize(
    "field", ["displayName", "senderId", "dltEntityId", "clientId", "authToken", "baseUrl"]
)
async def test_editing_an_account_with_text_that_is_not_text_is_invalid_and_changes_nothing(
    api: Api, keys: Keys, field: str, bad: str
) -> None:
    await enable(api, keys.admin)
    card = await added(api, keys.admin)

    result = await run(api, keys.admin, UPDATE, {"id": card["id"], "input": {field: bad}})

    assert problems(result, "updateSmsAccount") == [(field, "INVALID")]
    after = (await api.data(keys.admin, ACCOUNT, {"id": card["id"]}))["smsAccount"]
    assert after == card


@pytest.mark.parametrize("bad", NOT_TEXT)
@pytest.mark.parametrize(
    ("document", "field", "variables"),
    [
        (UPDATE, "updateSmsAccount", {"input": {"displayName": "x"}}),
        (REMOVE, "removeSmsAccount", {}),
        (VERIFY, "verifySmsAccount", {}),
    ],
)
async def test_an_id_that_is_not_text_is_invalid(
    api: Api, keys: Keys, document: str, field: str, variables: dict[str, Any], bad: str
) -> None:
    await enable(api, keys.admin)

    result = await run(api, keys.admin, document, {"id": bad, **variables})

    assert problems(result, field) == [("id", "INVALID")]


@pytest.mark.parametrize("bad", NOT_TEXT)
@pytest.mark.parametrize("field", ["accountId", "to"])
async def test_sending_with_text_that_is_not_text_is_invalid_and_sends_nothing(
    api: Api, keys: Keys, twilio: respx.Router, field: str, bad: str
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))
    fields = {"accountId": card["id"], "to": TO, "body": "hi", field: bad}

    result = await run(api, keys.admin, SEND, {"input": fields})

    assert problems(result, "sendSms") == [(field, "INVALID")]
    assert route.call_count == 0
    assert (await api.data(keys.admin, MESSAGES))["smsMessages"]["edges"] == []


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "a\x1bb", "a\x0bb"])
async def test_an_sms_body_refuses_control_characters(
    api: Api, keys: Keys, twilio: respx.Router, bad: str
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(twilio, httpx.Response(201, json=created_message()))

    result = await run(
        api, keys.admin, SEND, {"input": {"accountId": card["id"], "to": TO, "body": bad}}
    )

    assert problems(result, "sendSms") == [("body", "INVALID")]
    assert route.call_count == 0


async def test_an_sms_body_keeps_line_breaks_and_tabs(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(201, json=created_message()))
    body = "Line one\r\nLine\ttwo\n"

    result = await run(
        api, keys.admin, SEND, {"input": {"accountId": card["id"], "to": TO, "body": body}}
    )

    assert problems(result, "sendSms") == []
    assert result["data"]["sendSms"]["message"]["body"] == body


async def test_a_forbidden_caller_with_bad_text_still_gets_forbidden(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)

    result = await run(api, keys.sales, ADD, {"input": account_input(displayName="a\ud800")})

    assert result["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert result["data"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("senderId", "+١٤١٥٥٥٥٠١٢٣"),
        ("senderId", "+１４１５５５５０１２３"),  # fullwidth digits
        ("dltEntityId", "١٢٣٤٥"),
        ("dltEntityId", "১২৩"),  # Bengali digits
    ],
)
async def test_phone_numbers_and_dlt_entity_ids_take_ascii_digits_only(
    api: Api, keys: Keys, field: str, value: str
) -> None:
    await enable(api, keys.admin)

    result = await run(api, keys.admin, ADD, {"input": account_input(**{field: value})})

    assert problems(result, "addSmsAccount") == [(field, "INVALID")]


async def test_no_spelling_of_an_opted_out_number_reaches_twilio(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    route = twilio_sends(twilio, httpx.Response(400, json=error(21610, 400)))
    await run(api, keys.admin, SEND, {"input": {"accountId": card["id"], "to": TO, "body": "x"}})

    outcomes = []
    for spelling in (TO, f"  {TO}\n", ARABIC_INDIC_TO, "+１４１５５５５０１００"):
        result = await run(
            api, keys.admin, SEND, {"input": {"accountId": card["id"], "to": spelling, "body": "x"}}
        )
        outcomes.append(problems(result, "sendSms"))

    assert route.call_count == 1
    assert outcomes == [
        [("to", "RECIPIENT_OPTED_OUT")],
        [("to", "RECIPIENT_OPTED_OUT")],
        [("to", "INVALID")],
        [("to", "INVALID")],
    ]


@pytest.mark.parametrize(
    "bad_id", ["nope", "", "' OR '1'='1", "a\x00", "\ud800", "x" * 5000, ACCOUNT_SID]
)
async def test_a_malformed_id_reads_as_not_found(
    api: Api, keys: Keys, twilio: respx.Router, bad_id: str
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(201, json=created_message()))
    await run(api, keys.admin, SEND, {"input": {"accountId": card["id"], "to": TO, "body": "x"}})

    account = await run(api, keys.admin, ACCOUNT, {"id": bad_id})
    listed = await run(api, keys.admin, MESSAGES, {"accountId": bad_id})

    assert account == {"data": {"smsAccount": None}}
    assert listed["data"]["smsMessages"]["edges"] == []
    assert "errors" not in listed


@pytest.mark.parametrize("bad_id", ["nope", "' OR '1'='1", "x" * 5000])
async def test_mutations_on_a_malformed_id_answer_not_found(
    api: Api, keys: Keys, bad_id: str
) -> None:
    await enable(api, keys.admin)

    for document, field in ((REMOVE, "removeSmsAccount"), (VERIFY, "verifySmsAccount")):
        result = await run(api, keys.admin, document, {"id": bad_id})
        assert problems(result, field) == [("id", "NOT_FOUND")]


async def first_page_cursor(api: Api, keys: Keys, twilio: respx.Router) -> str:
    card = await verified_account(api, keys, twilio)
    sids = iter(f"SM{n:032x}" for n in range(1, 10))
    twilio_sends(twilio, lambda: httpx.Response(201, json=created_message(next(sids))))
    for text in ("one", "two"):
        await run(
            api, keys.admin, SEND, {"input": {"accountId": card["id"], "to": TO, "body": text}}
        )
    page = (await api.data(keys.admin, MESSAGES, {"first": 1}))["smsMessages"]
    cursor: str = page["pageInfo"]["endCursor"]
    return cursor


async def test_a_cursor_is_opaque_and_still_pages(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    cursor = await first_page_cursor(api, keys, twilio)

    page = (await api.data(keys.admin, MESSAGES, {"after": cursor}))["smsMessages"]

    assert [edge["node"]["body"] for edge in page["edges"]] == ["one"]
    newest_id = (await api.data(keys.admin, MESSAGES, {"first": 1}))["smsMessages"]["edges"][0]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert newest_id["node"]["id"].encode() not in decoded


async def test_a_forged_or_malformed_cursor_is_bad_user_input(
    api: Api, keys: Keys, other_keys: Keys, twilio: respx.Router
) -> None:
    cursor = await first_page_cursor(api, keys, twilio)
    forged = base64.urlsafe_b64encode(b"2999-01-01T00:00:00+00:00|x").decode().rstrip("=")
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")

    for bad in (forged, tampered, cursor[:20], "not-a-cursor", "\ud800", "a\x00", "===="):
        result = await run(api, keys.admin, MESSAGES, {"after": bad})
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad
    # A cursor is the workspace's own: another workspace cannot use it.
    elsewhere = await run(api, other_keys.admin, MESSAGES, {"after": cursor})
    assert elsewhere["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "body",
    [
        '{"query": "query { smsAccount(id: \\"\\ud800\\") { id } }"}',
        '{"query": "query { smsAccount(id: \\"\\\\ud800\\") { id } }"}',
        '{"query": "query \\ud800 { smsIntegration { enabled } }"}',
        '{"query": "# \\ud800\\n{ smsIntegration { enabled } }"}',
        '{"query": "{ smsIntegration { enabled } }", "operationName": "\\ud800"}',
        '{"query": "query($i: ID!) { smsAccount(id: $i) { id } }", "variables": {"i": "\\udc00"}}',
        '{"query": "query($i: ID!) { smsAccount(id: $i) { id } }", "variables": {"\\ud800": 1}}',
        '{"query": "{ smsIntegration { enabled } }", "extensions": {"\\ud800": "\\ud800"}}',
        '{"query": "{ \\ud800 }"}',
    ],
)
async def test_text_that_is_not_valid_text_never_answers_500(
    api: Api, keys: Keys, body: str
) -> None:
    response = await api.http.post(
        "/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {keys.admin}", "Content-Type": "application/json"},
    )

    assert response.status_code < 500, response.text
    assert "INTERNAL" not in response.text
    response.content.decode("utf-8")  # what comes back is valid text
