"""change_service_status: close the current SERVES edge and open one with the new status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, CloseEdge, PutEdge
from graph.commands.base import Committed, IdMaker, run
from graph.commands.end_service import open_service
from graph.errors import PreconditionFailed
from graph.model import Serves, ServiceStatus
from graph.stores.base import GraphStore, WriteTx

__all__ = ["ChangeServiceStatus", "change_service_status"]


@dataclass(frozen=True, slots=True)
class ChangeServiceStatus:
    """The input of `change_service_status`; ``at`` None: now."""

    service_id: str
    status: ServiceStatus
    at: datetime | None = None


def change_service_status(store: GraphStore, cmd: ChangeServiceStatus, *, now: datetime, key: str | None = None) -> Committed:
    """From ``at`` (default `now`) the relationship has `status`; "who served S on 3 March,
    and how" stays an ordinary query. Result: ``{"service": new id, "closed": [old id]}``.

    Raises
    ------
    PreconditionFailed
        ``not_found``; ``service_already_ended``; ``service_superseded`` (another status change
        closed this edge first: use the current edge the message names); ``service_status_unchanged``.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        old = open_service(tx, cmd.service_id)
        if old.status is cmd.status:
            raise PreconditionFailed("service_status_unchanged", f"the service is already {old.status}", field="status")
        when = cmd.at or now
        new = Serves(
            id=ids("sv"),
            from_id=old.from_id,
            to_id=old.to_id,
            valid_from=when,
            status=cmd.status,
            program=old.program,
            categories_needed=old.categories_needed,
            source=old.source,
        )
        return [CloseEdge(old.id, when), PutEdge(new)], {"service": new.id, "closed": [old.id]}

    return run(store, "change_service_status", cmd, body, key=key)
