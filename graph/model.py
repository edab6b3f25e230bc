"""The graph model of DOMAIN.md ("Graph model") as typed, validated records.

Nodes and edges are frozen pydantic dataclasses with slots: validated once at the
edge (loaders, mutations, journal replay) and then held as they are by the stores.

Identity: node ids form **one namespace** across kinds (a Student and a Guardian may
not share an id); loaders prefix ids where a source could collide (docs/identity.md).

Every edge is effective-dated: ``valid`` = half-open ``[valid_from, valid_to)``;
``recorded_at`` is when the engine learnt it and ``source`` where it came from.
All datetimes are aware and normalised to UTC; a naive one is rejected.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass

from graph.ids import ID_PATTERN, ID_RULE
from graph.timeutil import Interval

__all__ = [
    "About",
    "Attends",
    "EmployedBy",
    "GivenBy",
    "Guardian",
    "GuardianOf",
    "LivesIn",
    "LocatedIn",
    "MemberOf",
    "Offers",
    "PartOf",
    "Permits",
    "Restricts",
    "Serves",
    "ServesArea",
    "Signed",
    "Trained",
    "WorksIn",
    "node_from_dict",
    "edge_from_dict",
    "record_to_dict",
    "Purpose",
    "AwareDatetime",
    "ABOUT_SOURCES",
    "ENDPOINTS",
    "Agreement",
    "AnyEdge",
    "AnyNode",
    "Category",
    "Community",
    "Consent",
    "ConsentKind",
    "ConsentStatus",
    "Course",
    "District",
    "Edge",
    "EdgeKind",
    "FerpaRights",
    "GuardianRelationship",
    "LegalOrder",
    "Node",
    "NodeKind",
    "Partner",
    "Program",
    "Provider",
    "School",
    "ServiceStatus",
    "Student",
    "Team",
    "edge_class",
    "node_class",
]


class NodeKind(StrEnum):
    """Node labels (DOMAIN.md, "Graph model")."""

    STUDENT = "Student"
    GUARDIAN = "Guardian"
    PROVIDER = "Provider"
    PARTNER = "Partner"
    PROGRAM = "Program"
    TEAM = "Team"
    SCHOOL = "School"
    DISTRICT = "District"
    COMMUNITY = "Community"
    CONSENT = "Consent"
    AGREEMENT = "Agreement"
    COURSE = "Course"
    LEGAL_ORDER = "LegalOrder"


class EdgeKind(StrEnum):
    """Relationship types, direction source -> target."""

    GUARDIAN_OF = "GUARDIAN_OF"
    ATTENDS = "ATTENDS"
    LOCATED_IN = "LOCATED_IN"
    PART_OF = "PART_OF"
    LIVES_IN = "LIVES_IN"
    EMPLOYED_BY = "EMPLOYED_BY"
    WORKS_IN = "WORKS_IN"
    MEMBER_OF = "MEMBER_OF"
    TRAINED = "TRAINED"
    SIGNED = "SIGNED"
    OFFERS = "OFFERS"
    SERVES_AREA = "SERVES_AREA"
    SERVES = "SERVES"
    GIVEN_BY = "GIVEN_BY"
    ABOUT = "ABOUT"
    PERMITS = "PERMITS"
    RESTRICTS = "RESTRICTS"


class GuardianRelationship(StrEnum):
    """How an adult relates to a student (GUARDIAN_OF.relationship)."""

    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    ACTING_AS_PARENT = "acting_as_parent"
    AUTHORIZED_AGENT = "authorized_agent"
    RELATIVE = "relative"
    EMERGENCY_CONTACT = "emergency_contact"


class FerpaRights(StrEnum):
    """A guardian's FERPA rights (34 CFR 99.3 "parent"; 99.4 rights of parents)."""

    FULL = "full"
    REMOVED = "removed"
    UNVERIFIED = "unverified"


class ServiceStatus(StrEnum):
    """SERVES.status; only ACTIVE gives a need to know."""

    REFERRED = "referred"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class ConsentStatus(StrEnum):
    """Consent document status (FHIR R4 Consent.status subset)."""

    ACTIVE = "active"
    DRAFT = "draft"
    INACTIVE = "inactive"
    ENTERED_IN_ERROR = "entered_in_error"


