"""Document limits: how deep and how many aliases one GraphQL document may ask for.

One validation rule measures both. It visits each fragment once and reuses its measure at every
spread (Strawberry's ``QueryDepthLimiter`` walks a fragment again at each spread: a chain of
fragments spread twice each costs 2^N steps), and it counts introspection (``__``) fields like
any other. Depth follows Strawberry's convention: a root field is at depth 0, so ``{ a { b } }``
has depth 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.language import DocumentNode


@dataclass(frozen=True)
class DocumentLimits:
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 2_000


@dataclass(frozen=True)
class _Measure:
    depth: int  # deepest field below this selection set, its own fields at 0; -1 when empty
    aliases: int  # aliased fields in the answer, a fragment counted at each of its spreads


_EMPTY = _Measure(-1, 0)


class _Measurer:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.measured: dict[str, _Measure] = {}
        self.in_progress: set[str] = set()

    def selection_set(self, node: SelectionSetNode | None) -> _Measure:
        depth, aliases = -1, 0
        for selection in node.selections if node is not None else ():
            if isinstance(selection, FieldNode):
                below = self.selection_set(selection.selection_set)
                part = _Measure(below.depth + 1, below.aliases + (selection.alias is not None))
            elif isinstance(selection, InlineFragmentNode):
                part = self.selection_set(selection.selection_set)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                part = self.fragment(selection.name.value)
            depth, aliases = max(depth, part.depth), aliases + part.aliases
        return _Measure(depth, aliases)

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


def limits_rule(limits: DocumentLimits) -> type[ValidationRule]:
    """The rule class for these limits. Build it once per schema: the validation cache is keyed
    by the rule classes, so a new class per request would never hit."""

    class DocumentLimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            measurer = _Measurer(node)
            for definition in node.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    try:
                        measure = measurer.selection_set(definition.selection_set)
                    except RecursionError:
                        measure = _Measure(limits.max_depth + 1, 0)
                    self._check(definition, measure)

        def _check(self, operation: OperationDefinitionNode, measure: _Measure) -> None:
            name = f"Operation {operation.name.value}" if operation.name else "The operation"
            if measure.depth > limits.max_depth:
                self.report_error(
                    GraphQLError(
                        f"{name} is nested too deeply: depth {measure.depth}, "
                        f"at most {limits.max_depth}.",
                        operation,
                    )
                )
            if measure.aliases > limits.max_aliases:
                self.report_error(
                    GraphQLError(
                        f"{name} uses too many aliases: {measure.aliases}, "
                        f"at most {limits.max_aliases}.",
                        operation,
                    )
                )

    return DocumentLimitsRule
