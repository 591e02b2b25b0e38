"""The GraphiQL page served to browsers at ``GET /graphql`` (a page, never an execution)."""

from __future__ import annotations

from strawberry.http.ides import get_graphql_ide_html


def graphiql_html() -> str:
    """The page's HTML: Strawberry's built-in GraphiQL for now."""
    return get_graphql_ide_html(graphql_ide="graphiql")
