# mypy: disallow-untyped-decorators=False
# (strawberry.field/mutation with keyword arguments are untyped decorators to mypy; resolvers keep their own annotations)
"""Object and input types of the schema: decisions, explanations, lookups, nodes, results.

Types are built from the domain's values by ``from_*`` functions; resolvers stay thin
(STYLE.md, item 13). Lists that cost work to build (reasons, path) are resolved only
when a client selects them, so a large checkMany asking for ``allowed`` stays cheap.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.schema.context import Context
from api.schema.enums import (
    ConditionEnum,
    ConsentKindEnum,
    ConsentStatusEnum,
    FerpaRightsEnum,
    OutcomeEnum,
    ReasonCode,
    ServiceStatusEnum,
    to_gql,
)
from graph.decision import CheckRequest, Decision, ReasonDetail
from graph.explanation import explain_decision
from graph.lookups import Access
from graph.model import (
    Community,
    Consent,
    Edge,
    GuardianOf,
    Node,
    Partner,
    Program,
    Provider,
    Serves,
    Signed,
    Student,
)

__all__ = [
    "AccessConnection",
    "CheckInput",
    "CommunityType",
    "ConsentType",
    "DecisionType",
    "DisclosureType",
    "Explanation",
    "PartnerType",
    "ProviderAccess",
    "ProviderType",
    "StudentType",
    "ValidationError",
]

# ---------------------------------------------------------------------------- inputs


@strawberry.input(description="One question: may a provider see a student's record, for a purpose, these categories, at a time?")
class CheckInput:
    provider_id: strawberry.ID = strawberry.field(description="The provider asking (an individual).")
    student_id: strawberry.ID = strawberry.field(description="The student the record is about.")
    purpose: str | None = strawberry.field(default=None, description="Purpose code (academic_support ...); null: any purpose.")
    categories: list[str] | None = strawberry.field(
        default=None, description="Data categories asked for; null: every category (the answer releases consent ∩ need)."
    )
    at: datetime | None = strawberry.field(default=None, description="The time asked about (aware); default: now.")

    def to_request(self, now: datetime) -> CheckRequest:
        """The domain request, `at` defaulting to `now`."""
        cats = frozenset(self.categories) if self.categories is not None else None
        return CheckRequest(str(self.provider_id), str(self.student_id), self.at or now, self.purpose, cats)


# ---------------------------------------------------------------------------- decisions


@strawberry.type(description="One failing reason of a decision.")
class ReasonType:
    code: ReasonCode = strawberry.field(description="Stable machine-readable code.")
    message: str = strawberry.field(description="Plain-English message of the code.")
    subject: str = strawberry.field(description="Whose facts the reason is about: student, provider or request.")
    ref: str | None = strawberry.field(description="The record the reason is about (a consent id, a course id), if any.")
    category: str | None = strawberry.field(description="The data category, for category-level reasons.")


@strawberry.type(name="PathEdge", description="An edge of the graph that satisfied a condition.")
class PathEdgeType:
    id: strawberry.ID = strawberry.field(description="Edge id.")
    type: str = strawberry.field(description="Edge type (SERVES, PERMITS ...).")
    from_: strawberry.ID = strawberry.field(name="from", description="Source node id.")
    to: strawberry.ID = strawberry.field(description="Target node id.")
    valid_from: datetime = strawberry.field(description="Start of the edge's interval (inclusive).")
    valid_to: datetime | None = strawberry.field(description="End of the interval (exclusive); null: open.")


def from_edge(e: Edge) -> PathEdgeType:
    """GraphQL view of a path edge."""
    return PathEdgeType(
        id=strawberry.ID(e.id),
        type=str(e.kind),
        from_=strawberry.ID(e.from_id),
        to=strawberry.ID(e.to_id),
        valid_from=e.valid_from,
        valid_to=e.valid_to,
    )


@strawberry.type(name="PathStep", description="The edges that satisfied one condition.")
class PathStepType:
    condition: ConditionEnum = strawberry.field(description="The condition.")
    edges: list[PathEdgeType] = strawberry.field(description="Edges that satisfied it, in order.")


@strawberry.type(name="Decision", description="The answer to one check: outcome, every reason, what is released, and why.")
class DecisionType:
    provider_id: strawberry.ID = strawberry.field(description="The provider asked about.")
    student_id: strawberry.ID = strawberry.field(description="The student asked about.")
    at: datetime = strawberry.field(description="The time the decision is about.")
    purpose: str | None = strawberry.field(description="The purpose asked about, if any.")
    allowed: bool = strawberry.field(description="True for ALLOW and PARTIAL.")
    outcome: OutcomeEnum = strawberry.field(description="ALLOW, PARTIAL or DENY.")
    released_categories: list[str] = strawberry.field(description="Categories that may flow (consent ∩ need), sorted.")
    evaluated_at: datetime = strawberry.field(description="When the server decided.")
    consistency_token: str = strawberry.field(description="The store state the decision was made on; pass it to later reads.")
    policy_version: str = strawberry.field(description="Version of the policy the decision was made under.")
    decision: strawberry.Private[Decision]

    @strawberry.field(description="Every failing reason, in rule order (empty for a full allow).")
    def reasons(self) -> list[ReasonType]:
        return [_reason_type(r) for r in self.decision.reasons]

    @strawberry.field(description="For each condition that held, the edges that satisfied it.")
    def path(self) -> list[PathStepType]:
        return [
            PathStepType(condition=to_gql(ConditionEnum, s.condition), edges=[from_edge(e) for e in s.edges]) for s in self.decision.path
        ]


def _reason_type(r: ReasonDetail) -> ReasonType:
    return ReasonType(code=to_gql(ReasonCode, r.code), message=r.message, subject=r.subject, ref=r.ref, category=r.category)


def from_decision(d: Decision, evaluated_at: datetime, token: str) -> DecisionType:
    """GraphQL view of a decision (already disclosed for the caller)."""
    return DecisionType(
        provider_id=strawberry.ID(d.request.provider_id),
        student_id=strawberry.ID(d.request.student_id),
        at=d.request.at,
        purpose=d.request.purpose,
        allowed=d.allowed,
        outcome=to_gql(OutcomeEnum, d.outcome),
        released_categories=sorted(d.released),
        evaluated_at=evaluated_at,
        consistency_token=token,
        policy_version=d.policy_version,
        decision=d,
    )





@strawberry.type(name="ConditionReport", description="One condition of the rules: met or not, the edges, the reasons.")
class ConditionReportType:
    condition: ConditionEnum = strawberry.field(description="The condition.")
    met: bool = strawberry.field(
        description="True when the condition held (it is on the decision's path); a met condition can still carry category reasons."
    )
    requires: str = strawberry.field(description="What the condition requires, in plain English.")
    edges: list[PathEdgeType] = strawberry.field(description="Edges that satisfied it.")
    reasons: list[ReasonType] = strawberry.field(description="Every failing reason about it: what was missing.")


@strawberry.type(description="A decision explained for a person: per condition, what held and what failed.")
class Explanation:
    decision: DecisionType = strawberry.field(description="The decision (as shown to this caller).")
    summary: str = strawberry.field(description="One plain-English sentence.")
    conditions: list[ConditionReportType] = strawberry.field(description="Every condition, in rule order.")
    other_reasons: list[ReasonType] = strawberry.field(description="Reasons about the request itself (audit unavailable ...).")


def explain(view: DecisionType) -> Explanation:
    """Group a decision's path and reasons by condition (`graph.explanation.explain_decision`)."""
    d = view.decision
    explained = explain_decision(d)
    conditions = [
        ConditionReportType(
            condition=to_gql(ConditionEnum, c.condition),
            met=c.met,
            requires=c.requires,
            edges=[from_edge(e) for e in c.edges],
            reasons=[_reason_type(r) for r in c.reasons],
        )
        for c in explained.conditions
    ]
    other = [_reason_type(r) for r in explained.other_reasons]
    released = ", ".join(sorted(d.released)) or "nothing"
    if d.allowed:
        summary = f"{d.request.provider_id} may see {released} of {d.request.student_id}'s record."
    else:
        codes = ", ".join(str(c) for c in d.codes)
        summary = f"{d.request.provider_id} may not see {d.request.student_id}'s record: {codes}."
    return Explanation(decision=view, summary=summary, conditions=conditions, other_reasons=other)


