"""The id rule, checked at every entry point (GraphQL, CLI, loaders, bundle, the model).

An id is 1..200 characters with no control character (C0, DEL, C1), no bidirectional
formatting character (which can make an id display as another one: Trojan Source,
CVE-2021-42574), no lone surrogate, and no leading or trailing white space.
"""

from __future__ import annotations

import re
from typing import Final

from graph.errors import InvalidId

__all__ = ["ID_PATTERN", "ID_RULE", "MAX_ID_LENGTH", "check_id", "is_valid_id"]

MAX_ID_LENGTH: Final = 200
ID_PATTERN: Final = re.compile(
    r"^[^\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]{1,"
    + str(MAX_ID_LENGTH)
    + r"}$"
)
ID_RULE: Final = (
    f"an id is 1..{MAX_ID_LENGTH} characters, with no control or bidirectional formatting characters "
    "and no surrounding spaces"
)


def is_valid_id(value: object) -> bool:
    """True when `value` is a str that follows the id rule."""
    return isinstance(value, str) and ID_PATTERN.match(value) is not None and value == value.strip()


def check_id(value: object, what: str = "id") -> str:
    """`value` when it follows the id rule.

    Raises
    ------
    InvalidId
        Not a string, or breaks the rule; the message names `what` and never echoes a long value.
    """
    if not is_valid_id(value):
        raise InvalidId(f"{what}: {ID_RULE}")
    assert isinstance(value, str)
    return value
