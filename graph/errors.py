"""Typed errors of the needtoknow domain.

The whole tree, so callers catch exactly what they mean::

    NeedToKnowError
     ├─ InputError              a bad question: GraphQL error / CLI exit 2, never a deny
     │   ├─ UnknownProvider
     │   ├─ UnknownStudent
     │   ├─ UnknownNode
     │   ├─ InvalidTime
     │   │   └─ NaiveDatetimeError
     │   ├─ InvalidCursor
     │   └─ InvalidId           breaks the id rule (graph/ids.py)
     ├─ ChangeRejected          a write that would break the graph (dangling id, duplicate id,
     │   │                      wrong kind, bad property); nothing of the batch is applied
     │   ├─ PreconditionFailed  a command's precondition does not hold in the committed state
     │   │                      (checked inside the write transaction); `code` names it
     │   └─ IdempotencyConflict an idempotency key reused with a different input
     ├─ DepthLimitExceeded      the configured team depth was reached: raised, never a silent deny
     ├─ StoreUnavailable
     │   └─ AuditUnavailable    the engine turns this into deny(audit_unavailable)
     ├─ StaleRead               a consistency token newer than the store could reach in time
     └─ LoadError               holds the Problems (file, line, field, message)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

__all__ = [
    "AuditUnavailable",
    "ChangeRejected",
    "DepthLimitExceeded",
    "InputError",
    "InvalidCursor",
    "InvalidId",
    "InvalidTime",
    "LoadError",
    "NaiveDatetimeError",
    "IdempotencyConflict",
    "NeedToKnowError",
    "PreconditionFailed",
    "Problem",
    "StaleRead",
    "StoreUnavailable",
    "UnknownNode",
    "UnknownProvider",
    "UnknownStudent",
]


class NeedToKnowError(Exception):
    """Base of every error this package raises on purpose."""


class InputError(NeedToKnowError):
    """The question itself is wrong (unknown id, bad time): an error, never a deny."""

    code = "BAD_INPUT"


class UnknownNode(InputError):
    """No node with this id (of the expected kind) exists."""

    code = "UNKNOWN_NODE"

    def __init__(self, node_id: str, kind: str | None = None) -> None:
        self.node_id = node_id
        self.kind = kind
        what = kind or "node"
        super().__init__(f"unknown {what.lower()} id {node_id!r}")


class UnknownProvider(UnknownNode):
    """Reason code `unknown_provider` (DOMAIN.md, "Input")."""

    code = "unknown_provider"

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id, "Provider")


class UnknownStudent(UnknownNode):
    """Reason code `unknown_student` (DOMAIN.md, "Input")."""

    code = "unknown_student"

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id, "Student")


class InvalidTime(InputError):
    """Reason code `invalid_time`: unparsable or out-of-range time."""

    code = "invalid_time"


class NaiveDatetimeError(InvalidTime):
    """A datetime without a UTC offset reached the engine; all times must be aware."""

    def __init__(self, value: Any) -> None:
        self.value = value
        shown = value if isinstance(value, str) else getattr(value, "isoformat", lambda: repr(value))()
        super().__init__(f"naive time '{shown}': a timezone offset is required (e.g. 'Z' or '+00:00')")


class InvalidCursor(InputError):
    """A pagination cursor that this server did not issue."""

    code = "invalid_cursor"


class InvalidId(InputError):
    """An id that breaks the id rule (graph/ids.py): empty, too long, control or bidi characters, surrounding spaces."""

    code = "invalid_id"


class ChangeRejected(NeedToKnowError):
    """A write was refused; no part of its batch was applied.

    Attributes
    ----------
    field : str | None
        The offending field, when one can be named.
    """

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None) -> None:
        self.field = field
        self.index = index
        super().__init__(message)


class PreconditionFailed(ChangeRejected):
    """A write command's precondition does not hold in the committed state.

    Checked inside the store's write transaction (under the journal's write lock, or in
    the same Neo4j transaction), so of two concurrent writers at most one can pass a
    precondition that only one can hold (SpiceDB's write preconditions).

    Attributes
    ----------
    code : str
        Stable, machine-readable: ``not_found``, ``already_exists``,
        ``consent_already_revoked``, ``service_already_ended``, ``service_superseded``, ``service_already_open``,
        ``service_status_unchanged``, ``guardian_not_unverified``, ``not_a_team``,
        ``already_member``, ``token_already_revoked``, ...
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        self.code = code
        super().__init__(message, field=field)


class IdempotencyConflict(ChangeRejected):
    """An idempotency key was used before with a different verb or input.

    The same key with the same input returns the original result without a second write;
    with a different input it is this error (nothing is written).
    """

    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used with a different input", field="idempotencyKey")


class DepthLimitExceeded(NeedToKnowError):
    """Team membership nesting went past `Policy.max_team_depth`.

    Raised, never turned into a deny (DOMAIN.md, "Need to know").
    """

    def __init__(self, provider_id: str, limit: int) -> None:
        self.provider_id = provider_id
        self.limit = limit
        super().__init__(
            f"team nesting for provider {provider_id!r} exceeds the configured depth limit {limit}; "
            "raise Policy.max_team_depth or flatten the teams"
        )


class StoreUnavailable(NeedToKnowError):
    """The store (journal, Neo4j) cannot be reached or written."""


class AuditUnavailable(StoreUnavailable):
    """The record of decisions cannot be written: the answer becomes deny(audit_unavailable)."""


class StaleRead(NeedToKnowError):
    """The store could not reach the consistency token asked for within the wait allowed."""

    def __init__(self, wanted: int, have: int) -> None:
        self.wanted = wanted
        self.have = have
        super().__init__(f"consistency token {wanted} not reached (store is at {have})")


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad value in a source: where it is and why it was refused.

    `line` is the 1-based physical line for text formats, or None; `path` is an XML
    element path or JSON pointer when there is no line.
    """

    file: str
    line: int | None
    field: str | None
    message: str
    path: str | None = None
    value: str | None = dataclass_field(default=None, compare=False)
    """The offending value as found, when there is one (for `load --report`)."""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.path:
            where += f" {self.path}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


class LoadError(NeedToKnowError):
    """A load was refused; the store is unchanged. Carries every Problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} problem(s): {head}{more}")
