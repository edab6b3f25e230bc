# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""Queries: checks, explanations, lookups in both directions, node lookups, disclosures.

Each resolver checks the caller's role (api/roles.py), converts, calls the engine, and
maps the answer (STYLE.md, item 13). Decisions pass through `graph.disclosure.disclose`
before they are shown; the engine has already recorded them in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Protocol

import strawberry
from strawberry.types import Info

from api.errors import BadInput, BatchTooLarge, NotFound
from api.roles import may_ask_about_provider, may_see_network, may_see_student_report, require, require_admin
from api.schema.analytics import AnalyticsQuery
from api.schema.context import Context
from api.schema.enums import OutcomeEnum, ReasonCode, ServiceStatusEnum, to_gql
from api.schema.family import FamilyQuery
from api.schema.feed import FeedQuery
from api.schema.replay import ReplayQuery
from api.schema.types import (
    AccessConnection,
    AccessEdge,
    CheckInput,
    CommunityType,
    ConsentType,
    DecisionType,
    DisclosureType,
    Explanation,
    PageInfo,
    PartnerType,
    ProgramType,
    ProviderAccess,
    ProviderType,
    StudentType,
    explain,
    from_decision,
    from_node,
    from_student_access,
    via,
)
from graph.decision import CheckRequest, Decision
from graph.disclosure import disclose
from graph.engine import check_categories
from graph.errors import InputError, UnknownNode, UnknownProvider
from graph.ids import ID_RULE, check_id, is_valid_id
from graph.lookups import encode_cursor
from graph.model import Consent, NodeKind, Partner, Program, Provider, Serves
from graph.timeutil import parse_datetime

__all__ = ["CheckInputLike", "Query", "disclosed_decisions"]


class CheckInputLike(Protocol):
    """What a check input offers: `CheckInput`, or the lean path's plain input (`api.lean`)."""

    @property
    def provider_id(self) -> str: ...

    @property
    def student_id(self) -> str: ...

    def to_request(self, now: datetime) -> CheckRequest: ...


TRANSPARENCY = (
    "The transparency report: every provider who may see the student's record, through which consent, service and program, until when."
)

Token = Annotated[
    str | None, strawberry.argument(description="A consistencyToken from an earlier write: answer from a state at least that fresh.")
]


def _to_request(given: CheckInputLike, now: datetime, where: str) -> CheckRequest:
    """The domain request of one input; a bad value names the item (``requests[3].studentId``)."""
    for name, value in (("providerId", given.provider_id), ("studentId", given.student_id)):
        if not is_valid_id(value):
            raise BadInput(f"{where}.{name}: {ID_RULE}", field=f"{where}.{name}")
    try:
        return given.to_request(now)
    except InputError as err:
        raise BadInput(f"{where}: {err}", field=where) from err


def decide_for(info: Info[Context, None], inputs: list[CheckInput], token: str | None, *, batch: bool = False) -> list[DecisionType]:
    """Authorise, decide and record every request, then disclose each decision to the caller (`disclosed_decisions`)."""
    decisions, evaluated, state = disclosed_decisions(info.context, inputs, token, batch=batch)
    return [from_decision(d, evaluated, state) for d in decisions]


def disclosed_decisions(
    ctx: Context, inputs: Sequence[CheckInputLike], token: str | None, *, batch: bool = False
) -> tuple[list[Decision], datetime, str]:
    """Authorise, decide and record every request; the decisions disclosed to the caller, when they were evaluated, the state.

    Every input is checked (id rule, time range) before anything is asked or recorded; an
    error names the item: ``request.studentId`` or, in a batch, ``requests[3].studentId``.
    Shared by the resolvers and the lean path (`api.lean`), so both answer alike.

    Raises
    ------
    BatchTooLarge, BadInput, NotFound, Forbidden
        Before anything is recorded.
    """
    engine = ctx.engine
    if len(inputs) > ctx.settings.max_batch:
        raise BatchTooLarge(f"at most {ctx.settings.max_batch} checks per request; got {len(inputs)}")
    where = [f"requests[{n}]" for n in range(len(inputs))] if batch else ["request"]
    reqs = [_to_request(i, ctx.now, w) for i, w in zip(inputs, where, strict=True)]
    for req, w in zip(reqs, where, strict=True):
        try:
            check_categories(req.categories, engine.policy)
        except InputError as err:  # named by item, as the ids are
            raise BadInput(f"{w}.categories: {err}", field=f"{w}.categories") from err
    engine.store.sync(token)
    for provider_id in {r.provider_id for r in reqs}:
        require(may_ask_about_provider(ctx.principal, engine.store, provider_id, ctx.now))
    try:
        decisions = engine.check_many(reqs, caller=ctx.principal.caller(), token=token, strict_ids=ctx.principal.is_admin)
    except UnknownNode as err:
        field = "providerId" if isinstance(err, UnknownProvider) else "studentId"
        n = next(n for n, r in enumerate(reqs) if err.node_id in (r.provider_id, r.student_id))
        raise NotFound(f"{where[n]}.{field}: {err}", field=f"{where[n]}.{field}") from err
    state, evaluated = engine.store.token(), engine.clock()
    lookback = engine.policy.relationship_lookback_days
    return [disclose(d, sees_all=ctx.principal.is_admin, lookback_days=lookback) for d in decisions], evaluated, state


