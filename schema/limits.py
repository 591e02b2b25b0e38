"""Document limits: what one GraphQL document may ask of the server, measured before graphql-core
validates it.

graphql-core's validation is not linear in the document. Its field-merge rule
(``OverlappingFieldsCanBeMerged``) compares every pair of fields that answer under the same name
at the same place: 333 copies of ``smsIntegration { enabled }`` (1,300 tokens) cost it ~0.6 s of
the event loop, and 248 copies (under 1,000 tokens) still ~0.4 s. So every limit here is counted
in passes linear in the document, each fragment measured once, and a document over any of them is
refused before graphql-core's rules run at all (``bench/hostile.py`` prints what a refusal costs
beside a small query):

* tokens: counted without parsing (``tokens_over``; the HTTP edge, api/limits.py, refuses a long
  document before anything parses it), and the parser stops past ``max_tokens`` (Strawberry's
  ``MaxTokensLimiter``) for documents arriving over a websocket;
* fields: the field nodes written in the document, each counted once;
* depth: a root field is at depth 0 (Strawberry's convention), so ``{ a { b } }`` has depth 1.
  An introspection operation (only ``__schema``, ``__type`` and ``__typename`` at its root) may
  go to ``max_introspection_depth``, but only through ``ofType``: that chain is linear and ends
  after a few levels, while ``fields { type { fields … } }`` multiplies the answer at each level
  and so keeps the ordinary cap. The standard introspection documents of graphql-js, codegen and
  gql are 12 to 14 deep for that reason alone;
* aliases: counted in the answer, a fragment's at each of its spreads;
* field overlaps: the pairs of fields the merge rule will compare (same response name, same
  place in the answer, fragments merged in), which is what its cost grows with.

Strawberry's ``QueryDepthLimiter`` walks a fragment again at each spread (a chain of fragments
spread twice each costs 2^N steps); here each fragment is measured once and reused.

A document that passes is validated once: the outcome is kept under a digest of its text without
its operation name, so renaming the operation (which costs a client nothing) does not make the
server validate it again.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.validation_cache import DEFAULT_MAXSIZE
from strawberry.schema.schema import validate_document

INTROSPECTION_ROOT_FIELDS = frozenset({"__schema", "__type", "__typename"})


@dataclass(frozen=True)
class DocumentLimits:
    max_depth: int = 10
    max_introspection_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 1_000
    max_fields: int = 500
    max_field_overlaps: int = 1_000
    document_cache_chars: int = 64 * 1024


# GraphQL's lexical grammar, enough to count tokens as graphql-core's parser does without parsing:
# ignored runs (white space, commas, comments) match the named group and are not counted; a string
# is one token whatever it holds; any other character counts as one (the parser refuses it anyway).
_LEXEMES = re.compile(
    r"""
    (?P<ignored>[ \t\n\r,\ufeff]+|\#[^\n\r]*)
    | \"\"\"(?:\\\"\"\"|(?!\"\"\")[\s\S])*\"\"\"
    | "(?:[^"\\\n\r]|\\.)*"
    | \.\.\.
    | -?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?
    | [_A-Za-z][_0-9A-Za-z]*
    | .
    """,
    re.VERBOSE | re.DOTALL,
)


def tokens_over(query: str, limit: int) -> bool:
    """Whether ``query`` has more than ``limit`` tokens, counted as graphql-core's parser counts
    them but at the regular expression engine's speed: the parser spends ~10 µs a token, so
    parsing a document only to find it too long cost more than a normal request."""
    count = 0
    for lexeme in _LEXEMES.finditer(query):
        if lexeme.lastgroup is None:
            count += 1
            if count > limit:
                return True
    return False


def too_many_tokens(limit: int) -> str:
    """The parser's own words for a document over the limit."""
    return f"Syntax Error: Document contains more than {limit} tokens. Parsing aborted."


class _TooComplex(Exception):
    """The overlap count took more steps than any document within the limits needs."""


@dataclass(frozen=True)
class _Measure:
    depth: int  # deepest field below this selection set, its own fields at 0; -1 when empty
    depth_without_of_type: int  # the same, ``ofType`` levels not counted
    aliases: int  # aliased fields in the answer, a fragment counted at each of its spreads


_EMPTY = _Measure(-1, -1, 0)


