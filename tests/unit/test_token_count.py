"""Counting a document's tokens without parsing it agrees with graphql-core's parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql.language import Lexer, Source, TokenKind

from schema.limits import tokens_over
from tests.integration import documents

FIXTURES = Path(__file__).parent.parent / "fixtures" / "introspection"
TRICKY = [
    '{ a(text: "a # not a comment, \\" still text") }',
    '{ a(text: """block " "" \\""" # still block\n second line""") } # a comment "with quotes"',
    "query Q($n: Int = -1.5e3, $f: Float = 0.25) @skip(if: true) { a(n: $n), b }",
    "\ufeff{ ...F } fragment F on Query { ... on Query { __typename } }",
    '{ a(list: [1, 2, {k: "v"}], e: ENUM, n: null) }',
    "subscription S { a { b } }\n\n# trailing comment",
]
CORPUS = [
    *(path.read_text() for path in sorted(FIXTURES.glob("*.graphql"))),
    *(value for value in vars(documents).values() if isinstance(value, str) and "{" in value),
    *TRICKY,
]


def parser_count(query: str) -> int:
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:  # comments are skipped, as the parser does
        count += 1
    return count


@pytest.mark.parametrize("query", CORPUS)
def test_the_count_is_the_parsers(query: str) -> None:
    count = parser_count(query)

    assert tokens_over(query, count - 1)
    assert not tokens_over(query, count)
