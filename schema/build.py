"""Assemble the schema and its extensions."""

from __future__ import annotations

import re
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

_VARIABLE_ERROR = re.compile(r"^(Variable '\$\w+' (?:got|has) invalid value)")
# graphql-core's hints ("Did you mean 'smsAccounts'?") spell out the schema to a prober.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask crashes, keep GraphQL's own errors (syntax, validation, FORBIDDEN)."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskUnexpectedErrors(MaskErrors):
    """A crash answers "Internal server error" without its text (which could quote input)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal server error.")


class Schema(strawberry.Schema):
    hide_suggestions = False

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            scrub_variable_values(error)
            if self.hide_suggestions:
                error.message = _SUGGESTION.sub("", error.message)
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
    extensions: list[type[SchemaExtension]] | None = None, *, production: bool = False
) -> strawberry.Schema:
    """``production``: no introspection and no "Did you mean" hints (nothing maps the schema
    for a stranger; the contract is published to the teams that need it)."""
    # Parsing and validating the same few documents again on every request cost a third of a
    # request's CPU (bench/reads.py); both caches are process-wide LRUs of 128 documents.
    chosen: list[Any] = [ParserCache, ValidationCache, MaskUnexpectedErrors, *(extensions or [])]
    if production:
        chosen.append(DisableIntrospection)
    schema = Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=chosen)
    schema.hide_suggestions = production
    return schema


def export_schema() -> str:
    """The SDL written to ``schema.graphql``."""
    return build_schema().as_str() + "\n"
