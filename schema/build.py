"""Assemble the schema and its extensions."""

from __future__ import annotations

import re
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext

from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription
from storage.db import is_outage

_VARIABLE_ERROR = re.compile(r"^(Variable '\$\w+' (?:got|has) invalid value)")


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask crashes, keep GraphQL's own errors (syntax, validation, FORBIDDEN)."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """A crash answers "Internal server error" without its text (which could quote input)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """A database outage is no crash: say so, and keep its cause for the HTTP layer, which
        answers the whole request with a 503."""
        if not is_outage(error.original_error):
            return super().anonymise_error(error)
        return GraphQLError(
            "The database is unavailable right now; retry shortly.",
            nodes=error.nodes,
            path=error.path,
            original_error=error.original_error,
            extensions={"code": "UNAVAILABLE"},
        )


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            scrub_variable_values(error)
        # Only crashes are the server's problem. Client errors (syntax, validation, variables,
        # FORBIDDEN) are answered, not logged: their tracebacks quote what the client sent.
        # An outage is logged once, where it is answered (api/outages.py).
        unexpected = [
            error
            for error in errors
            if _is_unexpected(error) and not is_outage(error.original_error)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def scrub_variable_values(error: GraphQLError) -> None:
    """Variable errors quote what the client sent, which may be an Auth Token: drop the quote."""
    match = _VARIABLE_ERROR.match(error.message)
    if match is not None:
        error.message = f"{match.group(1)}: check the variable's type and required fields."


def build_schema(extensions: list[type[SchemaExtension]] | None = None) -> strawberry.Schema:
    # Parsing and validating the same few documents again on every request cost a third of a
    # request's CPU (bench/reads.py); both caches are process-wide LRUs of 128 documents.
    chosen: list[Any] = [ParserCache, ValidationCache, MaskUnexpectedErrors, *(extensions or [])]
    return Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=chosen)


def export_schema() -> str:
    """The SDL written to ``schema.graphql``."""
    return build_schema().as_str() + "\n"