class ConsentKind(StrEnum):
    """A consent permits disclosure, or denies it (a deny wins)."""

    PERMIT = "permit"
    DENY = "deny"


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ID = ID_PATTERN  # graph/ids.py: one id rule for every entry point


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError(f"{value!r} is not a code (lowercase letters, digits, underscores)")
    return value


def _node_id(value: str) -> str:
    if not _ID.match(value) or value != value.strip():
        raise ValueError(ID_RULE)
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: a timezone offset is required (e.g. 'Z')")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+00:01: before year 1 in UTC
        raise ValueError(f"{value.isoformat()} is outside the years 1-9999 in UTC") from None


def _utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


Id = Annotated[str, AfterValidator(_node_id)]
Category = Annotated[str, AfterValidator(_code)]
"""A data category code (attendance, grades, ...); the list is extensible (Policy.categories)."""
Purpose = Annotated[str, AfterValidator(_code)]
AwareDatetime = Annotated[datetime, AfterValidator(_utc)]
OptAwareDatetime = Annotated[datetime | None, AfterValidator(_utc_opt)]

_CFG: Final = ConfigDict(extra="forbid", str_strip_whitespace=False, strict=False)

# ---------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True, config=_CFG)
class Node:
    """Base of every node: an id unique across all kinds."""

    kind: ClassVar[NodeKind]
    id: Id


@dataclass(frozen=True, slots=True, config=_CFG)
class Student(Node):
    """A student. Only what eligibility needs is kept (no names unless enabled, no demographics).

    ``time_zone`` (IANA) is where the student's local date is taken for age; None means
    ``Policy.default_time_zone``.
    """

    kind: ClassVar[NodeKind] = NodeKind.STUDENT
    birth_date: date | None = None
    postsecondary_enrolled: bool = False
    emancipated: bool = False
    unaccompanied_youth: bool = False
    time_zone: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True, config=_CFG)
class Guardian(Node):
    """A parent or other adult connected to a student."""

    kind: ClassVar[NodeKind] = NodeKind.GUARDIAN
    name: str | None = None


@dataclass(frozen=True, slots=True, config=_CFG)
class Provider(Node):
    """An individual service provider (a person)."""

    kind: ClassVar[NodeKind] = NodeKind.PROVIDER
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class Partner(Node):
    """A partner organisation (non-profit, health provider, agency, district)."""

    kind: ClassVar[NodeKind] = NodeKind.PARTNER
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class Program(Node):
    """A partner's service (HSDS service)."""

    kind: ClassVar[NodeKind] = NodeKind.PROGRAM
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class Team(Node):
    """A care team; teams may contain teams (cycles are legal data)."""

    kind: ClassVar[NodeKind] = NodeKind.TEAM
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class School(Node):
    """A school (OneRoster org type school; Ed-Fi School)."""

    kind: ClassVar[NodeKind] = NodeKind.SCHOOL
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class District(Node):
    """A school district (LEA)."""

    kind: ClassVar[NodeKind] = NodeKind.DISTRICT
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class Community(Node):
    """A named community the partnership works in."""

    kind: ClassVar[NodeKind] = NodeKind.COMMUNITY
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class Consent(Node):
    """A consent document, reified (34 CFR 99.30: signed, dated, purpose, records, recipients).

    Validity: ``[effective_from or signed_at, expires_at)`` unless ``revoked_at`` came
    first. Incomplete documents are legal data: ``decide`` reports them
    (consent_incomplete), the model does not refuse them.

    ``exception_to`` keeps a document's provision tree (FHIR nested ``provision``): the id
    of the Consent node of the provision enclosing this one in the same document, None
    for a document's root. Within one document a nested provision is an exception that
    wins over the one enclosing it, at any depth (DOMAIN.md, decision rules).
    """

    kind: ClassVar[NodeKind] = NodeKind.CONSENT
    status: ConsentStatus = ConsentStatus.ACTIVE
    consent_kind: ConsentKind = ConsentKind.PERMIT
    signed_at: OptAwareDatetime = None
    effective_from: OptAwareDatetime = None
    expires_at: OptAwareDatetime = None
    revoked_at: OptAwareDatetime = None
    purposes: frozenset[Purpose] = frozenset()
    categories: frozenset[Category] = frozenset()
    signature_method: str | None = None
    signer_identity: str | None = None
    """Digital consents: the signer's authenticated identity (e.g. ``bearer-token:tok_...``)."""
    text_version: str | None = None
    """Digital consents: the version of the document text the signer was shown."""
    exception_to: Id | None = None


