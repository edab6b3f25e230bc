# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""transferStudent, verifyGuardian: close the current edge, open a new one (history is kept)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.roles import NO_ID
from api.schema.context import Context
from api.schema.mutations.common import Rejected, new_id, write
from api.schema.types import RelationshipPayload, RelationshipResult, from_relationship
from graph.changes import Change, CloseEdge, PutEdge
from graph.model import Attends, Edge, FerpaRights, GuardianOf, Student
from graph.stores.base import GraphStore

__all__ = ["StudentMutations"]


def _payload(store: GraphStore, opened: list[str], closed: list[str], token: str) -> RelationshipPayload:
    def views(ids: list[str]) -> list[Edge]:
        return [e for e in (store.edge(i) for i in ids) if e is not None]

    return RelationshipPayload(
        relationships=[from_relationship(e) for e in views(opened)],
        closed=[from_relationship(e) for e in views(closed)],
        consistency_token=token,
    )


@strawberry.type(description="Student enrolment and guardian mutations.")
class StudentMutations:
    @strawberry.mutation(description="Move a student to another school at a time: closes current ATTENDS edges, opens a new one.")
    def transfer_student(
        self,
        info: Info[Context, None],
        student_id: strawberry.ID,
        school_id: strawberry.ID,
        at: Annotated[datetime | None, strawberry.argument(description="Transfer date; default now.")] = None,
    ) -> RelationshipResult:
        store = info.context.engine.store

        def build() -> tuple[list[Change], Callable[[str], RelationshipPayload]]:
            if not isinstance(store.node(str(student_id)), Student):
                raise Rejected(f"no student with id {str(student_id)!r}", field="studentId")
            when = at or info.context.now
            current = [a for a in store.gather_evidence(NO_ID, str(student_id)).attends if a.valid_to is None]
            new = Attends(id=new_id("at"), from_id=str(student_id), to_id=str(school_id), valid_from=when)
            changes: list[Change] = [CloseEdge(a.id, when) for a in current]
            changes.append(PutEdge(new))
            return changes, lambda token: _payload(store, [new.id], [a.id for a in current], token)

        return write(info, build)

    @strawberry.mutation(
        description="Verify a guardian's FERPA rights (as imported from rosters: unverified) from a time: "
        "closes the unverified GUARDIAN_OF edge and opens one with full rights."
    )
    def verify_guardian(
        self,
        info: Info[Context, None],
        guardian_id: strawberry.ID,
        student_id: strawberry.ID,
        at: Annotated[
            datetime | None,
            strawberry.argument(description="From when the rights are verified (may be the relationship's start); default now."),
        ] = None,
    ) -> RelationshipResult:
        store = info.context.engine.store

        def build() -> tuple[list[Change], Callable[[str], RelationshipPayload]]:
            links = [
                g
                for g in store.gather_evidence(NO_ID, str(student_id)).guardian_links
                if g.from_id == str(guardian_id) and g.valid_to is None and g.ferpa_rights is FerpaRights.UNVERIFIED
            ]
            if not links:
                raise Rejected("no open, unverified GUARDIAN_OF link from this guardian to this student", field="guardianId")
            when = at or info.context.now
            changes: list[Change] = []
            opened: list[str] = []
            for old in links:
                new = GuardianOf(
                    id=new_id("g"),
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
            return changes, lambda token: _payload(store, opened, [g.id for g in links], token)

        return write(info, build)
