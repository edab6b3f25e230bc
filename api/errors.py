"""Coded errors of the API: what a client may rely on is ``extensions.code``.

::

    ApiError                    code in extensions; never masked
     ├─ Unauthenticated         UNAUTHENTICATED (HTTP 401, before GraphQL runs)
     ├─ Forbidden               FORBIDDEN: the caller's role may not ask this
     ├─ BadInput                BAD_INPUT: a malformed value (naive time, bad id list ...)
     ├─ BatchTooLarge           BATCH_TOO_LARGE: checkMany over the configured limit
     └─ NotFound                NOT_FOUND: unknown id (admins only; others get FORBIDDEN
                                or a redacted deny, DOMAIN.md "Who may see which reasons")

    LimitExceeded (a GraphQLError) LIMIT_EXCEEDED: over a token, depth, alias or size limit
    RequestRefused              the request is not a well-formed GraphQL-over-HTTP request
                                (or is refused before GraphQL runs): HTTP status, code, message

Domain errors (graph.errors) raised by the engine are mapped to codes by `code_for`;
anything else is a bug and is masked as INTERNAL. Errors are told apart by type, never
by their message (api/http.py).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from graphql import GraphQLError

from graph.errors import (
    ChangeRejected,
    DepthLimitExceeded,
    InputError,
    NeedToKnowError,
    StaleRead,
    StoreUnavailable,
    UnknownNode,
)

__all__ = [
    "ApiError",
    "BadInput",
    "BatchTooLarge",
    "CODES",
    "LimitExceeded",
    "RequestRefused",
    "Forbidden",
    "NotFound",
    "Unauthenticated",
    "code_for",
]


class ApiError(Exception):
    """An expected failure with a stable code; `extensions` is copied into the GraphQL error."""

    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code}
        if field is not None:
            self.extensions["field"] = field


class Unauthenticated(ApiError):
    """No bearer token, or one that is unknown or revoked."""

    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    """The caller's role may not ask this question. Says nothing about whether the ids exist."""

    code = "FORBIDDEN"

    def __init__(self, message: str = "Your role may not ask this.") -> None:
        super().__init__(message)


class BadInput(ApiError):
    """A value the schema accepted but the API cannot use (a naive time, an empty list ...)."""

    code = "BAD_INPUT"


class BatchTooLarge(ApiError):
    """More requests in one batch than `ApiSettings.max_batch`."""

    code = "BATCH_TOO_LARGE"


class NotFound(ApiError):
    """No node with this id (shown to admins only)."""

    code = "NOT_FOUND"


class LimitExceeded(GraphQLError):
    """A document over a configured limit (tokens, expanded size, depth, aliases): refused before execution."""

    def __init__(self, message: str, nodes: Any = None) -> None:
        super().__init__(message, nodes, extensions={"code": "LIMIT_EXCEEDED"})


class RequestRefused(Exception):
    """A request refused before GraphQL runs: HTTP status, code and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


CODES: Final = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_INPUT",
        "BATCH_TOO_LARGE",
        "NOT_FOUND",
        "STALE_READ",
        "TEAM_DEPTH_LIMIT",
        "CHANGE_REJECTED",
        "STORE_UNAVAILABLE",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "LIMIT_EXCEEDED",
        "RATE_LIMITED",
        "BAD_REQUEST",
        "BODY_TOO_LARGE",
        "METHOD_NOT_ALLOWED",
        "UNSUPPORTED_MEDIA_TYPE",
        "NOT_ACCEPTABLE",
        "INTERNAL",
    }
)
"""Every code a client can see."""


def code_for(error: BaseException | None) -> str | None:
    """The public code of an exception, or None when it must be masked (a bug)."""
    if isinstance(error, ApiError):
        return error.code
    if isinstance(error, UnknownNode):
        return "NOT_FOUND"
    if isinstance(error, InputError):
        return "BAD_INPUT"
    if isinstance(error, StaleRead):
        return "STALE_READ"
    if isinstance(error, DepthLimitExceeded):
        return "TEAM_DEPTH_LIMIT"
    if isinstance(error, ChangeRejected):
        return "CHANGE_REJECTED"
    if isinstance(error, StoreUnavailable):
        return "STORE_UNAVAILABLE"
    if isinstance(error, NeedToKnowError):
        return "BAD_INPUT"
    return None
