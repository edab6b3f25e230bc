# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""replayDecision (admins): re-derive a recorded decision from the journal (graph/replay.py)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api.errors import NotFound
from api.roles import require_admin
from api.schema.context import Context
from graph.audit import SqliteAuditLog
from graph.errors import InputError
from graph.replay import replay

__all__ = ["ReplayQuery", "ReplayResult"]


@strawberry.type(description="A recorded decision re-derived from the journal as known at its consistency token.")
class ReplayResult:
    decision_id: strawberry.ID = strawberry.field(description="The record replayed.")
    consistency_token: str = strawberry.field(description="The store state it was decided on, and replayed at.")
    identical: bool = strawberry.field(description="True when outcome, every reason, released categories, path and policy match.")
    differences: list[str] = strawberry.field(description="Each field that differs: recorded value, then replayed value.")


@strawberry.type
class ReplayQuery:
    @strawberry.field(
        description="Replay a recorded decision from the journal (admins; the embedded store): identical, or the exact difference."
    )
    def replay_decision(self, info: Info[Context, None], id: strawberry.ID) -> ReplayResult:
        ctx = info.context
        require_admin(ctx.principal)
        audit = ctx.engine.audit
        if not isinstance(audit, SqliteAuditLog) or ctx.settings.backend != "networkx":
            raise InputError("replay reads the embedded store's journal; this server runs another backend")
        record = audit.get(str(id))
        if record is None:
            raise NotFound(f"no recorded decision with id {str(id)!r}")
        report = replay(ctx.settings.db, record, ctx.engine.policy)
        return ReplayResult(
            decision_id=strawberry.ID(report.decision_id),
            consistency_token=report.consistency_token,
            identical=report.identical,
            differences=list(report.differences),
        )