# ---------------------------------------------------------------------------- nodes


@strawberry.type(name="Student", description="A student: only what eligibility needs (no names, no demographics).")
class StudentType:
    id: strawberry.ID = strawberry.field(description="Student id.")
    birth_date: date | None = strawberry.field(description="Birth date, if known (eligibility at 18).")
    postsecondary_enrolled: bool = strawberry.field(description="Enrolled in postsecondary education (FERPA rights transfer).")
    emancipated: bool = strawberry.field(description="Emancipated (requests need a person's review).")
    unaccompanied_youth: bool = strawberry.field(description="Unaccompanied youth (requests need a person's review).")


@strawberry.type(name="Partner", description="A partner organisation.")
class PartnerType:
    id: strawberry.ID = strawberry.field(description="Partner id.")
    name: str = strawberry.field(description="Display name.")


@strawberry.type(name="Program", description="A partner's service.")
class ProgramType:
    id: strawberry.ID = strawberry.field(description="Program id.")
    name: str = strawberry.field(description="Display name.")


@strawberry.type(name="Community", description="A named community the partnership works in.")
class CommunityType:
    id: strawberry.ID = strawberry.field(description="Community id.")
    name: str = strawberry.field(description="Display name.")


@strawberry.type(name="Provider", description="An individual service provider.")
class ProviderType:
    id: strawberry.ID = strawberry.field(description="Provider id.")
    name: str = strawberry.field(description="Display name.")

    @strawberry.field(description="Partners employing the provider now.")
    def employers(self, info: Info[Context, None]) -> list[PartnerType]:
        from api.roles import employers_of  # local: roles imports nothing from the schema

        store = info.context.engine.store
        out = []
        for pid in sorted(employers_of(store, str(self.id), info.context.now)):
            node = store.node(pid)
            if isinstance(node, Partner):
                out.append(PartnerType(id=strawberry.ID(node.id), name=node.name))
        return out


