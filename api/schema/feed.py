# mypy: disallow-untyped-decorators=False
"""The feed in GraphQL: ``accessChanges`` pages, the ``upcomingChanges`` forecast, and the
``accessChanges`` subscription (graphql-transport-ws, `api.subscriptions`). docs/feed.md.

Who sees what is `graph.feed.audience`: admins every change; an application changes about
its partners' providers; a provider changes about itself; a guardian changes about its own
students; reasons as a check by that caller would show them. Staff and analysts: FORBIDDEN.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final

import strawberry
from strawberry.types import Info

from api.errors import BadInput, Forbidden
from api.roles import Principal, Role, may_ask_about_provider, may_see_student_report, require
from api.schema.context import Context
from api.schema.enums import ReasonCode
from api.schema.types import ReasonType
from graph.disclosure import disclose
from graph.feed.audience import Audience
from graph.feed.events import AccessChange
from graph.feed.forecast import Upcoming, upcoming_changes
from graph.feed.registry import feed_for
from graph.feed.tables import FeedTables

__all__ = ["FeedQuery", "FeedSubscription", "audience_of"]

MAX_FIRST: Final = 1000
MAX_SCAN: Final = 20_000
"""Events looked at per page at most: a sparse audience gets a short page and a cursor to go on from."""
POLL_SECONDS: Final = 0.05
MAX_WITHIN_DAYS: Final = 366


def audience_of(principal: Principal) -> Audience:
    """The feed audience of a caller; FORBIDDEN for roles that receive no changes."""
    if principal.role in (Role.ADMIN, Role.APP, Role.PROVIDER, Role.GUARDIAN):
        return Audience(str(principal.role), principal.subject, principal.partner_ids)
    raise Forbidden()


@strawberry.enum(description="What an access change did to the released categories.")
class AccessChangeKind(Enum):
    GRANTED = "granted"
    REVOKED = "revoked"
    CHANGED = "changed"


@strawberry.type(name="AccessChange", description="A change of whether a provider may see a student's record (docs/feed.md).")
class AccessChangeType:
    id: strawberry.ID = strawberry.field(description="Stable event id: the same change always has this id, on every channel.")
    cursor: str = strawberry.field(description="Position in the feed: pass as `after` to continue after this change.")
    kind: AccessChangeKind = strawberry.field(description="granted, revoked or changed.")
    provider_id: strawberry.ID = strawberry.field(description="The provider whose access changed.")
    student_id: strawberry.ID = strawberry.field(description="The student whose record it is.")
    categories_before: list[str] = strawberry.field(description="Categories released before the change (empty: no access).")
    categories_after: list[str] = strawberry.field(description="Categories released from the change on (empty: no access).")
    reasons: list[ReasonType] = strawberry.field(description="Why, after the change: failing reasons, as a check by you would show them.")
    effective_at: datetime = strawberry.field(description="When the change takes effect (a revocation's time, an expiry's instant).")
    consistency_token: str = strawberry.field(description="A check with this token sees the state after the change.")
    cause: str = strawberry.field(description="write (a commit), time (a lapse with no write) or snapshot (the feed's first run).")
    cause_seq: int | None = strawberry.field(description="For a write: the journal sequence number of the commit.")
    recorded_at: datetime = strawberry.field(description="When the feed derived the change.")


def to_type(e: AccessChange, audience: Audience) -> AccessChangeType:
    """The GraphQL view of a stored change for `audience`."""
    reasons = e.reasons if audience.full_reasons else e.reasons_redacted
    return AccessChangeType(
        id=strawberry.ID(e.id),
        cursor=str(e.position),
        kind=AccessChangeKind(str(e.kind)),
        provider_id=strawberry.ID(e.provider_id),
        student_id=strawberry.ID(e.student_id),
        categories_before=list(e.before),
        categories_after=list(e.after),
        reasons=[_reason(r) for r in reasons],
        effective_at=e.effective_at,
        consistency_token=e.consistency_token,
        cause=str(e.cause),
        cause_seq=e.cause_seq,
        recorded_at=e.recorded_at,
    )


def _reason(r: dict[str, Any]) -> ReasonType:
    return ReasonType(code=ReasonCode(r["code"]), message=r["message"], subject=r["subject"], ref=r.get("ref"), category=r.get("category"))


@strawberry.type(description="A page of access changes, oldest first.")
class AccessChangePage:
    changes: list[AccessChangeType] = strawberry.field(description="The changes you may receive, in feed order.")
    end_cursor: str = strawberry.field(description="Pass as `after` for the next page (also when this page is empty).")
    has_next_page: bool = strawberry.field(description="True when more stored changes follow the end cursor.")


@strawberry.type(description="A change that will take effect with no write unless something is renewed.")
class UpcomingChange:
    at: datetime = strawberry.field(description="When it takes effect.")
    provider_id: strawberry.ID = strawberry.field(description="The provider.")
    student_id: strawberry.ID = strawberry.field(description="The student.")
    categories_before: list[str] = strawberry.field(description="Released until then.")
    categories_after: list[str] = strawberry.field(description="Released from then on (empty: access is lost).")
    loses_access: bool = strawberry.field(description="True when the provider will see nothing of the student from then.")
    reasons: list[ReasonType] = strawberry.field(description="Why, from then on (what lapses), as a check by you would show them.")


def _cursor(after: str | None) -> int:
    if after is None or after == "":
        return 0
    if not after.isdigit():
        raise BadInput(f"not a feed cursor: {after!r}")
    return int(after)


def page(audience: Audience, after: str | None, first: int, feed: FeedTables) -> AccessChangePage:
    """A page of the changes `audience` may receive after the cursor `after`, from `feed`."""
    if first < 1 or first > MAX_FIRST:
        raise BadInput(f"first must be between 1 and {MAX_FIRST}")
    pos = _cursor(after)
    found: list[AccessChangeType] = []
    scanned = 0
    while len(found) < first and scanned < MAX_SCAN:
        batch = feed.events_after(pos, min(1000, MAX_SCAN - scanned))
        if not batch:
            break
        for e in batch:
            scanned += 1
            pos = e.position
            if audience.admits(e):
                found.append(to_type(e, audience))
                if len(found) == first:
                    break
    return AccessChangePage(changes=found, end_cursor=str(pos), has_next_page=feed.head() > pos)


@strawberry.type
class FeedQuery:
    @strawberry.field(description="Access changes you may receive, after a cursor (docs/feed.md). Admins, apps, providers, guardians.")
    def access_changes(self, info: Info[Context, None], after: str | None = None, first: int = 100) -> AccessChangePage:
        ctx = info.context
        audience = audience_of(ctx.principal)
        return page(audience, after, first, feed_for(ctx.settings, ctx.engine.store))

    @strawberry.field(
        description="What will lapse within `within` days (default 30) for a provider's or a student's pairs, "
        "when, and who loses access. Give exactly one of providerId, studentId."
    )
    def upcoming_changes(
        self,
        info: Info[Context, None],
        provider_id: strawberry.ID | None = None,
        student_id: strawberry.ID | None = None,
        within: int = 30,
    ) -> list[UpcomingChange]:
        ctx = info.context
        if (provider_id is None) == (student_id is None):
            raise BadInput("give exactly one of providerId and studentId")
        if within < 1 or within > MAX_WITHIN_DAYS:
            raise BadInput(f"within must be between 1 and {MAX_WITHIN_DAYS} days")
        store = ctx.engine.store
        store.sync(None)
        if provider_id is not None:
            require(may_ask_about_provider(ctx.principal, store, str(provider_id), ctx.now))
        else:
            require(may_see_student_report(ctx.principal, store, str(student_id), ctx.now))
        found = upcoming_changes(
            store,
            ctx.engine.policy,
            provider_id=None if provider_id is None else str(provider_id),
            student_id=None if student_id is None else str(student_id),
            start=ctx.now,
            within=timedelta(days=within),
        )
        sees_all = ctx.principal.role in (Role.ADMIN, Role.GUARDIAN)
        return [_upcoming(u, sees_all, ctx.engine.policy.relationship_lookback_days) for u in found]


def _upcoming(u: Upcoming, sees_all: bool, lookback: int) -> UpcomingChange:
    shown = disclose(u.decision, sees_all=sees_all, lookback_days=lookback)
    return UpcomingChange(
        at=u.at,
        provider_id=strawberry.ID(u.provider_id),
        student_id=strawberry.ID(u.student_id),
        categories_before=list(u.before),
        categories_after=list(u.after),
        loses_access=u.loses_access,
        reasons=[
            ReasonType(code=ReasonCode(str(r.code)), message=r.message, subject=r.subject, ref=r.ref, category=r.category)
            for r in shown.reasons
        ],
    )


@strawberry.type(name="Subscription", description="Streams over graphql-transport-ws at /graphql.")
class FeedSubscription:
    @strawberry.subscription(
        description="Access changes as they are derived, after a cursor (default: from now). Over graphql-transport-ws at /graphql; "
        'authenticate with connection_init payload {"Authorization": "Bearer <token>"}.'
    )
    async def access_changes(self, info: Info[Any, None], after: str | None = None) -> AsyncGenerator[AccessChangeType, None]:
        ctx = info.context
        audience = audience_of(ctx.principal)
        feed = feed_for(ctx.settings, ctx.store)
        pos = feed.head() if after is None else _cursor(after)
        while True:
            batch = await asyncio.to_thread(feed.events_after, pos, 500)
            for e in batch:
                pos = e.position
                if audience.admits(e):
                    yield to_type(e, audience)
            if not batch:
                await asyncio.sleep(POLL_SECONDS)
