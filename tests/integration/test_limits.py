"""Document and request limits, tried as an attacker would: deep and aliased documents (also
hidden in fragments and introspection), long documents, documents that make validation slow,
big bodies, batches and odd JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import strawberry.schema.schema

import schema.limits
from tests.conftest import Api, Keys
from tests.integration.documents import INTEGRATION

MEBIBYTE = 1024 * 1024
DATA_FIELD = "smsIntegration { enabled }"


def introspection(depth: int) -> str:
    """An introspection document exactly ``depth`` deep (a root field is at depth 0), its depth
    past 4 all ``ofType``."""
    levels = depth - 4  # __schema, queryType, fields and type come first; name is the leaf
    return (
        "{ __schema { queryType { fields { type { "
        + "ofType { " * levels
        + "name"
        + " }" * levels
        + " } } } } }"
    )


def reading_data(depth: int) -> str:
    """A query ``depth`` deep that reads data besides the schema: no introspection allowance."""
    return introspection(depth).replace("{ __schema", "{ " + DATA_FIELD + " __schema", 1)


def aliases(count: int) -> str:
    return " ".join(f"a{number}: __typename" for number in range(count))


def fragment_chain(length: int, leaf: str) -> str:
    """Fragments F0 … F<length>, each spreading the next one twice: 2^length leaves."""
    chain = "".join(
        f"fragment F{number} on Query {{ ...F{number + 1} ...F{number + 1} }}\n"
        for number in range(length)
    )
    return f"query Chain {{ ...F0 }}\n{chain}fragment F{length} on Query {{ {leaf} }}"


def spread_fragments(count: int) -> str:
    """``count`` fragments selecting the same field, spread side by side."""
    spreads = " ".join(f"...F{number}" for number in range(count))
    fragments = "".join(f"fragment F{n} on Query {{ {DATA_FIELD} }}\n" for n in range(count))
    return f"query Spread {{ {spreads} }}\n{fragments}"


async def errors_of(api: Api, key: str, query: str) -> list[str]:
    result = await api.run(key, query)
    return [error["message"] for error in result.get("errors", [])]


async def test_a_document_ten_deep_runs_and_eleven_deep_is_refused(api: Api, keys: Keys) -> None:
    assert await errors_of(api, keys.admin, reading_data(10)) == []

    refused = await api.run(keys.admin, reading_data(11))

    assert refused["data"] is None
    assert refused["errors"][0]["message"] == (
        "The operation is nested too deeply: depth 11, at most 10."
    )


async def test_introspection_nests_fifteen_deep_through_of_type_and_no_deeper(
    api: Api, keys: Keys
) -> None:
    assert await errors_of(api, keys.admin, introspection(15)) == []

    assert await errors_of(api, keys.admin, introspection(16)) == [
        "The operation is nested too deeply: depth 16, at most 15 for introspection."
    ]


async def test_a_query_is_introspection_only_if_every_root_field_reads_the_schema(
    api: Api, keys: Keys
) -> None:
    assert await errors_of(api, keys.admin, introspection(12)) == []
    # The same document with a data field spread in at its root keeps the ordinary cap.
    hidden = introspection(12).replace("{ __schema", "query Mixed { ...Data __schema", 1)
    hidden += f" fragment Data on Query {{ ... on Query {{ {DATA_FIELD} }} }}"

    assert await errors_of(api, keys.admin, hidden) == [
        "Operation Mixed is nested too deeply: depth 12, at most 10."
    ]


async def test_introspection_goes_past_the_ordinary_depth_only_through_of_type(
    api: Api, keys: Keys
) -> None:
    # fields { type { fields … } } multiplies the answer at each level; ofType does not.
    query = '{ __type(name: "Query") { ' + "fields { type { " * 5 + "name" + " } }" * 5 + " } }"

    assert await errors_of(api, keys.admin, query) == [
        "The operation is nested too deeply: depth 11 not counting ofType, at most 10."
    ]


async def test_depth_hidden_in_fragments_counts(api: Api, keys: Keys) -> None:
    query = f"""
    query Hidden {{ {DATA_FIELD} __schema {{ ...Types }} }}
    fragment Types on __Schema {{ types {{ fields {{ type {{ ...Wrapped }} }} }} }}
    fragment Wrapped on __Type {{ ofType {{ ofType {{ ofType {{ ofType {{ ofType {{ ofType {{
      ofType {{ name }} }} }} }} }} }} }} }}
    """

    assert await errors_of(api, keys.admin, query) == [
        "Operation Hidden is nested too deeply: depth 11, at most 10."
    ]


async def test_thirty_aliases_run_and_thirty_one_are_refused(api: Api, keys: Keys) -> None:
    assert await errors_of(api, keys.admin, f"{{ {aliases(30)} }}") == []

    assert await errors_of(api, keys.admin, f"{{ {aliases(31)} }}") == [
        "The operation uses too many aliases: 31, at most 30."
    ]


async def test_aliases_count_at_every_spread_of_their_fragment(api: Api, keys: Keys) -> None:
    query = (
        "query Spread { ...Eleven a: __typename ...Eleven ...Eleven }\n"
        f"fragment Eleven on Query {{ {aliases(11)} }}"
    )

    assert await errors_of(api, keys.admin, query) == [
        "Operation Spread uses too many aliases: 34, at most 30."
    ]


async def test_a_fragment_chain_spread_twice_each_is_measured_once_per_fragment(
    api: Api, keys: Keys
) -> None:
    # 2^40 leaves if walked spread by spread: this would never finish.
    assert await errors_of(api, keys.admin, fragment_chain(40, "a: __typename")) == [
        "Operation Chain uses too many aliases: 1099511627776, at most 30."
    ]
    plain = await api.data(keys.admin, fragment_chain(40, "__typename"))
    assert plain == {"__typename": "Query"}


async def test_a_document_over_a_thousand_tokens_is_not_parsed(api: Api, keys: Keys) -> None:
    # The 333 copies of the review: 1,334 tokens.
    hostile = "query Loop { " + f"{DATA_FIELD} " * 333 + "}"
    assert await errors_of(api, keys.admin, hostile) == [
        "Syntax Error: Document contains more than 1000 tokens. Parsing aborted."
    ]
    # Just under the limit the document parses (and is refused for its fields instead).
    below = await errors_of(api, keys.admin, "{ " + "__typename " * 998 + "}")
    assert not [message for message in below if "tokens" in message]
    # A GET's document is held to the same count.
    response = await api.http.get(
        "/graphql",
        params={"query": hostile},
        headers={"Authorization": f"Bearer {keys.admin}"},
    )
    assert response.json()["errors"][0]["message"] == (
        "Syntax Error: Document contains more than 1000 tokens. Parsing aborted."
    )


async def test_a_document_over_five_hundred_fields_is_refused(api: Api, keys: Keys) -> None:
    assert await errors_of(api, keys.admin, "{ " + "__typename " * 501 + "}") == [
        "The document has too many fields: 501, at most 500."
    ]
    # Fragments are counted where they are written, not at each spread.
    spread = "{ " + "...F " * 400 + "} fragment F on Query { smsIntegration { enabled } }"
    assert await errors_of(api, keys.admin, spread) == []


async def test_a_field_repeated_in_one_place_is_refused_before_validation_runs(
    api: Api, keys: Keys
) -> None:
    # 248 copies fit in 1,000 tokens and cost graphql-core's field-merge rule ~0.4 s. The unknown
    # field proves the refusal comes first: graphql-core's validation would name it.
    query = "query Loop { nope " + f"{DATA_FIELD} " * 248 + "}"

    assert await errors_of(api, keys.admin, query) == [
        "The document selects the same fields too often: 'smsIntegration' 248 times in one "
        "place; merging them takes 61256 comparisons, at most 1000. Select each field once."
    ]


async def test_a_document_that_would_take_seconds_to_validate_is_refused_at_once(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    # Tokens and fields opened up: 2,000 copies would keep graphql-core's merge rule busy for
    # many seconds (it would end on its own budget). Only the overlap count stands in the way.
    async with make_api(max_tokens=100_000, max_fields=100_000) as api:
        query = "query Loop { nope " + f"{DATA_FIELD} " * 2_000 + "}"

        [message] = await errors_of(api, keys.admin, query)

    assert message.startswith(
        "The document selects the same fields too often: 'smsIntegration' 2000 times"
    )


async def test_fields_merged_from_fragments_count_as_repeated(api: Api, keys: Keys) -> None:
    # 32 fragments spread together: 2 x (32 x 31 / 2) = 992 comparisons; 33 make 1,056.
    assert await errors_of(api, keys.admin, spread_fragments(32)) == []

    assert await errors_of(api, keys.admin, spread_fragments(33)) == [
        "The document selects the same fields too often: 'smsIntegration' 33 times in one "
        "place; merging them takes 1056 comparisons, at most 1000. Select each field once."
    ]


async def test_an_unused_fragment_is_held_to_the_same_limits(api: Api, keys: Keys) -> None:
    # graphql-core validates a fragment nobody spreads just the same.
    query = "{ __typename } fragment Unused on Query { " + f"{DATA_FIELD} " * 46 + "}"

    [message] = await errors_of(api, keys.admin, query)

    assert message.startswith("The document selects the same fields too often: 'smsIntegration'")


async def test_the_limits_are_settings(make_api: Callable[..., Any], keys: Keys) -> None:
    async with make_api(
        max_query_depth=5,
        max_introspection_depth=6,
        max_aliases=2,
        max_tokens=100,
        max_fields=10,
        max_field_overlaps=2,
    ) as api:
        assert await errors_of(api, keys.admin, reading_data(5)) == []
        assert len(await errors_of(api, keys.admin, reading_data(6))) == 1
        assert await errors_of(api, keys.admin, introspection(6)) == []
        assert len(await errors_of(api, keys.admin, introspection(7))) == 1
        assert len(await errors_of(api, keys.admin, f"{{ {aliases(3)} }}")) == 1
        assert len(await errors_of(api, keys.admin, "{ " + "__typename " * 101 + "}")) == 1
        assert len(await errors_of(api, keys.admin, "{ " + "__typename " * 11 + "}")) == 1
        assert await errors_of(api, keys.admin, "{ " + "__typename " * 2 + "}") == []
        assert len(await errors_of(api, keys.admin, "{ " + "__typename " * 3 + "}")) == 1


async def test_only_documents_that_pass_are_kept_parsed(
    api: Api, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stream of new refused documents must leave nothing behind: kept, they made each full
    # garbage collection walk them all (bench/hostile.py).
    parsed: list[str] = []
    parse = strawberry.schema.schema.parse  # type: ignore[attr-defined]  # graphql-core's, as imported there

    def counted(query: str, **options: Any) -> Any:
        parsed.append(query)
        return parse(query, **options)

    monkeypatch.setattr(strawberry.schema.schema, "parse", counted)
    hostile = "query Loop { " + f"{DATA_FIELD} " * 40 + "}"
    passing = (
        f"query Fine {{ {aliases(2)} smsMessages(first: 1) {{ pageInfo {{ hasNextPage }} }} }}"
    )
    for query in (hostile, hostile, passing, passing, passing):
        await api.run(keys.admin, query)

    assert parsed == [hostile, hostile, passing]  # the refused one each time, the passing once


async def test_renaming_the_operation_does_not_validate_the_document_again(
    api: Api, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[object] = []
    validate = schema.limits.validate_document  # type: ignore[attr-defined]  # graphql-core's, as imported there

    def counted(*arguments: Any) -> Any:
        validated.append(arguments[1])
        return validate(*arguments)

    monkeypatch.setattr(schema.limits, "validate_document", counted)
    # smsMessages keeps the response cache out of the way: the document is executed each time.
    body = f"{{ {aliases(3)} smsMessages(first: 1) {{ pageInfo {{ hasNextPage }} }} }}"
    for name in ("First", "Second", "Renamed"):
        await api.data(keys.admin, f"query {name} {body}")
    assert len(validated) == 1

    await api.data(keys.admin, f"query First {body.replace('a2:', 'a9:')}")
    assert len(validated) == 2


def refusal(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    message: str = body["errors"][0]["message"]
    return message


async def post_body(api: Api, key: str, content: Any, **headers: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"} | headers
    return await api.http.post("/graphql", content=content, headers=headers)


async def test_a_body_over_one_mebibyte_is_refused_by_its_length(api: Api, keys: Keys) -> None:
    padding = " " * (MEBIBYTE - len(INTEGRATION) - 20)
    fits = json.dumps({"query": INTEGRATION}) + padding
    assert len(fits) <= MEBIBYTE
    assert (await post_body(api, keys.admin, fits)).status_code == 200

    response = await post_body(api, keys.admin, b"{" + b" " * MEBIBYTE + b"}")

    assert response.status_code == 413
    assert refusal(response) == f"The request body is larger than {MEBIBYTE} bytes."


async def test_a_streamed_body_is_refused_before_it_is_read_in_full(api: Api, keys: Keys) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB, without a Content-Length
            sent += 1
            yield b" " * (64 * 1024)

    response = await post_body(api, keys.admin, chunks())

    assert response.status_code == 413
    assert sent < 64


async def test_malformed_bodies_get_a_clear_400(api: Api, keys: Keys) -> None:
    query = json.dumps(INTEGRATION)
    cases = {
        b"[" + json.dumps({"query": INTEGRATION}).encode() + b"]": (
            "Batched requests (a JSON array) are not supported."
        ),
        b'"' + INTEGRATION.encode() + b'"': "The request body must be a JSON object.",
        b"42": "The request body must be a JSON object.",
        b'{"query": ' + query.encode() + b', "x": "\xff\xfe"}': (
            "The request body is not UTF-8 text."
        ),
        b'{"query": ' + query.encode(): "The request body is not valid JSON.",
        b'{"x": ' + b"[" * 32 + b"]" * 32 + b"}": (
            "The request body is nested more than 32 levels deep."
        ),
        b"[" * 100_000 + b"]" * 100_000: "The request body is nested more than 32 levels deep.",
    }
    for body, message in cases.items():
        response = await post_body(api, keys.admin, body)

        assert response.status_code == 400, (body[:40], response.text)
        assert refusal(response) == message
        assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_json_nested_thirty_two_levels_passes_the_body_check(api: Api, keys: Keys) -> None:
    body = {"query": INTEGRATION, "extensions": {"x": json.loads("[" * 30 + "]" * 30)}}

    response = await post_body(api, keys.admin, json.dumps(body))

    assert response.status_code == 200
    assert response.json() == {"data": {"smsIntegration": {"enabled": False}}}


async def test_variables_in_a_get_are_held_to_the_same_depth(api: Api, keys: Keys) -> None:
    response = await api.http.get(
        "/graphql",
        params={"query": INTEGRATION, "variables": "[" * 40 + "]" * 40},
        headers={"Authorization": f"Bearer {keys.admin}"},
    )

    assert response.status_code == 400
    assert refusal(response) == "The variables parameter is nested more than 32 levels deep."
