"""create_token: a bearer token for a role, its subject and partners checked against the graph."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from graph.errors import InputError, PreconditionFailed
from graph.model import NodeKind
from graph.stores.base import GraphStore
from graph.timeutil import utcnow

__all__ = ["DEFAULT_LIFETIME", "CreateToken", "TokenRegistry", "check_grants", "create_token", "expiry"]

SUBJECT_KINDS: dict[str, frozenset[NodeKind]] = {
    "provider": frozenset({NodeKind.PROVIDER}),
    "guardian": frozenset({NodeKind.GUARDIAN, NodeKind.STUDENT}),  # an eligible student speaks for themself
}
"""Roles whose subject must be a node of these kinds (an app's subject is its name)."""

DEFAULT_LIFETIME: Final = timedelta(days=90)
"""A token's lifetime when none is asked for (``NTK_TOKEN_DEFAULT_LIFETIME_DAYS`` overrides it)."""


class TokenRegistry(Protocol):
    """Where tokens are kept (`api.tokens.TokenStore`): only hashes of secrets."""

    def create(
        self,
        role: Any,
        subject: str | None = None,
        partner_ids: tuple[str, ...] = (),
        label: str | None = None,
        expires_at: datetime | None = None,
    ) -> Any: ...

    def get(self, token_id: str) -> Any: ...

    def rotate(self, token_id: str, expires_at: datetime | None, grace_until: datetime | None = None) -> Any: ...

    def revoke(self, token_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class CreateToken:
    """The input of `create_token`.

    `expires_at` (aware) wins over `lifetime`; with neither the token lasts `DEFAULT_LIFETIME`.
    """

    role: str
    subject: str | None = None
    partner_ids: tuple[str, ...] = ()
    label: str | None = None
    expires_at: datetime | None = None
    lifetime: timedelta | None = None


def expiry(expires_at: datetime | None, lifetime: timedelta | None, now: datetime | None = None) -> datetime:
    """When a new token stops working: `expires_at`, else now + `lifetime` (default `DEFAULT_LIFETIME`).

    Raises
    ------
    InputError
        A naive `expires_at`, or one not after now.
    """
    now = now or utcnow()
    if expires_at is None:
        return now + (lifetime or DEFAULT_LIFETIME)
    if expires_at.utcoffset() is None:
        raise InputError("--expires needs a time with an offset")
    if expires_at <= now:
        raise InputError("--expires is not in the future")
    return expires_at


def check_grants(store: GraphStore, role: str, subject: str | None, partner_ids: tuple[str, ...]) -> None:
    """The subject (provider, guardian or eligible student) and every partner exist in the graph.

    Nodes are never deleted (the journal only appends), so a check that passes stays true.

    Raises
    ------
    PreconditionFailed
        ``not_found``: the subject or a partner is not in the graph, or is of another kind.
    """
    kinds = SUBJECT_KINDS.get(role)
    if kinds is not None and subject:
        node = store.node(subject)
        if node is None or node.kind not in kinds:
            names = " or ".join(sorted(k.value for k in kinds))
            raise PreconditionFailed("not_found", f"no {names} with id {subject!r}", field="subject")
    for partner in partner_ids:
        node = store.node(partner)
        if node is None or node.kind is not NodeKind.PARTNER:
            raise PreconditionFailed("not_found", f"no Partner with id {partner!r}", field="partner")


def create_token(registry: TokenRegistry, store: GraphStore, cmd: CreateToken) -> Any:
    """Create a token; return the registry's (info, secret) (the secret is shown once).

    Not idempotent by key: a retry would need the secret again, which is never stored.

    Raises
    ------
    PreconditionFailed
        ``not_found``: the subject (provider, guardian or eligible student) or a partner is
        not in the graph, or is of another kind.
    InputError
        Unknown role; a role that needs a subject without one; an app without partners; an
        expiry that is naive or not in the future.
    """
    expires_at = expiry(cmd.expires_at, cmd.lifetime)
    check_grants(store, cmd.role, cmd.subject, cmd.partner_ids)
    return registry.create(cmd.role, cmd.subject, cmd.partner_ids, cmd.label, expires_at)
