"""What every mutation shares: admin only, build the changes, apply, map refusals to ValidationError."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import strawberry
from pydantic import ValidationError as PydanticValidationError
from strawberry.types import Info

from api.roles import require_admin
from api.schema.context import Context
from api.schema.types import ValidationError
from graph.changes import Change
from graph.errors import ChangeRejected, InputError

__all__ = ["Rejected", "new_id", "write"]

R = TypeVar("R")


class Rejected(Exception):
    """A mutation's own precondition failed (e.g. revoking a consent twice)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def new_id(prefix: str) -> str:
    """A fresh edge or node id."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def write(info: Info[Context, None], build: Callable[[], tuple[Sequence[Change], Callable[[str], R]]]) -> R | ValidationError:
    """Run a mutation: admin only; `build` reads the store and returns the changes and how to
    make the result from the consistency token; refusals become ValidationError.

    Raises
    ------
    Forbidden
        The caller is not an admin.
    """
    ctx = info.context
    require_admin(ctx.principal)
    ctx.engine.store.sync(None)
    try:
        changes, result = build()
        token = ctx.engine.apply(changes)
    except Rejected as err:
        return ValidationError(field=err.field, message=str(err))
    except ChangeRejected as err:
        return ValidationError(field=err.field, message=str(err))
    except PydanticValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or None
        return ValidationError(field=loc, message=str(first["msg"]))
    except InputError as err:
        return ValidationError(field=None, message=str(err))
    return result(token)


def sid(value: str) -> strawberry.ID:
    """An ID."""
    return strawberry.ID(value)
