"""start_service: a service relationship from a provider (or care team) to a student: the need to know."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, PutEdge
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import EdgeKind, Serves, ServiceStatus
from graph.stores.base import GraphStore, WriteTx

__all__ = ["StartService", "start_service"]


@dataclass(frozen=True, slots=True)
class StartService:
    """The input of `start_service`; ``at`` None: now."""

    provider_id: str
    student_id: str
    categories_needed: frozenset[str]
    id: str | None = None
    program_id: str | None = None
    status: ServiceStatus = ServiceStatus.ACTIVE
    at: datetime | None = None


def start_service(store: GraphStore, cmd: StartService, *, now: datetime, key: str | None = None) -> Committed:
    """Open a SERVES edge from ``at`` (default `now`). Result: ``{"service": id}``.

    A retry without an idempotency key cannot make a second relationship: while one from
    the same provider to the same student in the same program is open (not ended), another
    is refused.

    Raises
    ------
    PreconditionFailed
        ``already_exists`` (explicit id in use); ``service_already_open``.
    ChangeRejected
        Unknown provider, student or program, or of the wrong kind.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        if cmd.id is not None and tx.edge(cmd.id) is not None:
            raise PreconditionFailed("already_exists", f"id {cmd.id!r} already exists", field="id")
        for e in tx.edges_at(cmd.provider_id, EdgeKind.SERVES, "out"):
            if (
                isinstance(e, Serves)
                and e.to_id == cmd.student_id
                and e.program == cmd.program_id
                and e.valid_to is None
                and e.status is not ServiceStatus.ENDED
            ):
                raise PreconditionFailed(
                    "service_already_open",
                    f"service relationship {e.id!r} from this provider to this student in this program is still open",
                    field="providerId",
                )
        eid = cmd.id or ids("sv")
        edge = Serves(
            id=eid,
            from_id=cmd.provider_id,
            to_id=cmd.student_id,
            valid_from=cmd.at or now,
            status=cmd.status,
            program=cmd.program_id,
            categories_needed=cmd.categories_needed,
        )
        return [PutEdge(edge)], {"service": eid}

    return run(store, "start_service", cmd, body, key=key)
