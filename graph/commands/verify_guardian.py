"""verify_guardian: a data steward verified a guardian's FERPA rights (34 CFR 99.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, CloseEdge, PutEdge
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import EdgeKind, FerpaRights, GuardianOf
from graph.stores.base import GraphStore, WriteTx

__all__ = ["VerifyGuardian", "verify_guardian"]


@dataclass(frozen=True, slots=True)
class VerifyGuardian:
    """The input of `verify_guardian`; ``at`` None: now (it may be the relationship's start)."""

    guardian_id: str
    student_id: str
    at: datetime | None = None


def verify_guardian(store: GraphStore, cmd: VerifyGuardian, *, now: datetime, key: str | None = None) -> Committed:
    """Close the open ``unverified`` GUARDIAN_OF link(s) at ``at`` and open ones with full rights.

    Rights before ``at`` stay unverified (history is kept). Result: ``{"opened": [...], "closed": [...]}``.

    Raises
    ------
    PreconditionFailed
        ``guardian_not_unverified``: no open, unverified link from this guardian to this
        student (so of two concurrent verifications one is refused).
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        links = [
            g
            for g in tx.edges_at(cmd.student_id, EdgeKind.GUARDIAN_OF, "in")
            if isinstance(g, GuardianOf)
            and g.from_id == cmd.guardian_id
            and g.valid_to is None
            and g.ferpa_rights is FerpaRights.UNVERIFIED
        ]
        if not links:
            raise PreconditionFailed(
                "guardian_not_unverified", "no open, unverified GUARDIAN_OF link from this guardian to this student", field="guardianId"
            )
        when = cmd.at or now
        changes: list[Change] = []
        opened: list[str] = []
        for old in links:
            new = GuardianOf(
                id=ids("g"),
                from_id=old.from_id,
                to_id=old.to_id,
                valid_from=when,
                relationship=old.relationship,
                ferpa_rights=FerpaRights.FULL,
                lives_with=old.lives_with,
                source=old.source,
            )
            changes += [CloseEdge(old.id, when), PutEdge(new)]
            opened.append(new.id)
        return changes, {"opened": opened, "closed": [g.id for g in links]}

    return run(store, "verify_guardian", cmd, body, key=key)
