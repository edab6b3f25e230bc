"""revoke_token: a token stops working at once, in every worker."""

from __future__ import annotations

from graph.commands.create_token import TokenRegistry
from graph.errors import PreconditionFailed

__all__ = ["revoke_token"]


def revoke_token(registry: TokenRegistry, token_id: str) -> None:
    """Revoke a token. The registry's conditional update is its own transaction
    (``UPDATE ... WHERE revoked_at IS NULL``): of concurrent revocations exactly one succeeds.

    Raises
    ------
    PreconditionFailed
        ``token_already_revoked``: no unrevoked token with this id.
    """
    if not registry.revoke(token_id):
        raise PreconditionFailed("token_already_revoked", f"no active token {token_id!r}", field="tokenId")