@strawberry.type(name="Consent", description="A consent document about a student.")
class ConsentType:
    id: strawberry.ID = strawberry.field(description="Consent id.")
    status: ConsentStatusEnum = strawberry.field(description="Document status.")
    kind: ConsentKindEnum = strawberry.field(description="PERMIT or DENY.")
    signed_at: datetime | None = strawberry.field(description="When it was signed.")
    effective_from: datetime | None = strawberry.field(description="When it takes effect (default: signedAt).")
    expires_at: datetime | None = strawberry.field(description="When it expires (exclusive).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")
    purposes: list[str] = strawberry.field(description="Purposes it covers.")
    categories: list[str] = strawberry.field(description="Data categories it covers.")
    signature_method: str | None = strawberry.field(description="How it was signed (wet, electronic ...).")
    signer_identity: str | None = strawberry.field(
        default=None, description="A digital consent's signature evidence: the signer's authenticated identity."
    )
    text_version: str | None = strawberry.field(
        default=None, description="A digital consent: the version of the text the signer was shown."
    )
    exception_to: strawberry.ID | None = strawberry.field(
        default=None,
        description="The provision of the same document this one is nested in and is an exception to (it wins over it); "
        "null for a document's root.",
    )


def from_node(node: Node) -> StudentType | PartnerType | ProgramType | CommunityType | ProviderType | ConsentType | None:
    """GraphQL view of a node of a kind the schema exposes (None for other kinds)."""
    nid = strawberry.ID(node.id)
    if isinstance(node, Student):
        return StudentType(
            id=nid,
            birth_date=node.birth_date,
            postsecondary_enrolled=node.postsecondary_enrolled,
            emancipated=node.emancipated,
            unaccompanied_youth=node.unaccompanied_youth,
        )
    if isinstance(node, Provider):
        return ProviderType(id=nid, name=node.name)
    if isinstance(node, Partner):
        return PartnerType(id=nid, name=node.name)
    if isinstance(node, Program):
        return ProgramType(id=nid, name=node.name)
    if isinstance(node, Community):
        return CommunityType(id=nid, name=node.name)
    if isinstance(node, Consent):
        return ConsentType(
            id=nid,
            status=to_gql(ConsentStatusEnum, node.status),
            kind=to_gql(ConsentKindEnum, node.consent_kind),
            signed_at=node.signed_at,
            effective_from=node.effective_from,
            expires_at=node.expires_at,
            revoked_at=node.revoked_at,
            purposes=sorted(node.purposes),
            categories=sorted(node.categories),
            signature_method=node.signature_method,
            signer_identity=node.signer_identity,
            text_version=node.text_version,
            exception_to=None if node.exception_to is None else strawberry.ID(node.exception_to),
        )
    return None


