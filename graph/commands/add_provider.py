"""add_provider: a new provider, employed by a partner and working in communities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, PutEdge, PutNode
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import EmployedBy, Provider, WorksIn
from graph.stores.base import GraphStore, WriteTx

__all__ = ["AddProvider", "add_provider"]


@dataclass(frozen=True, slots=True)
class AddProvider:
    """The input of `add_provider`; ``at`` (start of employment) None: now."""

    id: str
    name: str
    partner_id: str
    community_ids: tuple[str, ...]
    at: datetime | None = None


def add_provider(store: GraphStore, cmd: AddProvider, *, now: datetime, key: str | None = None) -> Committed:
    """Create the Provider with EMPLOYED_BY and WORKS_IN edges from ``at``.

    Result: ``{"provider": id, "opened": [edge ids]}``.

    Raises
    ------
    PreconditionFailed
        ``already_exists``.
    ChangeRejected
        Unknown partner or community.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        if tx.node(cmd.id) is not None:
            raise PreconditionFailed("already_exists", f"id {cmd.id!r} already exists", field="id")
        when = cmd.at or now
        provider = Provider(id=cmd.id, name=cmd.name)
        edges = [EmployedBy(id=ids("emp"), from_id=provider.id, to_id=cmd.partner_id, valid_from=when)]
        edges += [WorksIn(id=ids("w"), from_id=provider.id, to_id=c, valid_from=when) for c in cmd.community_ids]  # type: ignore[misc]
        changes: list[Change] = [PutNode(provider), *(PutEdge(e) for e in edges)]
        return changes, {"provider": provider.id, "opened": [e.id for e in edges]}

    return run(store, "add_provider", cmd, body, key=key)