class _Measurer:
    """Depth and aliases of each operation, each fragment measured once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.measured: dict[str, _Measure] = {}
        self.in_progress: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> _Measure:
        depth, shallow, aliases = -1, -1, 0
        for selection in node.selections if node is not None else ():
            if isinstance(selection, FieldNode):
                below = self.selection_set(selection.selection_set)
                step = 0 if selection.name.value == "ofType" else 1
                part = _Measure(
                    below.depth + 1,
                    below.depth_without_of_type + step,
                    below.aliases + (selection.alias is not None),
                )
            elif isinstance(selection, InlineFragmentNode):
                part = self.selection_set(selection.selection_set)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                part = self.fragment(selection.name.value)
            depth = max(depth, part.depth)
            shallow = max(shallow, part.depth_without_of_type)
            aliases += part.aliases
        return _Measure(depth, shallow, aliases)

    def fragment(self, name: str) -> _Measure:
        known = self.measured.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        # Unknown fragments and cycles are other rules' errors; they add nothing here.
        if definition is None or name in self.in_progress:
            return _EMPTY
        self.in_progress.add(name)
        measure = self.selection_set(definition.selection_set)
        self.in_progress.discard(name)
        self.measured[name] = measure
        return measure


class _Overlaps:
    """Pairs of fields the merge rule compares: fields answering under the same response name at
    the same place, with inline fragments and fragments merged in (each fragment once per place,
    as the rule does). Places are memoized by the selection sets merged into them, so a fragment
    spread at many places of the same kind is counted once per kind, not once per spread."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], max_steps: int) -> None:
        self.fragments = fragments
        self.steps_left = max_steps
        self.collected: dict[int, dict[str, list[FieldNode]]] = {}
        self.counted: dict[frozenset[int], int] = {}
        self.in_progress: set[frozenset[int]] = set()
        self.worst: list[FieldNode] = []  # the most repeated field at one place

    def pairs(self, selection_sets: Iterable[SelectionSetNode]) -> int:
        sets = list(selection_sets)
        key = frozenset(map(id, sets))
        known = self.counted.get(key)
        if known is not None:
            return known
        if key in self.in_progress:  # a fragment cycle: another rule's error
            return 0
        self.in_progress.add(key)
        merged: dict[str, dict[int, FieldNode]] = {}
        for selection_set in sets:
            for name, fields in self._fields(selection_set).items():
                merged.setdefault(name, {}).update((id(field), field) for field in fields)
        total = 0
        for same_name in merged.values():
            fields = list(same_name.values())
            total += len(fields) * (len(fields) - 1) // 2
            if len(fields) > len(self.worst):
                self.worst = fields
            below = [field.selection_set for field in fields if field.selection_set]
            if below:
                total += self.pairs(below)
        self.in_progress.discard(key)
        self.counted[key] = total
        return total

    def _fields(self, selection_set: SelectionSetNode) -> dict[str, list[FieldNode]]:
        """The fields of one selection set by response name, fragments merged in."""
        known = self.collected.get(id(selection_set))
        if known is None:
            known = {}
            self._collect(selection_set, known, set())
            self.collected[id(selection_set)] = known
        return known

    def _collect(
        self, node: SelectionSetNode, into: dict[str, list[FieldNode]], spread: set[str]
    ) -> None:
        for selection in node.selections:
            self.steps_left -= 1
            if self.steps_left < 0:
                raise _TooComplex
            if isinstance(selection, FieldNode):
                name = (selection.alias or selection.name).value
                into.setdefault(name, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                self._collect(selection.selection_set, into, spread)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in spread:
                    spread.add(fragment.name.value)
                    self._collect(fragment.selection_set, into, spread)


def operations_of(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]


def count_fields(document: DocumentNode) -> int:
    """Field nodes written in the document, each once (fragments are not expanded)."""
    stack = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    count = 0
    while stack:
        for selection in stack.pop().selections:
            count += isinstance(selection, FieldNode)
            below = getattr(selection, "selection_set", None)
            if below is not None:
                stack.append(below)
    return count


def is_introspection(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> bool:
    """A query whose root fields, fragments included, are all ``__schema``, ``__type`` or
    ``__typename``: it reads the schema and nothing else."""
    if operation.operation != OperationType.QUERY:
        return False
    stack, spread = [operation.selection_set], set[str]()
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value not in INTROSPECTION_ROOT_FIELDS:
                    return False
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and fragment.name.value not in spread:
                    spread.add(fragment.name.value)
                    stack.append(fragment.selection_set)
    return True


def limit_errors(document: DocumentNode, limits: DocumentLimits) -> list[GraphQLError]:
    """What breaks a limit, in passes linear in the document; [] when it is within them all."""
    fields = count_fields(document)
    if fields > limits.max_fields:
        return [
            GraphQLError(
                f"The document has too many fields: {fields}, at most {limits.max_fields}."
            )
        ]
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    operations = operations_of(document)
    errors: list[GraphQLError] = []
    measurer = _Measurer(fragments)
    for operation in operations:
        try:
            measure = measurer.selection_set(operation.selection_set)
        except RecursionError:
            measure = _Measure(limits.max_introspection_depth + 1, limits.max_depth + 1, 0)
        introspection = is_introspection(operation, fragments)
        errors.extend(_shape_errors(operation, measure, introspection, limits))
    return errors or _overlap_errors([*operations, *fragments.values()], fragments, limits)


def _shape_errors(
    operation: OperationDefinitionNode,
    measure: _Measure,
    introspection: bool,
    limits: DocumentLimits,
) -> Iterator[GraphQLError]:
    name = f"Operation {operation.name.value}" if operation.name else "The operation"
    if introspection and measure.depth > limits.max_introspection_depth:
        yield GraphQLError(
            f"{name} is nested too deeply: depth {measure.depth}, at most "
            f"{limits.max_introspection_depth} for introspection.",
            operation,
        )
    elif introspection and measure.depth_without_of_type > limits.max_depth:
        yield GraphQLError(
            f"{name} is nested too deeply: depth {measure.depth_without_of_type} not counting "
            f"ofType, at most {limits.max_depth}.",
            operation,
        )
    elif not introspection and measure.depth > limits.max_depth:
        yield GraphQLError(
            f"{name} is nested too deeply: depth {measure.depth}, at most {limits.max_depth}.",
            operation,
        )
    if measure.aliases > limits.max_aliases:
        yield GraphQLError(
            f"{name} uses too many aliases: {measure.aliases}, at most {limits.max_aliases}.",
            operation,
        )


def _overlap_errors(
    roots: list[OperationDefinitionNode | FragmentDefinitionNode],
    fragments: dict[str, FragmentDefinitionNode],
    limits: DocumentLimits,
) -> list[GraphQLError]:
    # The merge rule checks every selection set, unused fragments too; so is every root here.
    overlaps = _Overlaps(fragments, max_steps=20 * limits.max_fields)
    try:
        pairs = sum(overlaps.pairs([root.selection_set]) for root in roots)
    except (_TooComplex, RecursionError):
        return [GraphQLError("The document is too complex to check: simplify its fragments.")]
    if pairs <= limits.max_field_overlaps:
        return []
    worst = overlaps.worst
    response_name = (worst[0].alias or worst[0].name).value
    return [
        GraphQLError(
            f"The document selects the same fields too often: '{response_name}' "
            f"{len(worst)} times in one place; merging them takes {pairs} comparisons, "
            f"at most {limits.max_field_overlaps}. Select each field once.",
            worst[0],
        )
    ]


class _PassedDocuments:
    """Documents that passed the limits and validation, least recently used first: the digests of
    their text without the operation name (so a renamed document is not validated again), and,
    within ``text_budget`` characters of document text, their parsed form by exact text (so it is
    not parsed again).

    Only documents that passed are kept, and parsed ones within a budget of text rather than a
    count: Strawberry's parser cache kept the last 128 documents whatever they were, and 128
    hostile 1,000-token documents (each a new text) made every full garbage collection walk some
    640,000 objects, stalling the event loop ~0.3 s each (bench/hostile.py's /healthz p99)."""

    def __init__(self, count: int, text_budget: int) -> None:
        self.count = count
        self.text_budget = text_budget
        self.digests: OrderedDict[bytes, None] = OrderedDict()
        self.parsed: OrderedDict[str, DocumentNode] = OrderedDict()
        self.text_size = 0

    def passed(self, digest: bytes) -> bool:
        if digest not in self.digests:
            return False
        self.digests.move_to_end(digest)
        return True

    def parsed_form(self, text: str) -> DocumentNode | None:
        document = self.parsed.get(text)
        if document is not None:
            self.parsed.move_to_end(text)
        return document

    def add(self, digest: bytes, text: str, document: DocumentNode) -> None:
        self.digests[digest] = None
        if len(self.digests) > self.count:
            self.digests.popitem(last=False)
        if text in self.parsed or len(text) > self.text_budget:
            return
        self.parsed[text] = document
        self.text_size += len(text)
        while self.text_size > self.text_budget or len(self.parsed) > self.count:
            dropped, _ = self.parsed.popitem(last=False)
            self.text_size -= len(dropped)


def validation_key(document: DocumentNode) -> bytes | None:
    """A digest of the document's text without the name of its only operation; None when the
    parser kept no text. With several operations the names choose one, so they stay."""
    if document.loc is None:
        return None
    text = document.loc.source.body
    operations = operations_of(document)
    if len(operations) == 1 and operations[0].name is not None:
        where = operations[0].name.loc
        if where is None:
            return None
        text = text[: where.start] + text[where.end :]
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def document_budget(limits: DocumentLimits) -> type[SchemaExtension]:
    """The extension enforcing ``limits`` and remembering the documents that passed; build it
    once per schema (what passed is the schema's: validation rules differ between schemas)."""
    remembered = _PassedDocuments(DEFAULT_MAXSIZE, limits.document_cache_chars)

    class DocumentBudget(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            context = self.execution_context
            if context.query is not None and context.graphql_document is None:
                context.graphql_document = remembered.parsed_form(context.query)
            yield

        def on_validate(self) -> Iterator[None]:
            context = self.execution_context
            document = context.graphql_document
            assert document is not None
            key = validation_key(document)
            if key is not None and remembered.passed(key):
                context.pre_execution_errors = []
                yield
                return
            errors = limit_errors(document, limits)
            if not errors:
                errors = validate_document(
                    context.schema._schema, document, context.validation_rules
                )
                if not errors and key is not None and context.query is not None:
                    remembered.add(key, context.query, document)
            context.pre_execution_errors = errors
            yield

    return DocumentBudget
