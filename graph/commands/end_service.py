"""end_service: close a service relationship's edge at a time (history is kept)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, CloseEdge
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import EdgeKind, Serves
from graph.stores.base import GraphStore, WriteTx

__all__ = ["EndService", "end_service", "open_service"]


@dataclass(frozen=True, slots=True)
class EndService:
    """The input of `end_service`; ``at`` None: now."""

    service_id: str
    at: datetime | None = None


def open_service(tx: WriteTx, service_id: str) -> Serves:
    """The committed, still open SERVES edge; else PreconditionFailed.

    A closed edge continued by a status change (a SERVES edge from the same provider to the
    same student in the same program starting at its end) is ``service_superseded``, naming
    the current edge, so a writer that lost a race to a status change is not told the
    relationship ended.
    """
    edge = tx.edge(service_id)
    if not isinstance(edge, Serves):
        raise PreconditionFailed("not_found", f"no service relationship with id {service_id!r}", field="serviceId")
    if edge.valid_to is not None:
        successor = next(
            (
                e
                for e in tx.edges_at(edge.to_id, EdgeKind.SERVES, "in")
                if isinstance(e, Serves) and e.from_id == edge.from_id and e.program == edge.program and e.valid_from == edge.valid_to
            ),
            None,
        )
        if successor is not None:
            raise PreconditionFailed(
                "service_superseded",
                f"the service relationship was changed by another write; its current edge is {successor.id!r}",
                field="serviceId",
            )
        raise PreconditionFailed("service_already_ended", "the service relationship has already ended", field="serviceId")
    return edge


def end_service(store: GraphStore, cmd: EndService, *, now: datetime, key: str | None = None) -> Committed:
    """End a service relationship at ``at`` (exclusive; default `now`). Result: ``{"service": id, "closed": [id]}``.

    Raises
    ------
    PreconditionFailed
        ``not_found``; ``service_already_ended`` (so of two concurrent ends one is refused);
        ``service_superseded`` (a status change replaced this edge: end the current one).
    ChangeRejected
        ``at`` is before the relationship started.
    """

    def body(tx: WriteTx, _ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        old = open_service(tx, cmd.service_id)
        return [CloseEdge(old.id, cmd.at or now)], {"service": old.id, "closed": [old.id]}

    return run(store, "end_service", cmd, body, key=key)