@dataclass(frozen=True, slots=True, config=_CFG)
class Agreement(Node):
    """A data agreement document: ``agreement_kind`` (e.g. confidentiality) and its version."""

    kind: ClassVar[NodeKind] = NodeKind.AGREEMENT
    agreement_kind: Category = "data_confidentiality"
    version: int = Field(default=1, ge=1)
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class Course(Node):
    """A training course."""

    kind: ClassVar[NodeKind] = NodeKind.COURSE
    name: str = ""


@dataclass(frozen=True, slots=True, config=_CFG)
class LegalOrder(Node):
    """A court order; its RESTRICTS edge interval is when it removes a guardian's rights."""

    kind: ClassVar[NodeKind] = NodeKind.LEGAL_ORDER
    description: str | None = None


AnyNode = (
    Student
    | Guardian
    | Provider
    | Partner
    | Program
    | Team
    | School
    | District
    | Community
    | Consent
    | Agreement
    | Course
    | LegalOrder
)

_NODE_CLASSES: Final[dict[NodeKind, type[Node]]] = {
    cls.kind: cls
    for cls in (
        Student,
        Guardian,
        Provider,
        Partner,
        Program,
        Team,
        School,
        District,
        Community,
        Consent,
        Agreement,
        Course,
        LegalOrder,
    )
}


def node_class(kind: NodeKind | str) -> type[Node]:
    """The record class for a node kind. Raises ValueError for an unknown kind."""
    cls = _NODE_CLASSES.get(kind)  # type: ignore[arg-type]  # a str finds its StrEnum key: no enum call (replay)
    if cls is not None:
        return cls
    try:
        return _NODE_CLASSES[NodeKind(kind)]
    except ValueError as err:
        raise ValueError(f"unknown node kind {kind!r}") from err


# ---------------------------------------------------------------------------- edges


