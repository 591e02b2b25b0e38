"""What schema tools send to learn the schema (graphql-js's getIntrospectionQuery, codegen, gql,
graphql-core): their exact documents (tests/fixtures/introspection/SOURCE.md) run in development
and give the whole schema; production keeps introspection off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)

from tests.conftest import Api, Keys

FIXTURES = Path(__file__).parent.parent / "fixtures" / "introspection"
SCHEMA_FILE = Path(__file__).parent.parent.parent / "schema.graphql"
DOCUMENTS = {path.stem: path.read_text() for path in sorted(FIXTURES.glob("*.graphql"))}
DOCUMENTS["graphql-core-all-options"] = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    experimental_directive_deprecation=True,
    one_of=True,
)


def sdl(schema: GraphQLSchema) -> str:
    return print_schema(lexicographic_sort_schema(schema))


def test_every_tool_is_vendored() -> None:
    assert set(DOCUMENTS) == {
        "graphql-js-all-options",
        "graphql-js-default",
        "graphql-codegen",
        "gql-default",
        "gql-all-options",
        "graphql-core-all-options",
    }


@pytest.mark.parametrize("tool", sorted(DOCUMENTS))
async def test_a_schema_tools_introspection_gets_the_whole_schema(
    api: Api, keys: Keys, tool: str
) -> None:
    result = await api.run(keys.sales, DOCUMENTS[tool])

    assert "errors" not in result, result["errors"]
    assert sdl(build_client_schema(result["data"])) == sdl(build_schema(SCHEMA_FILE.read_text()))


async def test_production_refuses_the_standard_introspection(make_api: Any, keys: Keys) -> None:
    async with make_api(env="production") as api:
        result = await api.run(keys.admin, DOCUMENTS["graphql-js-all-options"])

    # Refused for being introspection, and for nothing else (its depth is within the cap).
    assert result["data"] is None
    messages = [error["message"] for error in result["errors"]]
    assert messages[0] == (
        "GraphQL introspection has been disabled, but the requested query contained the field "
        "'__schema'."
    )
    assert all(
        message.startswith("GraphQL introspection has been disabled") for message in messages
    )
