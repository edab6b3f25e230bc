"""sign_agreement: a provider or partner signed a version of a data agreement (SIGNED edge)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, PutEdge
from graph.commands.base import Committed, IdMaker, run
from graph.model import Signed
from graph.stores.base import GraphStore, WriteTx

__all__ = ["SignAgreement", "sign_agreement"]


@dataclass(frozen=True, slots=True)
class SignAgreement:
    """The input of `sign_agreement`; ``version`` None: the agreement's own version."""

    signer_id: str
    agreement_id: str
    signed_at: datetime | None = None
    expires_at: datetime | None = None
    version: int | None = None


def sign_agreement(store: GraphStore, cmd: SignAgreement, *, now: datetime, key: str | None = None) -> Committed:
    """Record a signature valid ``[signed_at, expires_at)``. Result: ``{"opened": [id]}``.

    Raises
    ------
    ChangeRejected
        Unknown signer or agreement, wrong kinds, a version below 1.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        edge = Signed(
            id=ids("sg"),
            from_id=cmd.signer_id,
            to_id=cmd.agreement_id,
            valid_from=cmd.signed_at or now,
            valid_to=cmd.expires_at,
            version=cmd.version,
        )
        return [PutEdge(edge)], {"opened": [edge.id]}

    return run(store, "sign_agreement", cmd, body, key=key)
