"""What every mutation shares: admin only, call a command, map refusals to ValidationError.

Resolvers never read or write the store to decide a write: the command does, inside the
store's write transaction (graph/commands). They only read it afterwards, by the ids the
command returns, to show what was written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import strawberry
from pydantic import ValidationError as PydanticValidationError
from strawberry.types import Info

from api.roles import require_admin
from api.schema.context import Context
from api.schema.types import ValidationError
from graph.errors import ChangeRejected, InputError, PreconditionFailed
from graph.stores.base import Committed

__all__ = ["IdempotencyKey", "run_command", "write"]

R = TypeVar("R")

IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="A client-chosen key (1..200 printable characters). The same key with the same input returns the "
        "original result (same ids, same consistencyToken, replayed: true) without writing again; with a different "
        "input it is a ValidationError with code idempotency_key_reused."
    ),
]


def write(info: Info[Context, None], command: Callable[[], Committed], view: Callable[[Committed], R]) -> R | ValidationError:
    """Run a write command for an admin; refusals become ValidationError (with its code).

    Raises
    ------
    Forbidden
        The caller is not an admin.
    """
    require_admin(info.context.principal)
    return run_command(command, view)


def run_command(command: Callable[[], Committed], view: Callable[[Committed], R]) -> R | ValidationError:
    """Run a write command the caller was already authorised for; refusals become ValidationError."""
    try:
        committed = command()
    except PreconditionFailed as err:
        return ValidationError(field=err.field, message=str(err), code=err.code)
    except ChangeRejected as err:
        return ValidationError(field=err.field, message=str(err), code=getattr(err, "code", "invalid"))
    except PydanticValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or None
        return ValidationError(field=loc, message=str(first["msg"]))
    except InputError as err:
        return ValidationError(field=None, message=str(err))
    return view(committed)


def sid(value: str) -> strawberry.ID:
    """An ID."""
    return strawberry.ID(value)