# ---------------------------------------------------------------------------- lookups


@strawberry.type(description="A student a provider may see, with what and until when.")
class StudentAccess:
    student_id: strawberry.ID = strawberry.field(description="The student.")
    outcome: OutcomeEnum = strawberry.field(description="ALLOW or PARTIAL.")
    released_categories: list[str] = strawberry.field(description="Categories released.")
    until: datetime | None = strawberry.field(description="When this access ends at the latest, as now recorded; null: open.")
    consent_id: strawberry.ID | None = strawberry.field(description="The consent that permits it.")
    service_id: strawberry.ID | None = strawberry.field(description="The service relationship giving the need to know.")


@strawberry.type(description="An edge of an accessibleStudents page.")
class AccessEdge:
    node: StudentAccess = strawberry.field(description="The student and the access.")
    cursor: str = strawberry.field(description="Opaque cursor: pass as `after` to continue after this edge.")


@strawberry.type(description="Relay-style page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass as `after` for the next page.")


@strawberry.type(description="A page of students a provider may see, ordered by student id.")
class AccessConnection:
    edges: list[AccessEdge] = strawberry.field(description="The page's items.")
    page_info: PageInfo = strawberry.field(description="Where the page ends.")


def via(d: Decision, kind: str) -> Edge | None:
    """The first path edge of a kind (SERVES, ABOUT, EMPLOYED_BY ...), or None."""
    for step in d.path:
        for e in step.edges:
            if e.kind == kind:
                return e
    return None


def from_student_access(a: Access) -> StudentAccess:
    """GraphQL view of an accessibleStudents item."""
    about, serves = via(a.decision, "ABOUT"), via(a.decision, "SERVES")
    return StudentAccess(
        student_id=strawberry.ID(a.student_id),
        outcome=to_gql(OutcomeEnum, a.decision.outcome),
        released_categories=sorted(a.released),
        until=a.until,
        consent_id=strawberry.ID(about.from_id) if about else None,
        service_id=strawberry.ID(serves.id) if serves else None,
    )


