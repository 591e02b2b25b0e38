"""What errors say: crashes answer a reference, variables are never echoed, and Twilio's own
sentences never reach a client (only our words for its codes)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import text

from storage.db import create_engine
from tests.conftest import AUTH_TOKEN, Api, Keys, account_input
from tests.integration.documents import ACCOUNTS, ADD, UPDATE
from tests.integration.messaging import TO, created_message, send, twilio_sends, verified_account
from tests.integration.steps import enable
from tests.twilio_fixtures import error

TWILIOS_WORDS = "Upstream words <b>quoting +14155550100</b>"
MESSAGE_ERRORS = """
query Errors { smsMessages { edges { node { errorCode errorMessage } } } }
"""


async def run_sql(database_url: str, statement: str, **values: Any) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text(statement), values)
    await engine.dispose()


@asynccontextmanager
async def accounts_table_missing(database_url: str) -> AsyncIterator[None]:
    """A crash nobody expected: the accounts table is gone (and put back: PostgreSQL runs share
    one schema)."""
    await run_sql(database_url, "ALTER TABLE sms_accounts RENAME TO sms_accounts_away")
    try:
        yield
    finally:
        await run_sql(database_url, "ALTER TABLE sms_accounts_away RENAME TO sms_accounts")


async def test_a_crash_answers_a_reference_that_the_log_line_carries_with_its_traceback(
    api: Api, keys: Keys, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await enable(api, keys.admin)
    with caplog.at_level(logging.ERROR):
        async with accounts_table_missing(database_url):
            result = await api.run(keys.admin, ACCOUNTS)

    [crash] = result["errors"]
    ref = crash["extensions"]["ref"]
    assert crash["message"] == f"Unexpected error (ref {ref})."
    assert crash["extensions"] == {"code": "INTERNAL", "ref": ref}
    assert "sms_accounts" not in str(result)
    [logged] = [record for record in caplog.records if ref in record.getMessage()]
    assert logged.exc_info is not None
    assert "Traceback" in caplog.text


async def test_two_crashes_get_two_references(api: Api, keys: Keys, database_url: str) -> None:
    await enable(api, keys.admin)
    async with accounts_table_missing(database_url):
        first = await api.run(keys.admin, ACCOUNTS)
        second = await api.run(keys.admin, ACCOUNTS)

    assert first["errors"][0]["extensions"]["ref"] != second["errors"][0]["extensions"]["ref"]


async def test_expected_errors_keep_their_codes_and_fields(api: Api, keys: Keys) -> None:
    await enable(api, keys.admin)
    forbidden = await api.run(keys.sales, ADD, {"input": account_input()})
    invalid = await api.data(keys.admin, ADD, {"input": account_input(senderId="nope")})

    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert [(e["field"], e["code"]) for e in invalid["addSmsAccount"]["errors"]] == [
        ("senderId", "INVALID")
    ]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"input": {**account_input(), "provider": AUTH_TOKEN}},
            "Variable '$input' has an invalid value at 'input.provider': "
            "expected a 'SmsProvider' value.",
        ),
        (
            {"input": {**account_input(), "authToken": [AUTH_TOKEN]}},
            "Variable '$input' has an invalid value at 'input.authToken': "
            "expected a value of type 'String'.",
        ),
        (
            {"input": {**account_input(), AUTH_TOKEN: AUTH_TOKEN}},
            "Variable '$input' has an invalid value at 'input': "
            "expected 'AddSmsAccountInput' without unknown fields.",
        ),
        (
            {"input": {"provider": "TWILIO", "senderId": AUTH_TOKEN, "clientId": AUTH_TOKEN}},
            "Variable '$input' has an invalid value at 'input': "
            "expected 'AddSmsAccountInput' to include its required field 'authToken'.",
        ),
        (
            {"input": AUTH_TOKEN},
            "Variable '$input' has an invalid value at 'input': expected 'AddSmsAccountInput'.",
        ),
    ],
)
async def test_a_variable_error_names_the_field_path_but_never_echoes_the_value(
    api: Api, keys: Keys, variables: dict[str, Any], expected: str
) -> None:
    result = await api.run(keys.admin, ADD, variables)

    assert [e["message"] for e in result["errors"]] == [expected]
    assert AUTH_TOKEN not in str(result)


async def test_a_variable_error_deep_in_an_update_names_its_path(api: Api, keys: Keys) -> None:
    result = await api.run(keys.admin, UPDATE, {"id": "x", "input": {"baseUrl": {"a": 1}}})

    assert result["errors"][0]["message"] == (
        "Variable '$input' has an invalid value at 'input.baseUrl': "
        "expected a value of type 'String'."
    )


async def test_an_unknown_twilio_code_is_named_and_linked_without_twilios_words(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(400, json=error(21999, 400, TWILIOS_WORDS)))

    result = await send(api, keys.admin, card["id"], TO, "hi")
    listed = await api.data(keys.admin, MESSAGE_ERRORS)

    sentence = result["message"]["errorMessage"]
    assert "21999" in sentence
    assert "https://www.twilio.com/docs/errors/21999" in sentence
    assert result["errors"][0]["message"] == f"Twilio rejected the message: {sentence}"
    assert listed["smsMessages"]["edges"][0]["node"]["errorMessage"] == sentence
    assert "Upstream" not in str(result) + str(listed)


async def test_a_known_twilio_code_reads_as_our_catalogue_sentence(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(400, json=error(21614, 400, TWILIOS_WORDS)))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert result["message"]["errorMessage"] == "The To number cannot receive SMS."
    assert result["errors"][0]["message"] == (
        "Twilio rejected the message: The To number cannot receive SMS."
    )


async def test_an_accepted_send_with_twilios_error_text_shows_only_our_sentence(
    api: Api, keys: Keys, twilio: respx.Router
) -> None:
    card = await verified_account(api, keys, twilio)
    reply = created_message(status="failed", error_code=30007, error_message=TWILIOS_WORDS)
    twilio_sends(twilio, httpx.Response(201, json=reply))

    result = await send(api, keys.admin, card["id"], TO, "hi")

    assert result["message"]["errorCode"] == 30007
    assert result["message"]["errorMessage"] == (
        "The carrier filtered the message as spam or unwanted."
    )


async def test_messages_stored_with_twilios_words_do_not_show_them(
    api: Api, keys: Keys, twilio: respx.Router, database_url: str
) -> None:
    card = await verified_account(api, keys, twilio)
    twilio_sends(twilio, httpx.Response(201, json=created_message()))
    await send(api, keys.admin, card["id"], TO, "with a code")
    twilio_sends(twilio, httpx.Response(201, json=created_message(sid="SM" + "b" * 32)))
    await send(api, keys.admin, card["id"], TO, "without a code")
    # Rows written before this change kept Twilio's own sentence.
    await run_sql(
        database_url,
        "UPDATE sms_messages SET error_message = :words, "
        "error_code = CASE WHEN body = 'with a code' THEN 21211 ELSE NULL END",
        words=TWILIOS_WORDS,
    )

    listed = await api.data(keys.admin, MESSAGE_ERRORS)

    shown = sorted(
        (edge["node"]["errorCode"] or 0, edge["node"]["errorMessage"])
        for edge in listed["smsMessages"]["edges"]
    )
    assert shown == [(0, None), (21211, "The To number is not a valid phone number.")]
