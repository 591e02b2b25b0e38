"""Document and request limits, tried as an attacker would: deep and aliased documents (also
hidden in fragments and introspection), long documents, big bodies, batches and odd JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from strawberry.extensions.validation_cache import DEFAULT_MAXSIZE, _get_validate_cache

from tests.conftest import Api, Keys
from tests.integration.documents import INTEGRATION

MEBIBYTE = 1024 * 1024


def introspection(depth: int) -> str:
    """An introspection document exactly ``depth`` deep (a root field is at depth 0)."""
    levels = depth - 4  # __schema, queryType, fields and type come first; name is the leaf
    return (
        "{ __schema { queryType { fields { type { "
        + "ofType { " * levels
        + "name"
        + " }" * levels
        + " } } } } }"
    )


def aliases(count: int) -> str:
    return " ".join(f"a{number}: __typename" for number in range(count))


def fragment_chain(length: int, leaf: str) -> str:
    """Fragments F0 … F<length>, each spreading the next one twice: 2^length leaves."""
    chain = "".join(
        f"fragment F{number} on Query {{ ...F{number + 1} ...F{number + 1} }}\n"
        for number in range(length)
    )
    return f"query Chain {{ ...F0 }}\n{chain}fragment F{length} on Query {{ {leaf} }}"


async def errors_of(api: Api, key: str, query: str) -> list[str]:
    result = await api.run(key, query)
    return [error["message"] for error in result.get("errors", [])]


async def test_a_document_ten_deep_runs_and_eleven_deep_is_refused(api: Api, keys: Keys) -> None:
    assert await errors_of(api, keys.admin, introspection(10)) == []

    refused = await api.run(keys.admin, introspection(11))

    assert refused["data"] is None
    assert refused["errors"][0]["message"] == (
        "The operation is nested too deeply: depth 11, at most 10."
    )


async def test_depth_hidden_in_fragments_counts(api: Api, keys: Keys) -> None:
    query = """
    query Hidden { __schema { ...Types } }
    fragment Types on __Schema { types { fields { type { ...Wrapped } } } }
    fragment Wrapped on __Type { ofType { ofType { ofType { ofType { ofType { ofType {
      ofType { name } } } } } } } }
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


async def test_a_document_over_two_thousand_tokens_is_not_parsed(api: Api, keys: Keys) -> None:
    # Just under the limit the document parses (graphql-core's own validation budget may still
    # refuse 1,997 copies of one field, but not as a syntax error).
    below = await errors_of(api, keys.admin, "{ " + "__typename " * 1_997 + "}")
    assert not [message for message in below if "tokens" in message]

    messages = await errors_of(api, keys.admin, "{ " + "__typename " * 1_999 + "}")

    assert messages == ["Syntax Error: Document contains more than 2000 tokens. Parsing aborted."]


async def test_the_limits_are_settings(make_api: Callable[..., Any], keys: Keys) -> None:
    async with make_api(max_query_depth=5, max_aliases=2, max_tokens=100) as api:
        assert await errors_of(api, keys.admin, introspection(5)) == []
        assert len(await errors_of(api, keys.admin, introspection(6))) == 1
        assert len(await errors_of(api, keys.admin, f"{{ {aliases(3)} }}")) == 1
        assert len(await errors_of(api, keys.admin, "{ " + "__typename " * 101 + "}")) == 1


async def test_a_repeated_document_is_validated_once(api: Api, keys: Keys) -> None:
    cache: Any = _get_validate_cache(DEFAULT_MAXSIZE)  # an lru_cache: its hits are counted
    # smsMessages keeps the response cache out of the way: the document is executed each time.
    query = (
        f"query Repeated {{ {aliases(3)} smsMessages(first: 1) {{ pageInfo {{ hasNextPage }} }} }}"
    )
    await api.data(keys.admin, query)
    hits = cache.cache_info().hits

    await api.data(keys.admin, query)

    assert cache.cache_info().hits == hits + 1


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
