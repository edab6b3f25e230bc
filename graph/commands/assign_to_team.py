"""assign_to_team: a provider (or team) joins a care team; the team is created if new."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graph.changes import Change, PutEdge, PutNode
from graph.commands.base import Committed, IdMaker, run
from graph.errors import PreconditionFailed
from graph.model import EdgeKind, MemberOf, Team
from graph.stores.base import GraphStore, WriteTx

__all__ = ["AssignToTeam", "assign_to_team"]


@dataclass(frozen=True, slots=True)
class AssignToTeam:
    """The input of `assign_to_team`; ``at`` None: now."""

    member_id: str
    team_id: str
    team_name: str | None = None
    at: datetime | None = None


def assign_to_team(store: GraphStore, cmd: AssignToTeam, *, now: datetime, key: str | None = None) -> Committed:
    """Open a MEMBER_OF edge from ``at``. Result: ``{"opened": [id], "team_created": bool}``.

    Raises
    ------
    PreconditionFailed
        ``not_a_team`` (the id names another kind); ``already_member`` (an open membership).
    ChangeRejected
        Unknown member.
    """

    def body(tx: WriteTx, ids: IdMaker) -> tuple[Sequence[Change], Mapping[str, Any]]:
        existing = tx.node(cmd.team_id)
        changes: list[Change] = []
        if existing is None:
            changes.append(PutNode(Team(id=cmd.team_id, name=cmd.team_name or cmd.team_id)))
        elif not isinstance(existing, Team):
            raise PreconditionFailed("not_a_team", f"{cmd.team_id!r} is not a team", field="teamId")
        else:
            for m in tx.edges_at(cmd.member_id, EdgeKind.MEMBER_OF, "out"):
                if m.to_id == cmd.team_id and m.valid_to is None:
                    raise PreconditionFailed("already_member", f"membership {m.id!r} is still open", field="memberId")
        edge = MemberOf(id=ids("m"), from_id=cmd.member_id, to_id=cmd.team_id, valid_from=cmd.at or now)
        changes.append(PutEdge(edge))
        return changes, {"opened": [edge.id], "team_created": existing is None}

    return run(store, "assign_to_team", cmd, body, key=key)
