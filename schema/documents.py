"""Reading a GraphQL document's chosen operation before Strawberry runs it (cache and fan-out
keys): parse errors and ambiguity read as "none", Strawberry then answers them properly."""

from __future__ import annotations

from graphql import GraphQLError, OperationDefinitionNode, parse

# Enough for any document worth keying; larger ones are never cached nor shared.
MAX_TOKENS = 2_000


def chosen_operation(query: str, operation_name: str | None) -> OperationDefinitionNode | None:
    """The one operation a request runs: the named one, or the document's only one."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None
