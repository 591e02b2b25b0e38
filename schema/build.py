"""Assemble the schema and its extensions."""

from __future__ import annotations

import re
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from schema.limits import DocumentLimits, limits_rule
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
    limits: DocumentLimits | None = None,
) -> strawberry.Schema:
    # Parsing and validating the same few documents again on every request cost a third of a
    # request's CPU (bench/reads.py); both caches are process-wide LRUs of 128 documents.
    # The limits rule is one class per schema, so the validation cache's key stays the same.
    limits = limits or DocumentLimits()
    rules: list[type[ASTValidationRule]] = [limits_rule(limits)]
    chosen: list[Any] = [
        lambda: MaxTokensLimiter(limits.max_tokens),
        lambda: AddValidationRules(rules),
        ParserCache,
        ValidationCache,
        MaskUnexpectedErrors,
        *(extensions or []),
    ]
    return Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=chosen)


def export_schema() -> str:
    """The SDL written to ``schema.graphql``."""
    return build_schema().as_str() + "\n"
