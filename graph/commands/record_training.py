"""record_training: a provider completed a training course (TRAINED edge)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, PutEdge
from graph.commands.base import Committed, IdMaker, run
from graph.model import Trained
from graph.stores.base import GraphStore, WriteTx

__all__ = ["RecordTraining", "record_training"]


@dataclass(frozen=True, slots=True)
class RecordTraining:
    """The input of `record_training`; ``completed_at`` None: now; ``expires_at`` None: never."""

    provider_id: str
    course_id: str
    completed_at: datetime | None = None
    expires_at: datetime | None = None


def record_training(store: GraphStore, cmd: RecordTraining, *, now: datetime, key: str | None = None) -> Committed:
    """Record a completed course, valid ``[completed_at, expires_at)``. Result: ``{"opened": [id]}``.

    Raises
    ------
    ChangeRejected
        Unknown provider or course, or an expiry before completion.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        edge = Trained(
            id=ids("tr"), from_id=cmd.provider_id, to_id=cmd.course_id, valid_from=cmd.completed_at or now, valid_to=cmd.expires_at
        )
        return [PutEdge(edge)], {"opened": [edge.id]}

    return run(store, "record_training", cmd, body, key=key)