def _node(
    info: Info[Context, None], node_id: str, kind: NodeKind, token: str | None
) -> StudentType | PartnerType | ProgramType | CommunityType | ProviderType | ConsentType:
    store = info.context.engine.store
    store.sync(token)
    node = store.node(node_id)
    view = from_node(node) if node is not None and node.kind is kind else None
    if view is None:
        raise NotFound(f"no {kind} with id {node_id!r}")
    return view


@strawberry.type(description="Questions about who may see what, and aggregates (coverage, the partner network).")
class Query(AnalyticsQuery, ReplayQuery, FeedQuery, FamilyQuery):
    @strawberry.field(description="May a provider see a student's record, and why. Recorded before it is answered.")
    def check(self, info: Info[Context, None], request: CheckInput, consistency_token: Token = None) -> DecisionType:
        return decide_for(info, [request], consistency_token)[0]

    @strawberry.field(description="Many checks in one request (at most the configured batch size, default 5000), in order.")
    def check_many(self, info: Info[Context, None], requests: list[CheckInput], consistency_token: Token = None) -> list[DecisionType]:
        return decide_for(info, requests, consistency_token, batch=True)

    @strawberry.field(description="The same decision as check, grouped by condition for a person.")
    def explain(self, info: Info[Context, None], request: CheckInput, consistency_token: Token = None) -> Explanation:
        return explain(decide_for(info, [request], consistency_token)[0])

    @strawberry.field(description="Students a provider may see at a time, ordered by student id (Relay-style pages).")
    def accessible_students(
        self,
        info: Info[Context, None],
        provider_id: strawberry.ID,
        at: datetime | None = None,
        purpose: str | None = None,
        first: int = 100,
        after: str | None = None,
        consistency_token: Token = None,
    ) -> AccessConnection:
        ctx = info.context
        ctx.engine.store.sync(consistency_token)
        require(may_ask_about_provider(ctx.principal, ctx.engine.store, check_id(provider_id, "providerId"), ctx.now))
        page = ctx.engine.accessible_students(
            check_id(provider_id, "providerId"),
            at or ctx.now,
            purpose=purpose,
            first=first,
            after=after,
            caller=ctx.principal.caller(),
            token=consistency_token,
        )
        edges = [AccessEdge(node=from_student_access(a), cursor=encode_cursor(a.student_id)) for a in page.items]
        return AccessConnection(edges=edges, page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor))

    @strawberry.field(description=TRANSPARENCY)
    def providers_with_access(
        self,
        info: Info[Context, None],
        student_id: strawberry.ID,
        at: datetime | None = None,
        purpose: str | None = None,
        consistency_token: Token = None,
    ) -> list[ProviderAccess]:
        ctx = info.context
        engine = ctx.engine
        engine.store.sync(consistency_token)
        require(may_see_student_report(ctx.principal, engine.store, check_id(student_id, "studentId"), ctx.now, ctx.engine.policy))
        out: list[ProviderAccess] = []
        after: str | None = None
        while True:
            page = engine.providers_with_access(
                check_id(student_id, "studentId"),
                at or ctx.now,
                purpose=purpose,
                first=1000,
                after=after,
                caller=ctx.principal.caller(),
                token=consistency_token,
            )
            out.extend(_provider_access(info, a.decision, a.until) for a in page.items)
            if not page.has_next_page:
                return out
            after = page.end_cursor

    @strawberry.field(description="The record of decisions about a student (decision time in [from, to)), oldest first.")
    def disclosures(
        self,
        info: Info[Context, None],
        student_id: strawberry.ID,
        from_: Annotated[datetime | None, strawberry.argument(name="from", description="Earliest decision time (inclusive).")] = None,
        to: Annotated[datetime | None, strawberry.argument(description="Latest decision time (exclusive).")] = None,
    ) -> list[DisclosureType]:
        ctx = info.context
        ctx.engine.store.sync(None)
        require(may_see_student_report(ctx.principal, ctx.engine.store, check_id(student_id, "studentId"), ctx.now, ctx.engine.policy))
        audit = ctx.engine.audit
        if audit is None:
            return []
        return [_disclosure(r) for r in audit.for_student(check_id(student_id, "studentId"), from_, to)]

    @strawberry.field(description="A student (admins, and the student's verified guardians).")
    def student(self, info: Info[Context, None], id: strawberry.ID, consistency_token: Token = None) -> StudentType:
        ctx = info.context
        node_id = check_id(id, "id")
        ctx.engine.store.sync(consistency_token)
        require(may_see_student_report(ctx.principal, ctx.engine.store, node_id, ctx.now, ctx.engine.policy))
        view = _node(info, node_id, NodeKind.STUDENT, consistency_token)
        assert isinstance(view, StudentType)
        return view

    @strawberry.field(description="A provider (admins; the provider itself; apps for their partners' providers).")
    def provider(self, info: Info[Context, None], id: strawberry.ID, consistency_token: Token = None) -> ProviderType:
        ctx = info.context
        node_id = check_id(id, "id")
        ctx.engine.store.sync(consistency_token)
        require(may_ask_about_provider(ctx.principal, ctx.engine.store, node_id, ctx.now))
        view = _node(info, node_id, NodeKind.PROVIDER, consistency_token)
        assert isinstance(view, ProviderType)
        return view

    @strawberry.field(description="A partner organisation (every role: the partner network holds no student data).")
    def partner(self, info: Info[Context, None], id: strawberry.ID, consistency_token: Token = None) -> PartnerType:
        node_id = check_id(id, "id")
        require(may_see_network(info.context.principal))
        view = _node(info, node_id, NodeKind.PARTNER, consistency_token)
        assert isinstance(view, PartnerType)
        return view

    @strawberry.field(description="A community (every role).")
    def community(self, info: Info[Context, None], id: strawberry.ID, consistency_token: Token = None) -> CommunityType:
        node_id = check_id(id, "id")
        require(may_see_network(info.context.principal))
        view = _node(info, node_id, NodeKind.COMMUNITY, consistency_token)
        assert isinstance(view, CommunityType)
        return view

    @strawberry.field(description="A consent document (admins).")
    def consent(self, info: Info[Context, None], id: strawberry.ID, consistency_token: Token = None) -> ConsentType:
        node_id = check_id(id, "id")
        require_admin(info.context.principal)
        view = _node(info, node_id, NodeKind.CONSENT, consistency_token)
        assert isinstance(view, ConsentType)
        return view


