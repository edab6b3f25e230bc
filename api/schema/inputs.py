"""The id rule on every ``ID`` input, before execution (so a malformed id is a request error, 400).

graphql-core reserves the ``ID`` scalar (it cannot be redefined with our own parsing), so
this extension walks the operation before it runs: every ``ID`` literal, and every value
a variable brings to an ``ID`` position (inside lists and input objects too), must follow
the id rule of graph/ids.py. A value that breaks it is refused with ``BAD_INPUT`` and
``extensions.field`` naming where it was (``requests[3].studentId``); nothing runs, so
nothing is recorded. Resolvers check again (a second line, e.g. for direct calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    ListValueNode,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension

from graph.ids import ID_RULE, is_valid_id

__all__ = ["IdRule", "bad_ids"]


def _walk(value: Any, type_: GraphQLInputType, where: str) -> Iterator[str]:
    """Where, in `value` of input type `type_`, an ID breaks the rule."""
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if value is None:
        return
    if isinstance(type_, GraphQLList):
        items = value if isinstance(value, list) else [value]
        for n, item in enumerate(items):
            yield from _walk(item, type_.of_type, f"{where}[{n}]" if isinstance(value, list) else where)
    elif isinstance(type_, GraphQLInputObjectType):
        if isinstance(value, dict):
            for name, field in type_.fields.items():
                if name in value:
                    yield from _walk(value[name], field.type, f"{where}.{name}")
    elif type_ is GraphQLID and not isinstance(value, int) and not is_valid_id(value):
        yield where


class _Finder(Visitor):
    def __init__(self, type_info: TypeInfo, variables: dict[str, Any]) -> None:
        super().__init__()
        self.type_info = type_info
        self.variables = variables
        self.where: list[str] = []
        self.found: list[str] = []

    def enter(self, node: Node, key: Any, parent: Any, path: Any, ancestors: list[Any]) -> None:
        """Track where we are (argument, input field, list index); check ID values."""
        if isinstance(node, ArgumentNode):
            self.where.append(node.name.value)
        elif isinstance(node, ObjectFieldNode):
            self.where.append("." + node.name.value)
        elif isinstance(key, int) and ancestors and isinstance(ancestors[-1], ListValueNode):
            self.where.append(f"[{key}]")
        else:
            self.where.append("")
        input_type = self.type_info.get_input_type()
        if input_type is None:
            return
        here = "".join(self.where)
        if isinstance(node, StringValueNode):
            named = input_type
            while isinstance(named, GraphQLNonNull | GraphQLList):
                named = named.of_type
            if named is GraphQLID and not is_valid_id(node.value):
                self.found.append(here)
        elif isinstance(node, VariableNode) and not isinstance(parent, VariableDefinitionNode) and node.name.value in self.variables:
            self.found.extend(_walk(self.variables[node.name.value], input_type, here))

    def leave(self, node: Node, *_: Any) -> None:
        """Leave the place entered."""
        self.where.pop()


def bad_ids(schema: Any, operation: OperationDefinitionNode, variables: dict[str, Any]) -> list[str]:
    """Where the operation (with `variables`) holds an ID that breaks the id rule, in document order."""
    type_info = TypeInfo(schema)
    finder = _Finder(type_info, variables)
    visit(operation, TypeInfoVisitor(type_info, finder))
    return finder.found


class IdRule(SchemaExtension):
    """Refuse an operation, before it runs, when an ID input breaks the id rule (BAD_INPUT, 400)."""

    def on_execute(self) -> Iterator[None]:
        """Before execution: check every ID literal and every variable value in an ID position."""
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None:
            variables = ctx.variables or {}
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                if ctx.operation_name is not None and (definition.name is None or definition.name.value != ctx.operation_name):
                    continue
                found = bad_ids(ctx.schema._schema, definition, variables)
                if found:
                    raise GraphQLError(f"{found[0]}: {ID_RULE}", extensions={"code": "BAD_INPUT", "field": found[0]})
        yield