@dataclass(frozen=True, slots=True, config=_CFG)
class Edge:
    """Base of every relationship: ``from_id -> to_id``, valid over ``[valid_from, valid_to)``."""

    kind: ClassVar[EdgeKind]
    id: Id
    from_id: Id
    to_id: Id
    valid_from: AwareDatetime
    valid_to: OptAwareDatetime = None
    recorded_at: OptAwareDatetime = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")

    @property
    def valid(self) -> Interval:
        """The half-open validity interval."""
        return Interval(self.valid_from, self.valid_to)

    def active_at(self, at: datetime) -> bool:
        """True when ``valid_from <= at < valid_to`` (the hot path of every check: no Interval built)."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def ended_by(self, at: datetime) -> bool:
        """True when the interval closed at or before `at`."""
        return self.valid_to is not None and self.valid_to <= at


@dataclass(frozen=True, slots=True, config=_CFG)
class GuardianOf(Edge):
    """Guardian -> Student. Rights follow FERPA (34 CFR 99.4): both parents keep them unless an order removes them."""

    kind: ClassVar[EdgeKind] = EdgeKind.GUARDIAN_OF
    relationship: GuardianRelationship = GuardianRelationship.PARENT
    ferpa_rights: FerpaRights = FerpaRights.FULL
    lives_with: bool | None = None


@dataclass(frozen=True, slots=True, config=_CFG)
class Attends(Edge):
    """Student -> School (enrolment)."""

    kind: ClassVar[EdgeKind] = EdgeKind.ATTENDS


@dataclass(frozen=True, slots=True, config=_CFG)
class LocatedIn(Edge):
    """School -> Community."""

    kind: ClassVar[EdgeKind] = EdgeKind.LOCATED_IN


@dataclass(frozen=True, slots=True, config=_CFG)
class PartOf(Edge):
    """School -> District."""

    kind: ClassVar[EdgeKind] = EdgeKind.PART_OF


@dataclass(frozen=True, slots=True, config=_CFG)
class LivesIn(Edge):
    """Student -> Community (optional)."""

    kind: ClassVar[EdgeKind] = EdgeKind.LIVES_IN


@dataclass(frozen=True, slots=True, config=_CFG)
class EmployedBy(Edge):
    """Provider -> Partner."""

    kind: ClassVar[EdgeKind] = EdgeKind.EMPLOYED_BY


@dataclass(frozen=True, slots=True, config=_CFG)
class WorksIn(Edge):
    """Provider -> Community."""

    kind: ClassVar[EdgeKind] = EdgeKind.WORKS_IN


@dataclass(frozen=True, slots=True, config=_CFG)
class MemberOf(Edge):
    """Provider|Team -> Team."""

    kind: ClassVar[EdgeKind] = EdgeKind.MEMBER_OF


@dataclass(frozen=True, slots=True, config=_CFG)
class Trained(Edge):
    """Provider -> Course: completed at ``valid_from``, expires at ``valid_to`` (None: never)."""

    kind: ClassVar[EdgeKind] = EdgeKind.TRAINED


@dataclass(frozen=True, slots=True, config=_CFG)
class Signed(Edge):
    """Provider|Partner -> Agreement: signed at ``valid_from``, expires at ``valid_to``.

    ``version`` is the version signed; None means the Agreement node's version.
    """

    kind: ClassVar[EdgeKind] = EdgeKind.SIGNED
    version: int | None = Field(default=None, ge=1)


@dataclass(frozen=True, slots=True, config=_CFG)
class Offers(Edge):
    """Partner -> Program."""

    kind: ClassVar[EdgeKind] = EdgeKind.OFFERS


@dataclass(frozen=True, slots=True, config=_CFG)
class ServesArea(Edge):
    """Program -> Community (HSDS service_area)."""

    kind: ClassVar[EdgeKind] = EdgeKind.SERVES_AREA


@dataclass(frozen=True, slots=True, config=_CFG)
class Serves(Edge):
    """Provider|Team -> Student: a service relationship (the need to know)."""

    kind: ClassVar[EdgeKind] = EdgeKind.SERVES
    status: ServiceStatus = ServiceStatus.ACTIVE
    program: Id | None = None
    categories_needed: frozenset[Category] = frozenset()


@dataclass(frozen=True, slots=True, config=_CFG)
class GivenBy(Edge):
    """Consent -> Guardian|Student: the signer."""

    kind: ClassVar[EdgeKind] = EdgeKind.GIVEN_BY


@dataclass(frozen=True, slots=True, config=_CFG)
class About(Edge):
    """Consent|LegalOrder -> Student."""

    kind: ClassVar[EdgeKind] = EdgeKind.ABOUT


@dataclass(frozen=True, slots=True, config=_CFG)
class Permits(Edge):
    """Consent -> Partner|Program|Provider: a named recipient."""

    kind: ClassVar[EdgeKind] = EdgeKind.PERMITS


@dataclass(frozen=True, slots=True, config=_CFG)
class Restricts(Edge):
    """LegalOrder -> Guardian: rights removed over the edge's interval."""

    kind: ClassVar[EdgeKind] = EdgeKind.RESTRICTS


AnyEdge = (
    GuardianOf
    | Attends
    | LocatedIn
    | PartOf
    | LivesIn
    | EmployedBy
    | WorksIn
    | MemberOf
    | Trained
    | Signed
    | Offers
    | ServesArea
    | Serves
    | GivenBy
    | About
    | Permits
    | Restricts
)

_EDGE_CLASSES: Final[dict[EdgeKind, type[Edge]]] = {
    cls.kind: cls
    for cls in (
        GuardianOf,
        Attends,
        LocatedIn,
        PartOf,
        LivesIn,
        EmployedBy,
        WorksIn,
        MemberOf,
        Trained,
        Signed,
        Offers,
        ServesArea,
        Serves,
        GivenBy,
        About,
        Permits,
        Restricts,
    )
}


def edge_class(kind: EdgeKind | str) -> type[Edge]:
    """The record class for an edge kind. Raises ValueError for an unknown kind."""
    cls = _EDGE_CLASSES.get(kind)  # type: ignore[arg-type]  # a str finds its StrEnum key: no enum call (replay)
    if cls is not None:
        return cls
    try:
        return _EDGE_CLASSES[EdgeKind(kind)]
    except ValueError as err:
        raise ValueError(f"unknown edge kind {kind!r}") from err


