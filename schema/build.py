"""Assemble the schema and its extensions."""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from resolvers.errors import is_outage
from schema.context import Context
from schema.fanout import SharedSubscriptions, group_key
from schema.limits import DocumentLimits, document_budget
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

log = logging.getLogger(__name__)

# graphql-core's coercion message: "Variable '$input' has invalid value.provider: Expected value
# of type 'Provider!', found: 'NOPE'." The variable, the path (schema names only) and the expected
# type are kept; what was found (the client's value, maybe an Auth Token) is dropped.
_VARIABLE_ERROR = re.compile(
    r"^Variable '\$(\w+)' has invalid value(?: at ((?:\.\w+|\[\d+\])+))?: "
)
_TYPE = r"'[\w\[\]!]+'"
_REASONS = (
    (
        re.compile(rf"Expected value of type ({_TYPE}) to include required field '(\w+)'"),
        "expected {0} to include its required field '{1}'",
    ),
    (
        re.compile(rf"Expected value of type ({_TYPE}) not to include unknown field"),
        "expected {0} without unknown fields",
    ),
    (re.compile(rf"Expected (?:a )?value of (?:non-null )?type ({_TYPE})"), "expected {0}"),
    (re.compile(r"Value .* does not exist in ('\w+') enum\.", re.DOTALL), "expected a {0} value"),
    (re.compile(r"(\w+) cannot represent "), "expected a value of type '{0}'"),
)
# graphql-core's hints ("Did you mean 'smsAccounts'?") spell out the schema to a prober.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _is_unexpected(error: GraphQLError) -> bool:
    """Crashes are masked; GraphQL's own errors (syntax, validation, FORBIDDEN) are kept."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class PerEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, whose subscription events do not share their sub-field memo.

    graphql-core 3.3 memoizes the sub-fields it collects by the identity of a field list and
    keeps that list alive with the entry; each event of a subscription collects its root fields
    anew (new lists), and the per-event executors are shallow copies sharing the memo, so a
    subscription's memo grew by an entry per event for as long as it lived: the server's RSS
    climbed with the events pushed (bench/load.py's soak, ~1 MiB a minute at 44 requests/s).
    Each event now memoizes for itself; the memo ends with the event."""

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class Schema(strawberry.Schema):
    # Set by the app: identical subscriptions share one execution per event.
    fanout: SharedSubscriptions | None = None
    # Production: no "Did you mean" hints.
    hide_suggestions = False

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
        # Client errors (syntax, validation, variables, FORBIDDEN) are answered, not logged:
        # their tracebacks quote what the client sent. Only crashes are the server's problem.
        for error in errors:
            if is_outage(error.original_error):
                answer_outage(error)
            elif _is_unexpected(error):
                mask_unexpected(error)
            else:
                scrub_variable_values(error)
                if self.hide_suggestions:
                    error.message = _SUGGESTION.sub("", error.message)


def answer_outage(error: GraphQLError) -> None:
    """A database outage is no crash: say so, and keep its cause for the HTTP layer, which
    answers the whole request with a 503 (api/outages.py logs it once there)."""
    error.message = "The database is unavailable right now; retry shortly."
    error.extensions = {"code": "UNAVAILABLE"}


def mask_unexpected(error: GraphQLError) -> None:
    """The client gets a reference instead of the crash's text (which could quote input); the
    log line carries the same reference and the traceback."""
    ref = secrets.token_hex(6)
    original = error.original_error
    assert original is not None
    log.error(
        "unexpected error (ref %s) at %s",
        ref,
        ".".join(str(key) for key in error.path or ()) or "the operation",
        exc_info=(type(original), original, original.__traceback__),
    )
    error.message = f"Unexpected error (ref {ref})."
    error.extensions = {"code": "INTERNAL", "ref": ref}
    error.original_error = None


def scrub_variable_values(error: GraphQLError) -> None:
    """Variable errors quote what the client sent, which may be an Auth Token: keep only the
    variable, the field path and the expected type, all made of the schema's own names."""
    match = _VARIABLE_ERROR.match(error.message)
    if match is None:
        return
    variable, path = match.group(1), match.group(2) or ""
    detail = error.message[match.end() :]
    reason = "check its type and allowed values"
    for pattern, template in _REASONS:
        found = pattern.match(detail)
        if found is not None:
            reason = template.format(*found.groups())
            break
    error.message = f"Variable '${variable}' has an invalid value at '{variable}{path}': {reason}."


def build_schema(
    extensions: list[type[SchemaExtension]] | None = None,
    limits: DocumentLimits | None = None,
    *,
    fanout: SharedSubscriptions | None = None,
    production: bool = False,
) -> strawberry.Schema:
    """``production``: no introspection and no "Did you mean" hints (nothing maps the schema
    for a stranger; the contract is published to the teams that need it)."""
    # Parsing and validating the same few documents again on every request cost a third of a
    # request's CPU (bench/reads.py): the budget extension keeps the documents that passed, parsed
    # and validated (schema/limits.py).
    limits = limits or DocumentLimits()
    chosen: list[Any] = [
        lambda: MaxTokensLimiter(limits.max_tokens),
        document_budget(limits),
        *(extensions or []),
    ]
    if production:
        chosen.append(DisableIntrospection)
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=chosen,
        execution_context_class=PerEventExecutor,
    )
    schema.fanout = fanout
    schema.hide_suggestions = production
    return schema


def export_schema() -> str:
    """The SDL written to ``schema.graphql``."""
    return build_schema().as_str() + "\n"
