"""rotate_token: a new secret with the same grants; the old one stops at once or after a grace period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graph.commands.create_token import TokenRegistry, check_grants, expiry
from graph.errors import InputError, PreconditionFailed
from graph.stores.base import GraphStore
from graph.timeutil import utcnow

__all__ = ["RotateToken", "rotate_token"]


@dataclass(frozen=True, slots=True)
class RotateToken:
    """The input of `rotate_token`: the token, the new one's expiry, the old one's grace period."""

    token_id: str
    expires_at: datetime | None = None
    lifetime: timedelta | None = None
    grace: timedelta | None = None


def rotate_token(registry: TokenRegistry, store: GraphStore, cmd: RotateToken) -> Any:
    """Replace a token by a new one with the same role, subject, partners and label.

    The grants are checked again as `create_token` checks them (a token for a subject that
    is no longer in the graph is not renewed). The registry swaps the tokens in one
    transaction that holds the old token's lock, so of concurrent rotations exactly one
    succeeds. Returns the registry's (info, secret) of the new token.

    Raises
    ------
    PreconditionFailed
        ``not_found``: no such token, or its subject or a partner is not in the graph;
        ``token_not_active``: the token is revoked, expired or already rotated.
    InputError
        An expiry that is naive or not in the future; a negative grace period.
    """
    if cmd.grace is not None and cmd.grace < timedelta(0):
        raise InputError("--grace must not be negative")
    old = registry.get(cmd.token_id)
    if old is None:
        raise PreconditionFailed("not_found", f"no token {cmd.token_id!r}", field="tokenId")
    now = utcnow()
    expires_at = expiry(cmd.expires_at, cmd.lifetime, now)
    check_grants(store, str(old.role), old.subject, tuple(old.partner_ids))
    grace_until = now + cmd.grace if cmd.grace else None
    rotated = registry.rotate(cmd.token_id, expires_at, grace_until)
    if rotated is None:
        raise PreconditionFailed("token_not_active", f"token {cmd.token_id!r} is revoked, expired or already rotated", field="tokenId")
    return rotated