_N = NodeKind
ENDPOINTS: Final[dict[EdgeKind, tuple[frozenset[NodeKind], frozenset[NodeKind]]]] = {
    EdgeKind.GUARDIAN_OF: (frozenset({_N.GUARDIAN}), frozenset({_N.STUDENT})),
    EdgeKind.ATTENDS: (frozenset({_N.STUDENT}), frozenset({_N.SCHOOL})),
    EdgeKind.LOCATED_IN: (frozenset({_N.SCHOOL}), frozenset({_N.COMMUNITY})),
    EdgeKind.PART_OF: (frozenset({_N.SCHOOL}), frozenset({_N.DISTRICT})),
    EdgeKind.LIVES_IN: (frozenset({_N.STUDENT}), frozenset({_N.COMMUNITY})),
    EdgeKind.EMPLOYED_BY: (frozenset({_N.PROVIDER}), frozenset({_N.PARTNER})),
    EdgeKind.WORKS_IN: (frozenset({_N.PROVIDER}), frozenset({_N.COMMUNITY})),
    EdgeKind.MEMBER_OF: (frozenset({_N.PROVIDER, _N.TEAM}), frozenset({_N.TEAM})),
    EdgeKind.TRAINED: (frozenset({_N.PROVIDER}), frozenset({_N.COURSE})),
    EdgeKind.SIGNED: (frozenset({_N.PROVIDER, _N.PARTNER}), frozenset({_N.AGREEMENT})),
    EdgeKind.OFFERS: (frozenset({_N.PARTNER}), frozenset({_N.PROGRAM})),
    EdgeKind.SERVES_AREA: (frozenset({_N.PROGRAM}), frozenset({_N.COMMUNITY})),
    EdgeKind.SERVES: (frozenset({_N.PROVIDER, _N.TEAM}), frozenset({_N.STUDENT})),
    EdgeKind.GIVEN_BY: (frozenset({_N.CONSENT}), frozenset({_N.GUARDIAN, _N.STUDENT})),
    EdgeKind.ABOUT: (frozenset({_N.CONSENT, _N.LEGAL_ORDER}), frozenset({_N.STUDENT})),
    EdgeKind.PERMITS: (frozenset({_N.CONSENT}), frozenset({_N.PARTNER, _N.PROGRAM, _N.PROVIDER})),
    EdgeKind.RESTRICTS: (frozenset({_N.LEGAL_ORDER}), frozenset({_N.GUARDIAN})),
}
"""Allowed (source kinds, target kinds) per edge kind."""

ABOUT_SOURCES: Final = ENDPOINTS[EdgeKind.ABOUT][0]

_NODE_ADAPTERS: Final[dict[NodeKind, TypeAdapter[Any]]] = {k: TypeAdapter(c) for k, c in _NODE_CLASSES.items()}
_EDGE_ADAPTERS: Final[dict[EdgeKind, TypeAdapter[Any]]] = {k: TypeAdapter(c) for k, c in _EDGE_CLASSES.items()}


def node_from_dict(kind: NodeKind | str, data: dict[str, Any]) -> Node:
    """Validate `data` as a node of `kind`.

    Raises
    ------
    pydantic.ValidationError
        A field is missing, of the wrong type, or a datetime is naive.
    ValueError
        Unknown kind.
    """
    node: Node = _NODE_ADAPTERS[NodeKind(kind)].validate_python(data)
    return node


def edge_from_dict(kind: EdgeKind | str, data: dict[str, Any]) -> Edge:
    """Validate `data` as an edge of `kind` (same errors as node_from_dict)."""
    edge: Edge = _EDGE_ADAPTERS[EdgeKind(kind)].validate_python(data)
    return edge


def record_to_dict(record: Node | Edge) -> dict[str, Any]:
    """JSON-ready dict of a record (datetimes ISO 8601, sets as sorted lists), without its kind."""
    out: dict[str, Any] = {}
    for name in record.__dataclass_fields__:  # type: ignore[attr-defined]
        if name == "kind":
            continue
        value = getattr(record, name)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif isinstance(value, frozenset):
            value = sorted(value)
        out[name] = value
    return out