@strawberry.type(description="Who may see a student's record, and why: one line of the transparency report.")
class ProviderAccess:
    provider: ProviderType = strawberry.field(description="The provider who may see the record.")
    partners: list[PartnerType] = strawberry.field(description="The organisations employing the provider (the employment on the path).")
    outcome: OutcomeEnum = strawberry.field(description="ALLOW or PARTIAL.")
    released_categories: list[str] = strawberry.field(description="Categories that may flow.")
    consent: ConsentType | None = strawberry.field(description="The consent through which it may.")
    service_id: strawberry.ID | None = strawberry.field(description="The service relationship giving the need to know.")
    service_status: ServiceStatusEnum | None = strawberry.field(description="Its status.")
    program: ProgramType | None = strawberry.field(description="The program of that service.")
    team_id: strawberry.ID | None = strawberry.field(description="The care team the service runs through, if not direct.")
    until: datetime | None = strawberry.field(description="When this access ends at the latest, as now recorded; null: open.")
    since: datetime | None = strawberry.field(
        default=None, description="Since when, as far as the consent and the service relationship go (the later of their starts)."
    )


# ---------------------------------------------------------------------------- record of disclosures


@strawberry.type(name="Disclosure", description="One recorded decision about the student: who asked, what, and the answer.")
class DisclosureType:
    id: strawberry.ID = strawberry.field(description="Record id.")
    request_time: datetime = strawberry.field(description="When the request arrived.")
    decision_time: datetime = strawberry.field(description="When it was decided and recorded.")
    as_of: datetime = strawberry.field(description="The time the request was about.")
    provider_id: strawberry.ID = strawberry.field(description="The provider asked about.")
    asked_by_role: str = strawberry.field(description="Role of the caller (app, provider, admin, operator).")
    application: str | None = strawberry.field(description="The client application, if any.")
    purpose: str | None = strawberry.field(description="Purpose asked.")
    categories_asked: list[str] | None = strawberry.field(description="Categories asked; null: all.")
    released_categories: list[str] = strawberry.field(description="Categories released (empty for a deny).")
    outcome: OutcomeEnum = strawberry.field(description="The answer.")
    reasons: list[ReasonCode] = strawberry.field(description="Every reason code recorded.")
    policy_version: str = strawberry.field(description="Policy version of the decision.")


# ---------------------------------------------------------------------------- mutation payloads


@strawberry.type(description="A write was refused; nothing of it was applied.")
class ValidationError:
    field: str | None = strawberry.field(description="The offending input field, when one can be named.")
    message: str = strawberry.field(description="Why it was refused.")
    code: str = strawberry.field(
        default="invalid",
        description="Stable, machine-readable: `invalid` (bad value, unknown or wrongly-kinded id), or the precondition that "
        "failed in the committed state: `not_found`, `already_exists`, `consent_already_revoked`, `before_signature`, "
        "`service_already_open`, `service_already_ended`, `service_superseded`, `service_status_unchanged`, `guardian_not_unverified`, "
        "`not_a_team`, `already_member`, `already_enrolled`, `no_recipients`, `status_unchanged`, "
        "`idempotency_key_reused` (docs/api.md, \"Writes\").",
    )


@strawberry.type(name="Service", description="A service relationship (SERVES edge) from a provider or team to a student.")
class ServiceType:
    id: strawberry.ID = strawberry.field(description="Edge id.")
    provider_or_team_id: strawberry.ID = strawberry.field(description="Who serves.")
    student_id: strawberry.ID = strawberry.field(description="The student served.")
    status: ServiceStatusEnum = strawberry.field(description="Status over the edge's interval.")
    program_id: strawberry.ID | None = strawberry.field(description="The program, if any.")
    categories_needed: list[str] = strawberry.field(description="Categories the service needs.")
    valid_from: datetime = strawberry.field(description="Start (inclusive).")
    valid_to: datetime | None = strawberry.field(description="End (exclusive); null: open.")


def from_serves(e: Serves) -> ServiceType:
    """GraphQL view of a SERVES edge."""
    return ServiceType(
        id=strawberry.ID(e.id),
        provider_or_team_id=strawberry.ID(e.from_id),
        student_id=strawberry.ID(e.to_id),
        status=to_gql(ServiceStatusEnum, e.status),
        program_id=strawberry.ID(e.program) if e.program else None,
        categories_needed=sorted(e.categories_needed),
        valid_from=e.valid_from,
        valid_to=e.valid_to,
    )


