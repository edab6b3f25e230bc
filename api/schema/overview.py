# mypy: disallow-untyped-decorators=False
# (strawberry.field with keyword arguments is an untyped decorator to mypy; resolvers keep their own annotations)
"""GraphQL ``networkOverview``: the partner network's first picture, computed on the server.

Thin (STYLE.md, item 13): check the role, take the overview from the per-store
`OverviewCache` (keyed by the store's consistency token, the instant and the policy
version) or compute it with `partner_network` + `network_overview`, and map it. Counts
are the suppressed ones of `partner_network`; partner-community links count programs.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Final

import strawberry
from strawberry.types import Info

from api.roles import require
from api.schema.context import Context
from graph.analytics.cache import cache_for
from graph.analytics.network import partner_network
from graph.analytics.overview import (
    NetworkOverview,
    OverviewCache,
    OverviewCommunity,
    OverviewPartner,
    OverviewProgram,
    OverviewSchool,
    network_overview,
)
from graph.analytics.table import PublishedCell

__all__ = ["NetworkOverviewType", "OverviewQuery", "overview_for"]

_CACHES: Final[weakref.WeakKeyDictionary[object, OverviewCache]] = weakref.WeakKeyDictionary()


@strawberry.type(name="OverviewCount", description="A published student count (suppressed as in partnerNetwork).")
class OverviewCount:
    value: int | None = strawberry.field(description="The count; null exactly when suppressed.")
    suppressed: bool = strawberry.field(description="True when the count is small or hidden to protect a small one.")
    display: str = strawberry.field(description="As text; '*' when suppressed.")

    @classmethod
    def of(cls, cell: PublishedCell) -> OverviewCount:
        """From a published cell."""
        return cls(value=cell.value, suppressed=cell.suppressed, display=cell.display("*"))


@strawberry.type(name="OverviewSchool", description="A school in the overview.")
class OverviewSchoolType:
    id: strawberry.ID = strawberry.field(description="The school's id.")
    label: str = strawberry.field(description="Its name.")
    students: OverviewCount = strawberry.field(description="Students attending it.")

    @classmethod
    def of(cls, s: OverviewSchool) -> OverviewSchoolType:
        """From the analytics value."""
        return cls(id=strawberry.ID(s.id), label=s.label, students=OverviewCount.of(s.students))


@strawberry.type(name="OverviewCommunity", description="A community, drawn as a group holding its schools.")
class OverviewCommunityType:
    id: strawberry.ID = strawberry.field(description="The community's id.")
    label: str = strawberry.field(description="Its name.")
    students: OverviewCount = strawberry.field(description="Students of the community (a school there, or living there).")
    schools: list[OverviewSchoolType] = strawberry.field(description="Schools located in it, by name.")

    @classmethod
    def of(cls, c: OverviewCommunity) -> OverviewCommunityType:
        """From the analytics value."""
        return cls(
            id=strawberry.ID(c.id),
            label=c.label,
            students=OverviewCount.of(c.students),
            schools=[OverviewSchoolType.of(s) for s in c.schools],
        )


@strawberry.type(name="OverviewProgram", description="A program, folded into its partner until expanded.")
class OverviewProgramType:
    id: strawberry.ID = strawberry.field(description="The program's id.")
    label: str = strawberry.field(description="Its name (many programs share one).")
    full_label: str = strawberry.field(description="'Program — Partner': the name with the partners offering it.")
    students: OverviewCount = strawberry.field(description="Students it serves (in force, not ended).")
    partner_ids: list[strawberry.ID] = strawberry.field(description="Partners offering it.")
    community_ids: list[strawberry.ID] = strawberry.field(description="Communities it serves (SERVES_AREA).")

    @classmethod
    def of(cls, p: OverviewProgram) -> OverviewProgramType:
        """From the analytics value."""
        return cls(
            id=strawberry.ID(p.id),
            label=p.label,
            full_label=p.full_label,
            students=OverviewCount.of(p.students),
            partner_ids=[strawberry.ID(x) for x in p.partner_ids],
            community_ids=[strawberry.ID(x) for x in p.community_ids],
        )


@strawberry.type(name="OverviewLink", description="A partner serving a community through some of its programs.")
class OverviewLinkType:
    id: strawberry.ID = strawberry.field(description="The community's id.")
    program_count: int = strawberry.field(description="How many of the partner's programs serve it (programs, not students).")


@strawberry.type(name="OverviewPartner", description="A partner with its programs folded in.")
class OverviewPartnerType:
    id: strawberry.ID = strawberry.field(description="The partner's id.")
    label: str = strawberry.field(description="Its name.")
    students: OverviewCount = strawberry.field(description="Students of any of its programs.")
    program_count: int = strawberry.field(description="How many programs it offers.")
    programs: list[OverviewProgramType] = strawberry.field(description="Its programs, by name.")
    communities: list[OverviewLinkType] = strawberry.field(description="Communities its programs serve, by name.")

    @classmethod
    def of(cls, p: OverviewPartner) -> OverviewPartnerType:
        """From the analytics value."""
        return cls(
            id=strawberry.ID(p.id),
            label=p.label,
            students=OverviewCount.of(p.students),
            program_count=len(p.programs),
            programs=[OverviewProgramType.of(x) for x in p.programs],
            communities=[OverviewLinkType(id=strawberry.ID(c.community_id), program_count=c.programs) for c in p.communities],
        )


@strawberry.type(
    name="NetworkOverview",
    description="The partner network's overview: communities holding their schools, partners linked to the communities "
    "their programs serve, programs folded into their partner. Counts only; never a student.",
)
class NetworkOverviewType:
    at: datetime = strawberry.field(description="The instant every interval was read at.")
    consistency_token: str = strawberry.field(description="The state of the store the overview was computed from.")
    suppression_k: int = strawberry.field(description="The small-cell threshold k.")
    suppression_k_inclusive: bool = strawberry.field(description="True when a count equal to k is suppressed too.")
    node_count: int = strawberry.field(description="Nodes drawn with programs folded (communities, schools, partners, lone programs).")
    communities: list[OverviewCommunityType] = strawberry.field(description="Communities by name, each with its schools.")
    schools_without_community: list[OverviewSchoolType] = strawberry.field(description="Schools located in no community.")
    partners: list[OverviewPartnerType] = strawberry.field(description="Partners by name.")
    programs_without_partner: list[OverviewProgramType] = strawberry.field(description="Programs no partner offers.")

    @classmethod
    def of(cls, o: NetworkOverview, at: datetime, token: str) -> NetworkOverviewType:
        """From the analytics value."""
        return cls(
            at=at,
            consistency_token=token,
            suppression_k=o.k,
            suppression_k_inclusive=o.k_inclusive,
            node_count=o.node_count,
            communities=[OverviewCommunityType.of(c) for c in o.communities],
            schools_without_community=[OverviewSchoolType.of(s) for s in o.schools_without_community],
            partners=[OverviewPartnerType.of(p) for p in o.partners],
            programs_without_partner=[OverviewProgramType.of(p) for p in o.programs_without_partner],
        )


def overview_for(ctx: Context, at: datetime) -> tuple[NetworkOverview, str]:
    """The overview at `at` of the context's store (synced first), cached per consistency token; and that token."""
    engine = ctx.engine
    token = engine.store.latest_token()  # another instance's write moves it too
    cache = _CACHES.get(engine.store)
    if cache is None:
        cache = _CACHES.setdefault(engine.store, OverviewCache())
    overview = cache.get((token, at, engine.policy.version), lambda: network_overview(partner_network(engine.store, at, engine.policy)))
    return overview, token


@strawberry.type(description="The partner network's overview.")
class OverviewQuery:
    @strawberry.field(
        description="The partner network's overview at a time (default: now, answered for the instant pinned per "
        "consistency token, kept until the next write or the next instant at which a figure may change, so that "
        "visitors share one computation; `at` in the answer says which): communities with their schools, "
        "partners linked to the communities their programs serve, programs folded in. Staff, analysts, admins. "
        "Cached per consistency token."
    )
    def network_overview(self, info: Info[Context, None], at: datetime | None = None) -> NetworkOverviewType:
        from api.schema.analytics import may_see_aggregates  # analytics imports this module

        ctx = info.context
        require(may_see_aggregates(ctx.principal))
        when = at if at is not None else cache_for(ctx.engine.store, ctx.engine.policy).pinned_now(ctx.now)
        overview, token = overview_for(ctx, when)
        return NetworkOverviewType.of(overview, when, token)