def _provider_access(info: Info[Context, None], d: Decision, until: datetime | None) -> ProviderAccess:
    store = info.context.engine.store
    provider = store.node(d.request.provider_id)
    about, serves, employed = via(d, "ABOUT"), via(d, "SERVES"), via(d, "EMPLOYED_BY")
    consent = store.node(about.from_id) if about else None
    service = store.edge(serves.id) if serves else None
    program = store.node(service.program) if isinstance(service, Serves) and service.program else None
    partner = store.node(employed.to_id) if employed else None
    return ProviderAccess(
        provider=ProviderType(id=strawberry.ID(d.request.provider_id), name=provider.name if isinstance(provider, Provider) else ""),
        partners=[PartnerType(id=strawberry.ID(partner.id), name=partner.name)] if isinstance(partner, Partner) else [],
        outcome=to_gql(OutcomeEnum, d.outcome),
        released_categories=sorted(d.released),
        consent=_consent_view(consent) if isinstance(consent, Consent) else None,
        service_id=strawberry.ID(serves.id) if serves else None,
        service_status=to_gql(ServiceStatusEnum, service.status) if isinstance(service, Serves) else None,
        program=ProgramType(id=strawberry.ID(program.id), name=program.name) if isinstance(program, Program) else None,
        team_id=strawberry.ID(serves.from_id) if serves and serves.from_id != d.request.provider_id else None,
        until=until,
        since=_since(consent, service),
    )


def _since(consent: object, service: object) -> datetime | None:
    starts = [
        s
        for s in (
            consent.effective_from or consent.signed_at if isinstance(consent, Consent) else None,
            service.valid_from if isinstance(service, Serves) else None,
        )
        if s is not None
    ]
    return max(starts, default=None)


def _consent_view(c: Consent) -> ConsentType:
    view = from_node(c)
    assert isinstance(view, ConsentType)
    return view


def _disclosure(r: dict[str, object]) -> DisclosureType:
    def t(key: str) -> datetime:
        return parse_datetime(str(r[key]))

    asked = r.get("asked_by") or {}
    assert isinstance(asked, dict)
    reasons = r.get("reasons") or []
    assert isinstance(reasons, list)
    cats = r.get("categories_asked")
    released = r.get("released_categories") or []
    assert isinstance(released, list)
    return DisclosureType(
        id=strawberry.ID(str(r["id"])),
        request_time=t("request_time"),
        decision_time=t("decision_time"),
        as_of=t("at"),
        provider_id=strawberry.ID(str(r["provider_id"])),
        asked_by_role=str(asked.get("role", "")),
        application=asked.get("application"),
        purpose=r.get("purpose") if isinstance(r.get("purpose"), str) else None,  # type: ignore[arg-type]
        categories_asked=list(cats) if isinstance(cats, list) else None,
        released_categories=[str(c) for c in released],
        outcome=OutcomeEnum(str(r["outcome"])),
        reasons=[ReasonCode(str(x["code"])) for x in reasons if isinstance(x, dict)],
        policy_version=str(r.get("policy_version", "")),
    )
