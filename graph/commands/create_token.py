"""create_token: a bearer token for a role, its subject and partners checked against the graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from graph.errors import PreconditionFailed
from graph.model import NodeKind
from graph.stores.base import GraphStore

__all__ = ["CreateToken", "TokenRegistry", "create_token"]

SUBJECT_KINDS: dict[str, frozenset[NodeKind]] = {
    "provider": frozenset({NodeKind.PROVIDER}),
    "guardian": frozenset({NodeKind.GUARDIAN, NodeKind.STUDENT}),  # an eligible student speaks for themself
}
"""Roles whose subject must be a node of these kinds (an app's subject is its name)."""


class TokenRegistry(Protocol):
    """Where tokens are kept (`api.tokens.TokenStore`): only hashes of secrets."""

    def create(self, role: Any, subject: str | None = None, partner_ids: tuple[str, ...] = (), label: str | None = None) -> Any: ...

    def revoke(self, token_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class CreateToken:
    """The input of `create_token`."""

    role: str
    subject: str | None = None
    partner_ids: tuple[str, ...] = ()
    label: str | None = None


def create_token(registry: TokenRegistry, store: GraphStore, cmd: CreateToken) -> Any:
    """Create a token; return the registry's (info, secret) (the secret is shown once).

    Not idempotent by key: a retry would need the secret again, which is never stored.

    Raises
    ------
    PreconditionFailed
        ``not_found``: the subject (provider, guardian or eligible student) or a partner is
        not in the graph, or is of another kind.
    InputError
        Unknown role; a role that needs a subject without one; an app without partners.
    """
    kinds = SUBJECT_KINDS.get(cmd.role)
    if kinds is not None and cmd.subject:
        node = store.node(cmd.subject)
        if node is None or node.kind not in kinds:
            names = " or ".join(sorted(k.value for k in kinds))
            raise PreconditionFailed("not_found", f"no {names} with id {cmd.subject!r}", field="subject")
    for partner in cmd.partner_ids:
        node = store.node(partner)
        if node is None or node.kind is not NodeKind.PARTNER:
            raise PreconditionFailed("not_found", f"no Partner with id {partner!r}", field="partner")
    return registry.create(cmd.role, cmd.subject, cmd.partner_ids, cmd.label)