@strawberry.type(name="Relationship", description="A dated relationship (edge) of the graph.")
class RelationshipType:
    id: strawberry.ID = strawberry.field(description="Edge id.")
    type: str = strawberry.field(description="Edge type (TRAINED, SIGNED, MEMBER_OF, ATTENDS, GUARDIAN_OF ...).")
    from_: strawberry.ID = strawberry.field(name="from", description="Source node id.")
    to: strawberry.ID = strawberry.field(description="Target node id.")
    valid_from: datetime = strawberry.field(description="Start (inclusive).")
    valid_to: datetime | None = strawberry.field(description="End (exclusive); null: open.")
    ferpa_rights: FerpaRightsEnum | None = strawberry.field(description="For GUARDIAN_OF: the guardian's FERPA rights.")
    version: int | None = strawberry.field(description="For SIGNED: the agreement version signed.")


def from_relationship(e: Edge) -> RelationshipType:
    """GraphQL view of a dated edge."""
    return RelationshipType(
        id=strawberry.ID(e.id),
        type=str(e.kind),
        from_=strawberry.ID(e.from_id),
        to=strawberry.ID(e.to_id),
        valid_from=e.valid_from,
        valid_to=e.valid_to,
        ferpa_rights=to_gql(FerpaRightsEnum, e.ferpa_rights) if isinstance(e, GuardianOf) else None,
        version=e.version if isinstance(e, Signed) else None,
    )


@strawberry.type(description="A consent was recorded or changed.")
class ConsentPayload:
    consent: ConsentType = strawberry.field(description="The consent as now recorded.")
    consistency_token: str = strawberry.field(description="Pass to later reads to see this write.")
    replayed: bool = strawberry.field(
        default=False, description="True when an idempotencyKey returned the result of an earlier identical request (nothing written)."
    )


@strawberry.type(description="A service relationship was started or changed.")
class ServicePayload:
    service: ServiceType = strawberry.field(description="The service edge as now recorded (the new one, after a status change).")
    closed: list[ServiceType] = strawberry.field(description="Edges closed by this write (history is kept).")
    consistency_token: str = strawberry.field(description="Pass to later reads to see this write.")
    replayed: bool = strawberry.field(
        default=False, description="True when an idempotencyKey returned the result of an earlier identical request (nothing written)."
    )


@strawberry.type(description="Relationships were recorded (training, agreement, team, enrolment, guardian).")
class RelationshipPayload:
    relationships: list[RelationshipType] = strawberry.field(description="Edges opened by this write.")
    closed: list[RelationshipType] = strawberry.field(description="Edges closed by this write (history is kept).")
    consistency_token: str = strawberry.field(description="Pass to later reads to see this write.")
    replayed: bool = strawberry.field(
        default=False, description="True when an idempotencyKey returned the result of an earlier identical request (nothing written)."
    )


@strawberry.type(description="A provider was added.")
class ProviderPayload:
    provider: ProviderType = strawberry.field(description="The provider.")
    relationships: list[RelationshipType] = strawberry.field(description="Employment and communities recorded.")
    consistency_token: str = strawberry.field(description="Pass to later reads to see this write.")
    replayed: bool = strawberry.field(
        default=False, description="True when an idempotencyKey returned the result of an earlier identical request (nothing written)."
    )


ConsentResult = Annotated[ConsentPayload | ValidationError, strawberry.union("ConsentResult", description="The consent, or why not.")]
ServiceResult = Annotated[ServicePayload | ValidationError, strawberry.union("ServiceResult", description="The service, or why not.")]
RelationshipResult = Annotated[
    RelationshipPayload | ValidationError, strawberry.union("RelationshipResult", description="The relationships, or why not.")
]
ProviderResult = Annotated[ProviderPayload | ValidationError, strawberry.union("ProviderResult", description="The provider, or why not.")]
