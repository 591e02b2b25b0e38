"""Assemble the schema and its extensions."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from schema.context import Context
from schema.fanout import SharedSubscriptions, group_key
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

_VARIABLE_ERROR = re.compile(r"^(Variable '\$\w+' (?:got|has) invalid value)")


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask crashes, keep GraphQL's own errors (syntax, validation, FORBIDDEN)."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """A crash answers "Internal server error" without its text (which could quote input)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal server error.")


class Schema(strawberry.Schema):
    # Set by the app: identical subscriptions share one execution per event.
    fanout: SharedSubscriptions | None = None

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> Any:
        shared = None
        if self.fanout is not None:
            shared = group_key(query, variable_values, operation_name, context_value)
        run = functools.partial(
            super().stream,
            query,
            variable_values,
            root_value=root_value,
            operation_name=operation_name,
            operation_extensions=operation_extensions,
            allowed_operation_types=allowed_operation_types,
        )
        if shared is not None and self.fanout is not None and isinstance(context_value, Context):
            key, root = shared
            return self.fanout.join(
                key, root, lambda context: run(context_value=context), context_value
            )
        return await run(context_value=context_value)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            scrub_variable_values(error)
        # Only crashes are the server's problem. Client errors (syntax, validation, variables,
        # FORBIDDEN) are answered, not logged: their tracebacks quote what the client sent.
        unexpected = [error for error in errors if _is_unexpected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def scrub_variable_values(error: GraphQLError) -> None:
    """Variable errors quote what the client sent, which may be an Auth Token: drop the quote."""
    match = _VARIABLE_ERROR.match(error.message)
    if match is not None:
        error.message = f"{match.group(1)}: check the variable's type and required fields."


def build_schema(
    extensions: list[type[SchemaExtension]] | None = None,
    *,
    fanout: SharedSubscriptions | None = None,
) -> strawberry.Schema:
    # Parsing and validating the same few documents again on every request cost a third of a
    # request's CPU (bench/reads.py); both caches are process-wide LRUs of 128 documents.
    chosen: list[Any] = [ParserCache, ValidationCache, MaskUnexpectedErrors, *(extensions or [])]
    schema = Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=chosen)
    schema.fanout = fanout
    return schema


def export_schema() -> str:
    """The SDL written to ``schema.graphql``."""
    return build_schema().as_str() + "\n"
