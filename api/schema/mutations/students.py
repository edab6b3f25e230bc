# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""transferStudent, verifyGuardian: thin resolvers over graph.commands (history is kept)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.mutations.common import IdempotencyKey, write
from api.schema.types import RelationshipPayload, RelationshipResult, from_relationship
from graph import commands
from graph.model import Edge
from graph.stores.base import Committed, GraphStore

__all__ = ["StudentMutations", "relationships_view"]


def relationships_view(store: GraphStore, committed: Committed) -> RelationshipPayload:
    """The payload of a write that opened and closed edges (ids in the command's result)."""

    def views(key: str) -> list[Edge]:
        ids = [str(i) for i in committed.result.get(key, ())]
        return [e for e in (store.edge(i) for i in ids) if e is not None]

    return RelationshipPayload(
        relationships=[from_relationship(e) for e in views("opened")],
        closed=[from_relationship(e) for e in views("closed")],
        consistency_token=committed.token,
        replayed=committed.replayed,
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
        idempotency_key: IdempotencyKey = None,
    ) -> RelationshipResult:
        cmd = commands.TransferStudent(student_id=str(student_id), school_id=str(school_id), at=at)
        store, now = info.context.engine.store, info.context.now
        return write(
            info, lambda: commands.transfer_student(store, cmd, now=now, key=idempotency_key), lambda c: relationships_view(store, c)
        )

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
        idempotency_key: IdempotencyKey = None,
    ) -> RelationshipResult:
        cmd = commands.VerifyGuardian(guardian_id=str(guardian_id), student_id=str(student_id), at=at)
        store, now = info.context.engine.store, info.context.now
        return write(
            info, lambda: commands.verify_guardian(store, cmd, now=now, key=idempotency_key), lambda c: relationships_view(store, c)
        )
