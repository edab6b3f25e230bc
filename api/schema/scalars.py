"""Our scalars, each refusing bad values with our own message (BAD_INPUT), never Python's.

``DateTime``: ISO 8601 with a UTC offset, inside ``[MIN_INSTANT, MAX_INSTANT)``
(graph/timeutil.py); a naive or out-of-range time is refused. GraphQL's ``ID`` cannot be
redefined (graphql-core reserves it), so ids are checked against the id rule
(graph/ids.py) by the resolvers before anything else, and again by the engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import StringValueNode, ValueNode

from api.errors import BadInput
from graph.errors import InvalidTime
from graph.timeutil import check_instant

__all__ = ["DATETIME", "parse_datetime_value", "serialize_datetime"]


def serialize_datetime(value: datetime) -> str:
    """The DateTime scalar's output: UTC, ``Z`` (also used by the lean check path, `api.lean`)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_datetime_value(value: Any) -> datetime:
    """The DateTime scalar's input (a variable's value); BadInput when refused (also used by `api.lean`)."""
    if not isinstance(value, str) or len(value) > 64:
        raise BadInput("DateTime must be an ISO 8601 string with a UTC offset, e.g. 2026-01-15T19:00:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise BadInput(f"not an ISO 8601 time: {value!r}") from err
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise BadInput(f"naive time {value!r}: a UTC offset is required (e.g. 'Z' or '-07:00')")
    try:
        return check_instant(parsed)
    except InvalidTime as err:
        raise BadInput(str(err)) from err


def _parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise BadInput("DateTime must be a string")
    return parse_datetime_value(node.value)


DATETIME = strawberry.scalar(
    name="DateTime",
    description="An instant: ISO 8601 with a UTC offset (2026-01-15T19:00:00Z). Naive times are refused with BAD_INPUT.",
    serialize=serialize_datetime,
    parse_value=parse_datetime_value,
    parse_literal=_parse_literal,
)

