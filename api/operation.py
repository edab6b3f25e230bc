"""The root fields a GraphQL request asks: the ``operation`` label of metrics and what limits cost.

Parsed with graphql-core before execution (the token limit applies), only to name the
operation; a document that does not parse is labelled ``invalid`` and left to GraphQL to refuse.
Names outside the schema are ``unknown``, so a label is always from a closed set.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from strawberry.schema import Schema

__all__ = ["operation_fields", "operation_label"]

MULTIPLE: Final = "multiple"


def operation_fields(query: str, operation_name: str | None, max_tokens: int) -> tuple[str, ...]:
    """Root field names of the operation `operation_name` selects (or the only one), in order; () if none.

    Remembered for short documents: clients send the same few over and over, and this runs
    before every request (the lean check path, api/lean.py, would otherwise parse twice).
    """
    if len(query) <= _CACHED_QUERY:
        return _cached_fields(query, operation_name, max_tokens)
    return _fields(query, operation_name, max_tokens)


_CACHED_QUERY: Final = 2000


@lru_cache(maxsize=256)
def _cached_fields(query: str, operation_name: str | None, max_tokens: int) -> tuple[str, ...]:
    return _fields(query, operation_name, max_tokens)


def _fields(query: str, operation_name: str | None, max_tokens: int) -> tuple[str, ...]:
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return ()
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name is not None and o.name.value == operation_name)]
    if len(chosen) != 1:
        return ()
    return tuple(s.name.value for s in chosen[0].selection_set.selections if isinstance(s, FieldNode))


def operation_label(fields: tuple[str, ...], schema: Schema) -> str:
    """``check``, ``checkMany`` ...; ``multiple`` for several root fields; ``invalid`` / ``unknown`` otherwise."""
    names = {f for f in fields if f != "__typename"}
    if not names:
        return "invalid"
    if len(names) > 1:
        return MULTIPLE
    name = names.pop()
    gql = schema._schema
    known = {*(gql.query_type.fields if gql.query_type else {}), *(gql.mutation_type.fields if gql.mutation_type else {})}
    return name if name in known or (name.startswith("__") and name in ("__schema", "__type")) else "unknown"
