"""A limit on the size of an operation once its fragments are expanded.

Depth, alias and token limits do not stop a chain of fragments that each spread the
next twice (``fragment F1 on Query { ...F2 ...F2 }`` ...): forty short lines expand to
2^40 fields, and validation itself (including the depth limiter, which expands
fragments without memoising) would never finish. This extension counts the fields of
the expanded operation right after parsing, memoising per fragment (linear time), and
refuses the document before any validation rule runs. Fragment cycles are left to the
standard NoFragmentCycles rule (a cycle counts as zero here).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from api.errors import LimitExceeded

__all__ = ["ExpansionLimiter", "expanded_size"]


def expanded_size(document: DocumentNode, cap: int) -> int:
    """Fields of the largest operation of `document` with every fragment expanded (stops counting past `cap`)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    memo: dict[str, int] = {}
    visiting: set[str] = set()

    def size(selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                total += 1 + size(sel.selection_set)
            elif isinstance(sel, InlineFragmentNode):
                total += size(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                total += fragment(sel.name.value)
            if total > cap:
                return total
        return total

    def fragment(name: str) -> int:
        if name in memo:
            return memo[name]
        definition = fragments.get(name)
        if definition is None or name in visiting:
            return 0
        visiting.add(name)
        memo[name] = size(definition.selection_set)
        visiting.discard(name)
        return memo[name]

    sizes = [size(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max(sizes, default=0)


class ExpansionLimiter(SchemaExtension):
    """Refuse documents whose expanded operation has more than `max_fields` fields.

    Parameters
    ----------
    max_fields : int
        Largest number of field selections after expanding fragments.
    """

    def __init__(self, max_fields: int) -> None:
        self.max_fields = max_fields

    def on_validate(self) -> Iterator[None]:
        """Before validation: count the expanded fields; raise a GraphQL error over the limit."""
        document = self.execution_context.graphql_document
        if document is not None:
            n = expanded_size(document, self.max_fields)
            if n > self.max_fields:
                raise LimitExceeded(f"the operation expands to more than {self.max_fields} fields (fragments included)")
        yield
