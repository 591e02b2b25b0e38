"""Fuzzing every query and mutation, seeded and bounded: valid and invalid documents (generated
from our schema by hypothesis-graphql) and hostile variables. Whatever arrives: no 5xx, no
INTERNAL error, and nothing is stored from invalid input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from schema.build import export_schema
from tests.conftest import Api, Keys, account_input
from tests.integration.documents import ACCOUNT, ACCOUNTS, ADD, REMOVE, UPDATE, VERIFY
from tests.integration.messaging import MESSAGES, SEND
from tests.integration.steps import added, enable
from tests.twilio_fixtures import error

SDL = export_schema()
# Characters no string input may hold (surrounding \t \r \n are trimmed, so they are not here).
NOT_TEXT = "\x00\x01\x08\x0b\x0c\x1b\x1f\x7f\x85\x9f\ud800\udbff\udc00\udfff"


def fuzzing(examples: int) -> Callable[[Any], Any]:
    """Seeded (the same examples every run) and bounded; a run takes seconds, not minutes."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


@contextmanager
def running_app(make_api: Callable[..., Any], twilio: respx.Router) -> Iterator[tuple[Any, Api]]:
    """One app for a whole fuzz run, on a loop that hypothesis' synchronous tests can drive."""
    # Whatever a fuzzed request makes us ask Twilio, it answers "bad credentials".
    twilio.route().mock(return_value=httpx.Response(401, json=error(20003, 401)))
    with asyncio.Runner() as runner:
        built = make_api()
        api = runner.run(built.__aenter__())
        try:
            yield runner, api
        finally:
            runner.run(built.__aexit__(None, None, None))


async def answer(api: Api, key: str, query: str, variables: Any = None) -> dict[str, Any]:
    """Post as a client would (JSON escapes let lone surrogates through) and check the answer
    is never a crash."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    response = await api.http.post(
        "/graphql",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert response.status_code < 500, (query, variables, response.text)
    assert response.status_code in (200, 400), (query, response.status_code, response.text)
    result: dict[str, Any] = response.json()
    codes = [(e.get("extensions") or {}).get("code") for e in result.get("errors") or ()]
    assert "INTERNAL" not in codes, (query, variables, result)
    return result


async def stored(api: Api, keys: Keys) -> tuple[Any, Any]:
    accounts = (await api.data(keys.admin, ACCOUNTS))["smsAccounts"]["nodes"]
    messages = (await api.data(keys.admin, MESSAGES))["smsMessages"]["edges"]
    return accounts, messages


def test_valid_documents_over_every_query_and_mutation_never_crash(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router
) -> None:
    with running_app(make_api, twilio) as (runner, api):
        runner.run(enable(api, keys.admin))

        @fuzzing(150)
        @given(
            document=from_schema(SDL, mode=Mode.POSITIVE, codec=None),
            key=st.sampled_from([keys.admin, keys.marketer, keys.sales]),
        )
        def check(document: str, key: str) -> None:
            runner.run(answer(api, key, document))

        check()


def test_invalid_documents_never_crash_and_store_nothing(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router
) -> None:
    with running_app(make_api, twilio) as (runner, api):
        runner.run(enable(api, keys.admin))

        @fuzzing(150)
        @given(document=from_schema(SDL, mode=Mode.NEGATIVE, codec=None))
        def check(document: str) -> None:
            result = runner.run(answer(api, keys.admin, document))
            assert result["errors"], result

        check()
        assert runner.run(stored(api, keys)) == ([], [])


def not_text() -> st.SearchStrategy[str]:
    """Some text with at least one character that is not allowed in it."""
    return st.builds(
        lambda before, bad, after: before + bad + after,
        st.text(max_size=8),
        st.sampled_from(NOT_TEXT),
        st.text(max_size=8),
    )


def anything() -> st.SearchStrategy[Any]:
    """Any JSON value, strings including lone surrogates and control characters."""
    text = st.text(st.characters(exclude_categories=()), max_size=20)
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
        max_leaves=10,
    )


ACCOUNT_FIELDS = ("displayName", "senderId", "dltEntityId", "clientId", "authToken", "baseUrl")


def hostile_variables(account_id: str) -> st.SearchStrategy[tuple[str, str, Any]]:
    """(document, payload field, variables): right shapes carrying text that is not text,
    and wrong shapes of any kind."""
    one_bad_field = st.sampled_from(ACCOUNT_FIELDS).flatmap(
        lambda name: st.fixed_dictionaries({name: not_text()})
    )
    bad_id = not_text() | st.builds(lambda bad: account_id + bad, st.sampled_from(NOT_TEXT))
    right_shapes = st.one_of(
        st.tuples(
            st.just(ADD),
            st.just("addSmsAccount"),
            one_bad_field.map(lambda bad: {"input": account_input(**bad)}),
        ),
        st.tuples(
            st.just(UPDATE),
            st.just("updateSmsAccount"),
            one_bad_field.map(lambda bad: {"id": account_id, "input": bad}),
        ),
        st.tuples(
            st.just(UPDATE),
            st.just("updateSmsAccount"),
            bad_id.map(lambda bad: {"id": bad, "input": {"displayName": "x"}}),
        ),
        st.tuples(st.just(REMOVE), st.just("removeSmsAccount"), bad_id.map(lambda i: {"id": i})),
        st.tuples(st.just(VERIFY), st.just("verifySmsAccount"), bad_id.map(lambda i: {"id": i})),
        st.tuples(
            st.just(SEND),
            st.just("sendSms"),
            st.sampled_from(["accountId", "to", "body"])
            .flatmap(lambda name: st.fixed_dictionaries({name: not_text()}))
            .map(
                lambda bad: {
                    "input": {"accountId": account_id, "to": "+14155550100", "body": "hi", **bad}
                }
            ),
        ),
    )
    wrong_shapes = st.tuples(
        st.sampled_from([ADD, UPDATE, REMOVE, VERIFY, SEND, ACCOUNT, MESSAGES]),
        st.just(""),
        st.dictionaries(
            st.sampled_from(["input", "id", "accountId", "after", "first", "direction"])
            | st.text(),
            anything(),
            max_size=3,
        ),
    )
    return right_shapes | wrong_shapes


def test_hostile_variables_never_crash_and_change_nothing(
    make_api: Callable[..., Any], keys: Keys, twilio: respx.Router
) -> None:
    with running_app(make_api, twilio) as (runner, api):
        runner.run(enable(api, keys.admin))
        card = runner.run(added(api, keys.admin))
        before = runner.run(stored(api, keys))

        @fuzzing(250)
        @given(case=hostile_variables(card["id"]))
        def check(case: tuple[str, str, Any]) -> None:
            document, field, variables = case
            result = runner.run(answer(api, keys.admin, document, variables))
            if field:  # the right shape: refused in the payload, field by field
                assert "errors" not in result, result
                codes = {e["code"] for e in result["data"][field]["errors"]}
                assert codes & {"INVALID", "NOT_FOUND"}, result

        check()
        assert runner.run(stored(api, keys)) == before
