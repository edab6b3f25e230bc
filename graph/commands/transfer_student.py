"""transfer_student: a student moves school on a date; the community moves with it (DOMAIN.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, CloseEdge, PutEdge
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import Attends, EdgeKind, Student
from graph.stores.base import GraphStore, WriteTx

__all__ = ["TransferStudent", "transfer_student"]


@dataclass(frozen=True, slots=True)
class TransferStudent:
    """The input of `transfer_student`; ``at`` None: now."""

    student_id: str
    school_id: str
    at: datetime | None = None


def transfer_student(store: GraphStore, cmd: TransferStudent, *, now: datetime, key: str | None = None) -> Committed:
    """Close every open ATTENDS edge at ``at`` and open one to the new school.

    Result: ``{"opened": [id], "closed": [ids]}``.

    Raises
    ------
    PreconditionFailed
        ``not_found`` (no such student); ``already_enrolled`` (an open enrolment at that school).
    ChangeRejected
        Unknown school; ``at`` before an enrolment it would close.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        if not isinstance(tx.node(cmd.student_id), Student):
            raise PreconditionFailed("not_found", f"no student with id {cmd.student_id!r}", field="studentId")
        current = [a for a in tx.edges_at(cmd.student_id, EdgeKind.ATTENDS, "out") if a.valid_to is None]
        if any(a.to_id == cmd.school_id for a in current):
            raise PreconditionFailed("already_enrolled", "the student is already enrolled at that school", field="schoolId")
        when = cmd.at or now
        new = Attends(id=ids("at"), from_id=cmd.student_id, to_id=cmd.school_id, valid_from=when)
        changes: list[Change] = [CloseEdge(a.id, when) for a in current]
        changes.append(PutEdge(new))
        return changes, {"opened": [new.id], "closed": [a.id for a in current]}

    return run(store, "transfer_student", cmd, body, key=key)
