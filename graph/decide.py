"""The decision function: every rule of DOMAIN.md ("Decision rules"), pure and table-driven.

`decide(evidence, request, policy) -> Decision` does no I/O and knows no store. Each rule
is a small function that returns its `Finding`s (a list) and never stops at the first failure; the
`RULES` table lists them in the order their reasons are reported. Deny by default:
anything not shown to hold is a failure. Between consent documents a matching deny wins
over a permit; within one document a nested provision is an exception that wins over
the provision enclosing it, at any depth (``Consent.exception_to``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar, Final, NamedTuple, TypeVar

from graph.decision import CheckRequest, Condition, Decision, Outcome, PathStep, ReasonDetail
from graph.errors import DepthLimitExceeded
from graph.evidence import ConsentFacts, Evidence, SignedAgreement
from graph.model import (
    Consent,
    ConsentKind,
    ConsentStatus,
    Edge,
    FerpaRights,
    GuardianOf,
    GuardianRelationship,
    MemberOf,
    Serves,
    ServiceStatus,
    Student,
)
from graph.policy import Policy
from graph.reasons import Reason
from graph.timeutil import age_on, local_date

__all__ = [
    "PROVIDER_RULES",
    "RULES",
    "BatchMemo",
    "Finding",
    "LastingMemo",
    "agreement_current",
    "category_reasons",
    "consent_failures",
    "decide",
    "is_eligible_student",
    "signer_authority",
    "training_current",
]

_T = TypeVar("_T", bound=Edge)
_EMPTY: Final[frozenset[str]] = frozenset()
_CONDITIONS: Final = tuple(Condition)
"""Conditions in report order (iterating the enum class itself costs a generator per call)."""


# Enum members bound once at import: reading ``Condition.CONSENT`` goes through the enum class's
# attribute machinery on CPython 3.11 (about 0.25 µs, ten times a global), and a decision reads dozens.
_CONSENT: Final = Condition.CONSENT
_AGREEMENT_AND_TRAINING: Final = Condition.AGREEMENT_AND_TRAINING
_EMPLOYMENT: Final = Condition.EMPLOYMENT
_COMMUNITY: Final = Condition.COMMUNITY
_NEED_TO_KNOW: Final = Condition.NEED_TO_KNOW
_PERMIT: Final = ConsentKind.PERMIT
_DENY: Final = ConsentKind.DENY
_CONSENT_ACTIVE: Final = ConsentStatus.ACTIVE
_SERVICE_ACTIVE: Final = ServiceStatus.ACTIVE
_RELATIVE: Final = GuardianRelationship.RELATIVE
_EMERGENCY_CONTACT: Final = GuardianRelationship.EMERGENCY_CONTACT
_AUTHORIZED_AGENT: Final = GuardianRelationship.AUTHORIZED_AGENT
_RIGHTS_REMOVED: Final = FerpaRights.REMOVED
_RIGHTS_UNVERIFIED: Final = FerpaRights.UNVERIFIED
_OUTCOME_DENY: Final = Outcome.DENY
_OUTCOME_PARTIAL: Final = Outcome.PARTIAL
_OUTCOME_ALLOW: Final = Outcome.ALLOW

# The records a decision builds (`Finding`, `ReasonDetail`, `PathStep`, `Decision`) are named
# tuples; on the hot path they are built through ``tuple.__new__`` with every field in order,
# which skips the named tuple's Python ``__new__`` (about 0.16 µs against 0.28 µs each).
_new: Final = tuple.__new__


def _by_id(items: Iterable[_T]) -> list[_T]:
    """Items in id order, so every store's evidence gives the same answer and path."""
    out = list(items)
    if len(out) > 1:
        out.sort(key=_edge_id)
    return out


def _edge_id(e: Edge) -> str:
    return e.id


_DAY_CACHE: Final[dict[tuple[datetime, str], date]] = {}
_DAY_CACHE_SIZE: Final = 4096


def _local_day(at: datetime, tz_name: str) -> date:
    """`local_date`, remembered per (instant, zone): a batch asks about one instant for thousands
    of students in a handful of zones. Equal instants have one local date in a zone, so an aware
    key is exact; bounded by clearing (a stale entry cannot exist, only a missing one)."""
    key = (at, tz_name)
    day = _DAY_CACHE.get(key)
    if day is None:
        day = local_date(at, tz_name)
        if len(_DAY_CACHE) >= _DAY_CACHE_SIZE:
            _DAY_CACHE.clear()
        _DAY_CACHE[key] = day
    return day


class Finding(NamedTuple):
    """What one rule found: a met condition (``reason`` None) with its edges, or a failure.

    ``categories`` carries what the consent rule found consented, or what the need-to-know
    rule found needed; ``withheld`` the categories a deny consent withholds. Immutable (a
    batch shares the provider rules' findings); a named tuple because a decision builds
    several and a frozen dataclass costs about twice as much to build.
    """

    condition: Condition
    reason: ReasonDetail | None = None
    edges: tuple[Edge, ...] = ()
    categories: frozenset[str] | None = None
    withheld: frozenset[str] = frozenset()

    @classmethod
    def failed(cls, condition: Condition, code: Reason, ref: str | None = None, category: str | None = None) -> Finding:
        """A failing finding with one reason."""
        return _new(cls, (condition, _new(ReasonDetail, (code, ref, category, condition)), (), None, _EMPTY))


@dataclass(slots=True)
class _Facts:
    """Facts derived once per decision from the evidence at `at` (shared by the rules)."""

    at: datetime
    employers: dict[str, Edge] = field(default_factory=dict)
    reach: dict[str, tuple[MemberOf, ...]] = field(default_factory=dict)
    relevant_services: list[Serves] = field(default_factory=list)
    active_services: list[Serves] = field(default_factory=list)
    works: dict[str, Edge] | None = None
    eligible_now: bool | None = None
    """Whether the student is an eligible student at `at`; None until the signer rule asks (`_signer_problem`)."""
    recipients: set[str] | None = None


def is_eligible_student(student: Student, at: datetime, policy: Policy) -> bool:
    """True when FERPA rights have passed to the student at `at`.

    The student is 18 or over on their local date (time zone: the student's, else
    ``policy.default_time_zone``), or enrolled in postsecondary education (34 CFR 99.3
    "eligible student", 99.5(a)). An unknown birth date counts as not eligible by age.
    """
    if student.postsecondary_enrolled:
        return True
    if student.birth_date is None:
        return False
    today = _local_day(at, student.time_zone or policy.default_time_zone)
    return age_on(student.birth_date, today) >= policy.eligibility_age


def _team_reach(ev: Evidence, provider_id: str, at: datetime, policy: Policy) -> dict[str, tuple[MemberOf, ...]]:
    """Provider and every team it belongs to at `at` (any depth), each with its membership path.

    Breadth-first with a visited set: cycles are legal data and neither loop nor raise.
    Raises DepthLimitExceeded when ``policy.max_team_depth`` would be passed.
    """
    if not ev.memberships:  # most providers belong to no team
        return {provider_id: ()}
    adjacency: dict[str, list[MemberOf]] = {}
    for m in ev.memberships:
        if m.active_at(at):
            adjacency.setdefault(m.from_id, []).append(m)
    reach: dict[str, tuple[MemberOf, ...]] = {provider_id: ()}
    frontier = [provider_id]
    depth = 0
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for m in _by_id(adjacency.get(node, ())):
                if m.to_id in reach:
                    continue
                if policy.max_team_depth is not None and depth >= policy.max_team_depth:
                    raise DepthLimitExceeded(provider_id, policy.max_team_depth)
                reach[m.to_id] = (*reach[node], m)
                nxt.append(m.to_id)
        frontier = nxt
        depth += 1
    return reach


def _sorted(items: tuple[_T, ...]) -> Sequence[_T]:
    """`items` in id order (`_by_id` without a copy when there is nothing to sort)."""
    return items if len(items) < 2 else sorted(items, key=_edge_id)


def _works(ev: Evidence, at: datetime) -> dict[str, Edge]:
    """The communities the provider works in at `at`, each with its WORKS_IN edge (the highest id for one place)."""
    works: dict[str, Edge] = {}
    for w in _sorted(ev.works_in):
        if w.active_at(at):
            works[w.to_id] = w
    return works


def _derive(ev: Evidence, req: CheckRequest, policy: Policy, side: _ProviderSide | None = None) -> _Facts:
    at = req.at
    if side is not None:
        employers, reach, works = side.employers, side.reach, side.works
    else:
        employers = {e.to_id: e for e in _sorted(ev.employments) if e.active_at(at)}
        reach, works = _team_reach(ev, req.provider_id, at, policy), None
    if not ev.services:  # most pairs asked about: no service at all
        return _Facts(at, employers, reach, [], [], works)
    relevant = [s for s in ev.services if s.from_id in reach]
    if len(relevant) > 1:
        relevant.sort(key=_edge_id)
    active = [s for s in relevant if s.status is _SERVICE_ACTIVE and s.active_at(at)]
    return _Facts(at, employers, reach, relevant, active, works)


# ---------------------------------------------------------------------------- consent


def _signer_problem(
    signer_id: str, cf: ConsentFacts, ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts
) -> tuple[Reason | None, tuple[GuardianOf, ...]]:
    """Why `signer_id` could not give this consent, or (None, links that gave authority).

    Sources: 34 CFR 99.4 (both parents keep rights unless a court order removes them),
    99.5 (rights pass to an eligible student), 99.30 (signed and dated by the parent or
    eligible student). Emergency contacts and relatives are not parents under 99.3.
    """
    student = ev.student
    assert student is not None  # decide() returns early without a student
    signed = cf.consent.signed_at or req.at
    if signer_id == student.id:
        return (None, ()) if is_eligible_student(student, signed, policy) else (Reason.SIGNER_LACKS_AUTHORITY, ())
    eligible_now = facts.eligible_now
    if eligible_now is None:  # asked only when a guardian signed: most checks never need it
        eligible_now = facts.eligible_now = is_eligible_student(student, req.at, policy)
    if eligible_now:
        survives = policy.parent_consent_survives_eligibility and not is_eligible_student(student, signed, policy)
        if not survives:
            return Reason.ELIGIBLE_STUDENT_CONSENT_REQUIRED, ()
    good: list[GuardianOf] = []
    for link in ev.guardian_links:
        if link.from_id != signer_id or not link.active_at(signed):
            continue
        if link.relationship in (_RELATIVE, _EMERGENCY_CONTACT):
            continue
        if link.ferpa_rights is _RIGHTS_REMOVED:
            continue
        if link.ferpa_rights is _RIGHTS_UNVERIFIED and policy.require_verified_guardians:
            continue
        if link.relationship is _AUTHORIZED_AGENT and not link.active_at(req.at):
            continue  # the agent's authorisation lapsed
        good.append(link)
    if not good:
        return Reason.SIGNER_LACKS_AUTHORITY, ()
    # A court order removing rights at signing or now defeats the consent (conservative).
    for order in ev.restrictions:
        if order.to_id == signer_id and (order.active_at(signed) or order.active_at(req.at)):
            return Reason.SIGNER_LACKS_AUTHORITY, ()
    return None, tuple(_by_id(good))


def _recipient_ids(req: CheckRequest, facts: _Facts) -> set[str]:
    """Who a consent may name for this request: the provider, its employers, its active services' programs (once per decision)."""
    ids = facts.recipients
    if ids is None:
        ids = facts.recipients = {req.provider_id, *facts.employers}
        ids.update([s.program for s in facts.active_services if s.program is not None])
    return ids


def _consent_failures(
    cf: ConsentFacts, ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts
) -> tuple[list[Reason], tuple[Edge, ...]]:
    """Every reason this permit consent does not cover the request, and the edges if it does."""
    c, at = cf.consent, req.at
    fails: list[Reason] = []
    if c.status is not _CONSENT_ACTIVE:
        fails.append(Reason.CONSENT_NOT_ACTIVE)
    if not cf.given_by or c.signed_at is None or not c.purposes or not cf.permits or not c.categories:
        fails.append(Reason.CONSENT_INCOMPLETE)
    start = c.effective_from or c.signed_at
    if start is not None and at < start:
        fails.append(Reason.CONSENT_NOT_YET_EFFECTIVE)
    if c.revoked_at is not None and c.revoked_at <= at:
        fails.append(Reason.CONSENT_REVOKED)
    if c.expires_at is not None and c.expires_at <= at:
        fails.append(Reason.CONSENT_EXPIRED)
    wanted = _recipient_ids(req, facts)
    named = [p for p in cf.permits if p.active_at(at) and p.to_id in wanted]
    if cf.permits and not named:
        fails.append(Reason.RECIPIENT_NOT_NAMED)
    if req.purpose is not None and c.purposes and req.purpose not in c.purposes:
        fails.append(Reason.PURPOSE_MISMATCH)
    links: list[GuardianOf] = []
    signer_codes: list[Reason] = []
    for g in cf.given_by:
        code, ok_links = _signer_problem(g.to_id, cf, ev, req, policy, facts)
        if code is None:
            links.extend(ok_links)
            signer_codes = []
            break
        signer_codes.append(code)
    if signer_codes:
        fails.extend(dict.fromkeys(signer_codes))
    if fails:  # the edges show only a consent that holds
        return fails, ()
    return fails, (*cf.about, *cf.given_by, *named, *links)


def _in_force(c: Consent, at: datetime) -> bool:
    """Active, started, and neither revoked nor expired at `at`."""
    if c.status is not _CONSENT_ACTIVE:
        return False
    start = c.effective_from or c.signed_at
    if (start is not None and at < start) or (c.revoked_at is not None and c.revoked_at <= at):
        return False
    return c.expires_at is None or at < c.expires_at


def _covers(cf: ConsentFacts, req: CheckRequest, facts: _Facts) -> bool:
    """The provision is in force and covers this recipient and purpose (empty lists cover all)."""
    c, at = cf.consent, req.at
    if not _in_force(c, at):
        return False
    recipients = {p.to_id for p in cf.permits if p.active_at(at)}
    if recipients and not (recipients & _recipient_ids(req, facts)):
        return False
    return not (req.purpose is not None and c.purposes and req.purpose not in c.purposes)


def _deny_applies(cf: ConsentFacts, ev: Evidence, req: CheckRequest, facts: _Facts) -> bool:
    """A deny consent in force that covers this recipient and purpose (empty lists cover all).

    Any guardian of the student (not an emergency contact) or the student may refuse:
    a refusal is honoured even from an unverified guardian (conservative).
    """
    if not _covers(cf, req, facts):
        return False
    assert ev.student is not None
    signers = {g.to_id for g in cf.given_by}
    at = req.at
    guardians = {g.from_id for g in ev.guardian_links if g.relationship is not _EMERGENCY_CONTACT and g.active_at(at)}
    return bool(signers & (guardians | {ev.student.id}))


def _exceptions(ev: Evidence) -> dict[str, list[ConsentFacts]]:
    """Each provision's nested provisions at any depth (its exceptions), by consent id.

    Built from ``Consent.exception_to`` within the evidence; a cycle (bad data) stops
    where it closes rather than looping.
    """
    children: dict[str, list[ConsentFacts]] = {}
    for cf in ev.consents:
        if cf.consent.exception_to is not None:
            children.setdefault(cf.consent.exception_to, []).append(cf)
    out: dict[str, list[ConsentFacts]] = {}
    for parent, kids in children.items():
        seen: dict[str, ConsentFacts] = {}
        stack = list(kids)
        while stack:
            cf = stack.pop()
            if cf.consent.id in seen or cf.consent.id == parent:
                continue
            seen[cf.consent.id] = cf
            stack.extend(children.get(cf.consent.id, ()))
        out[parent] = sorted(seen.values(), key=lambda c: c.consent.id)
    return out


def consent(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """Condition 1: a valid consent covers recipient, purpose and data; a deny consent wins (34 CFR 99.30)."""
    permits: list[ConsentFacts] = []
    denies: list[ConsentFacts] = []
    for c in ev.consents:
        if c.consent.consent_kind is _PERMIT:
            permits.append(c)
        elif c.consent.consent_kind is _DENY:
            denies.append(c)
    out: list[Finding] = []
    if not permits:
        out.append(Finding.failed(_CONSENT, Reason.CONSENT_MISSING))
    else:
        if len(permits) > 1:
            permits.sort(key=_consent_id)
        valid: list[tuple[ConsentFacts, tuple[Edge, ...]]] = []
        failures: list[tuple[ReasonDetail, frozenset[str]]] = []
        for cf in permits:
            fails, edges = _consent_failures(cf, ev, req, policy, facts)
            if fails:
                cats = frozenset(cf.consent.categories)
                failures.extend((_new(ReasonDetail, (code, cf.consent.id, None, _CONSENT)), cats) for code in fails)
            else:
                valid.append((cf, edges))
        if valid:
            consented = frozenset().union(*(cf.consent.categories for cf, _ in valid))
            out.append(Finding(_CONSENT, None, valid[0][1], consented))
        else:
            # Each failure carries its document's categories, so a category no document
            # covers is reported too (DOMAIN.md: every failing reason, not the first).
            out.extend(Finding(_CONSENT, detail, (), cats) for detail, cats in failures)
    if not denies:
        return out
    if len(denies) > 1:
        denies.sort(key=_consent_id)
    exceptions = _exceptions(ev)
    asked = req.categories if req.categories is not None else policy.categories
    for cf in denies:
        if not _deny_applies(cf, ev, req, facts):
            continue
        withheld = frozenset(cf.consent.categories or policy.categories)
        # Within one document a nested permit that covers the request is an exception
        # to this deny for its categories (a deny nested deeper is weighed on its own).
        for ex in exceptions.get(cf.consent.id, ()):
            if ex.consent.consent_kind is _PERMIT and _covers(ex, req, facts):
                withheld -= ex.consent.categories or policy.categories
        if not withheld:
            continue
        if asked <= withheld:
            out.append(Finding.failed(_CONSENT, Reason.CONSENT_DENIED, cf.consent.id))
        else:
            out.append(Finding(_CONSENT, None, (), None, withheld))
    return out


def _consent_id(cf: ConsentFacts) -> str:
    return cf.consent.id


def review(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """Emancipated or unaccompanied youth: route to a person (DOMAIN.md, signer authority)."""
    student = ev.student
    if student is not None and (student.emancipated or student.unaccompanied_youth):
        return [Finding.failed(_CONSENT, Reason.REVIEW_REQUIRED)]
    return []


# ---------------------------------------------------------------------------- provider


def agreement(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """Condition 2a: the current confidentiality agreement, signed and unexpired; the partner's terms too."""
    at = req.at
    out: list[Finding] = []
    kind = policy.agreement_kind
    mine = [s for s in ev.agreements if s.agreement.agreement_kind == kind and s.edge.valid_from <= at]
    if len(mine) > 1:
        mine.sort(key=_signed_id)
    version = policy.current_agreement_version
    current = [s for s in mine if s.version >= version]
    if not mine:
        out.append(Finding.failed(_AGREEMENT_AND_TRAINING, Reason.AGREEMENT_MISSING))
    elif not current:
        out.append(Finding.failed(_AGREEMENT_AND_TRAINING, Reason.AGREEMENT_OUTDATED, mine[-1].agreement.id))
    else:
        held = [s for s in current if s.edge.active_at(at)]
        if held:
            out.append(Finding(_AGREEMENT_AND_TRAINING, None, (held[0].edge,)))
        else:
            out.append(Finding.failed(_AGREEMENT_AND_TRAINING, Reason.AGREEMENT_EXPIRED, current[-1].agreement.id))
    employers = facts.employers
    if policy.require_partner_agreement and employers:
        kind = policy.partner_agreement_kind
        terms = [
            s
            for s in ev.partner_agreements
            if s.edge.from_id in employers and s.agreement.agreement_kind == kind and s.edge.active_at(at)
        ]
        if len(terms) > 1:
            terms.sort(key=_signed_id)
        if terms:
            out.append(Finding(_AGREEMENT_AND_TRAINING, None, (terms[0].edge,)))
        else:
            out.append(Finding.failed(_AGREEMENT_AND_TRAINING, Reason.PARTNER_AGREEMENT_MISSING))
    return out


def _signed_id(s: SignedAgreement) -> str:
    return s.edge.id


def training(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """Condition 2b: current training in every required course (completed at or before `at`)."""
    at = req.at
    out: list[Finding] = []
    for course in _sorted_courses(policy.required_courses):
        held = _by_id([t for t in ev.trainings if t.to_id == course and t.valid_from <= at])
        current = [t for t in held if t.active_at(at)]
        if current:
            out.append(Finding(_AGREEMENT_AND_TRAINING, None, (current[0],)))
        elif held:
            out.append(Finding.failed(_AGREEMENT_AND_TRAINING, Reason.TRAINING_EXPIRED, course))
        else:
            out.append(Finding.failed(_AGREEMENT_AND_TRAINING, Reason.TRAINING_MISSING, course))
    return out


_COURSES: Final[dict[frozenset[str], list[str]]] = {}


def _sorted_courses(courses: frozenset[str]) -> list[str]:
    """`courses` sorted, remembered per set (a policy's required courses: a handful of sets per process)."""
    found = _COURSES.get(courses)
    if found is None:
        if len(_COURSES) >= 64:
            _COURSES.clear()
        found = _COURSES[courses] = sorted(courses)
    return found


def employment(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """The provider is currently employed by a partner organisation."""
    if facts.employers:
        return [Finding(_EMPLOYMENT, None, (next(iter(facts.employers.values())),))]
    return [Finding.failed(_EMPLOYMENT, Reason.NOT_EMPLOYED)]


# ---------------------------------------------------------------------------- community and need


def community(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """Condition 3: a community the provider works in at `at` is one of the student's.

    The student's communities: those of the schools attended at `at` (a transfer moves
    them on its date), and where the student lives.
    """
    at = req.at
    works = facts.works if facts.works is not None else _works(ev, at)
    if not works:  # no community in common whatever the student's are
        return [Finding.failed(_COMMUNITY, Reason.NOT_IN_STUDENT_COMMUNITY)]
    schools: dict[str, Edge] = {}
    for a in _sorted(ev.attends):
        if a.active_at(at):
            schools[a.to_id] = a
    student_places: dict[str, tuple[Edge, ...]] = {}
    for loc in _sorted(ev.school_locations):
        if loc.from_id in schools and loc.active_at(at) and loc.to_id not in student_places:
            student_places[loc.to_id] = (schools[loc.from_id], loc)
    for lives in _sorted(ev.lives_in):
        if lives.active_at(at) and lives.to_id not in student_places:
            student_places[lives.to_id] = (lives,)
    common = [place for place in student_places if place in works]
    if common:
        first = min(common)
        return [Finding(_COMMUNITY, None, (works[first], *student_places[first]))]
    return [Finding.failed(_COMMUNITY, Reason.NOT_IN_STUDENT_COMMUNITY)]


def need_to_know(ev: Evidence, req: CheckRequest, policy: Policy, facts: _Facts) -> list[Finding]:
    """Condition 4: an active service relationship, directly or through care teams (34 CFR 99.31(a)(1), legitimate interest)."""
    if not facts.relevant_services:
        return [Finding.failed(_NEED_TO_KNOW, Reason.NO_SERVICE_RELATIONSHIP)]
    if not facts.active_services:
        # What the inactive services would need: a category none of them needs is reported too.
        needed = frozenset().union(*[s.categories_needed for s in facts.relevant_services])
        detail = _new(ReasonDetail, (Reason.SERVICE_NOT_ACTIVE, facts.relevant_services[0].id, None, _NEED_TO_KNOW))
        return [Finding(_NEED_TO_KNOW, detail, (), needed)]
    first = facts.active_services[0]
    needed = frozenset().union(*[s.categories_needed for s in facts.active_services])
    return [Finding(_NEED_TO_KNOW, None, (*facts.reach[first.from_id], first), needed)]


Rule = Callable[[Evidence, CheckRequest, Policy, _Facts], Iterable[Finding]]

RULES: Final[tuple[Rule, ...]] = (consent, review, agreement, training, employment, community, need_to_know)
"""Every rule, in the order their reasons are reported."""

PROVIDER_RULES: Final[frozenset[Rule]] = frozenset({agreement, training, employment})
"""The rules that read only the provider's half of the evidence (and the employers derived from it):
a batch judges them once per provider and instant (`BatchMemo`)."""


@dataclass(slots=True)
class _ProviderSide:
    """What the provider's half of the evidence gives at one instant: employers, team reach, and the
    findings of the rules that read only that half (`PROVIDER_RULES`). Kept alive with the evidence it
    came from, so the identities in its key stay valid."""

    evidence: Evidence
    employers: dict[str, Edge]
    reach: dict[str, tuple[MemberOf, ...]]
    works: dict[str, Edge]
    findings: list[list[Finding] | None]
    """Per rule of `RULES`, in order: its findings when it reads only the provider's half, else None."""

    def fits(self, ev: Evidence) -> bool:
        """`ev` carries the very provider-half records this side was judged from."""
        mine = self.evidence
        return (
            mine.provider is ev.provider
            and mine.employments is ev.employments
            and mine.trainings is ev.trainings
            and mine.agreements is ev.agreements
            and mine.partner_agreements is ev.partner_agreements
            and mine.memberships is ev.memberships
            and mine.works_in is ev.works_in
        )


class BatchMemo:
    """Shared by the decisions of one batch (a checkMany, a lookup page): each provider's half is judged once.

    The provider-only rules (`PROVIDER_RULES`: agreement, training, employment), the team
    reach and the communities worked in depend on the provider's evidence, the instant and the
    policy alone. Entries are keyed by the provider id, the instant and the policy, and hold only
    for the very provider-half tuples they were judged from (identity: a store that shares them
    across a batch, as the embedded one does, gets the reuse; one that builds fresh tuples
    replaces the entry each time and gets the same answers). Use one memo per batch, then drop it.
    """

    __slots__ = ("_sides",)

    lasting: ClassVar[bool] = False
    """True for a memo kept across instants (`LastingMemo`): `decide` does not use one for evidence with versions."""

    def __init__(self) -> None:
        self._sides: dict[tuple[str, datetime, int], _ProviderSide] = {}

    def side(self, ev: Evidence, req: CheckRequest, policy: Policy) -> _ProviderSide:
        """The provider's half for `ev` at ``req.at`` (computed on first use).

        Raises DepthLimitExceeded as `decide` does.
        """
        key = (req.provider_id, req.at, id(policy))
        side = self._sides.get(key)
        if side is not None and side.fits(ev):
            return side
        side = self._sides[key] = _judge_side(ev, req, policy)
        return side


def _judge_side(ev: Evidence, req: CheckRequest, policy: Policy) -> _ProviderSide:
    """The provider's half of `ev` judged at ``req.at`` (raises DepthLimitExceeded as `decide` does)."""
    at = req.at
    employers: dict[str, Edge] = {e.to_id: e for e in _sorted(ev.employments) if e.active_at(at)}
    reach = _team_reach(ev, req.provider_id, at, policy)
    works = _works(ev, at)
    facts = _Facts(at=at, employers=employers, reach=reach, works=works)
    findings = [list(rule(ev, req, policy, facts)) if rule in PROVIDER_RULES else None for rule in RULES]
    return _ProviderSide(ev, employers, reach, works, findings)


def _span(ev: Evidence, at: datetime) -> tuple[datetime | None, datetime | None]:
    """The instants around `at` at which the provider's half reads the same: ``[lo, hi)`` between the
    nearest starts or ends of its edges (None: unbounded).

    Every provider-half judgement (`_judge_side`) compares the instant with an edge's ``valid_from``
    (``<=``) or ``valid_to`` (``<``) and nothing else, so between two neighbouring boundaries every
    comparison, hence every finding, is the same.
    """
    lo: datetime | None = None
    hi: datetime | None = None
    edges: list[Edge] = [*ev.employments, *ev.works_in, *ev.trainings, *ev.memberships]
    edges += [s.edge for s in ev.agreements]
    edges += [s.edge for s in ev.partner_agreements]
    for e in edges:
        for bound in (e.valid_from, e.valid_to):
            if bound is None:
                continue
            if bound <= at:
                if lo is None or bound > lo:
                    lo = bound
            elif hi is None or bound < hi:
                hi = bound
    return lo, hi


class LastingMemo(BatchMemo):
    """A `BatchMemo` an engine keeps across requests and instants: one judged provider half per
    provider, reused at any instant within the span its edges allow (`_span`).

    A single check asks at "now", a new instant every time; the provider's half (agreement,
    training, employment, team reach, communities worked in) still reads the same until one of
    its edges starts or ends. Reuse needs the very provider-half records the side was judged from
    (identity, as `BatchMemo`: the embedded store shares them until a write touches the
    provider; a store that builds fresh tuples gets a fresh judgement each time) and the same
    policy object; `decide` does not use it for evidence with versions in play (``Evidence.as_at``
    would pick other versions at other instants). Holds provider-half records only, at most `limit` providers (then starts
    over). Safe to share between threads: a race at worst judges a side twice.
    """

    __slots__ = ("_limit", "_spans")

    lasting: ClassVar[bool] = True

    def __init__(self, limit: int = 4096) -> None:
        super().__init__()
        self._spans: dict[str, tuple[_ProviderSide, Policy, datetime | None, datetime | None]] = {}
        self._limit = limit

    def side(self, ev: Evidence, req: CheckRequest, policy: Policy) -> _ProviderSide:
        """The provider's half for `ev` at ``req.at`` (judged again only when it may read differently).

        Raises DepthLimitExceeded as `decide` does.
        """
        at = req.at
        entry = self._spans.get(req.provider_id)
        if entry is not None:
            side, judged_under, lo, hi = entry
            if judged_under is policy and (lo is None or lo <= at) and (hi is None or at < hi) and side.fits(ev):
                return side
        side = _judge_side(ev, req, policy)
        side.evidence = _provider_half(ev)  # keep no student's records alive
        if len(self._spans) >= self._limit:
            self._spans.clear()
        self._spans[req.provider_id] = (side, policy, *_span(ev, at))
        return side


def _provider_half(ev: Evidence) -> Evidence:
    """`ev` with only the provider's half (what `_ProviderSide.fits` compares)."""
    return Evidence(
        provider=ev.provider,
        student=None,
        employments=ev.employments,
        works_in=ev.works_in,
        trainings=ev.trainings,
        agreements=ev.agreements,
        partner_agreements=ev.partner_agreements,
        memberships=ev.memberships,
    )


def decide(ev: Evidence, req: CheckRequest, policy: Policy, token: str | None = None, *, memo: BatchMemo | None = None) -> Decision:
    """Judge `req` on `ev` under `policy`; pure. `token`: the consistency token `ev` was read at (kept on the decision);
    `memo`: shared by a batch's decisions (`BatchMemo`) or an engine's requests (`LastingMemo`), so each
    provider's own half is judged once (same answer; a lasting memo is not used for evidence with versions in play).

    Returns
    -------
    Decision
        DENY unless every condition holds. ``reasons``: every failing reason of every
        rule, in rule order, then every category-level reason (`category_reasons`),
        whatever else failed. ``path``: the edges of each condition that held (a condition
        with any failing finding, e.g. a permit defeated by a deny consent, has none).
        ``released`` = asked ∩ consented ∩ needed minus what a deny consent withholds,
        empty unless every condition holds.

    Raises
    ------
    DepthLimitExceeded
        Team nesting passes ``policy.max_team_depth``.
    """
    dated = ev.as_at(req.at)  # effective-dated state: the versions in effect at the instant asked about
    if memo is not None and memo.lasting and dated is not ev:
        memo = None  # versions in play: which is in effect changes at instants a lasting side does not watch
    ev = dated
    if ev.provider is None or ev.student is None:
        codes = [Reason.UNKNOWN_PROVIDER] if ev.provider is None else []
        codes += [Reason.UNKNOWN_STUDENT] if ev.student is None else []
        return Decision(req, _OUTCOME_DENY, tuple(ReasonDetail(c) for c in codes), frozenset(), (), policy.version, ev, token)
    side = memo.side(ev, req, policy) if memo is not None else None
    facts = _derive(ev, req, policy, side)
    findings: list[Finding] = []
    if side is None:
        for rule in RULES:
            findings += rule(ev, req, policy, facts)
    else:
        for rule, known in zip(RULES, side.findings, strict=True):
            findings += rule(ev, req, policy, facts) if known is None else known
    # One pass over the findings: reasons in rule order, which conditions failed or held,
    # the categories consent and need cover (met findings, else failed ones), what is withheld.
    # Conditions are kept in short lists, not sets: an enum member hashes in Python, a list
    # compares identities first, and there are five conditions.
    reasons: list[ReasonDetail] = []
    failed: list[Condition] = []
    held: list[Condition] = []
    # What the met findings (else the failing ones) of consent and of need cover.
    consent_met: frozenset[str] | None = None
    consent_failing: frozenset[str] | None = None
    need_met: frozenset[str] | None = None
    need_failing: frozenset[str] | None = None
    withheld: frozenset[str] = _EMPTY
    # The edges of met findings per condition, in the order met (`_path` keeps those of conditions that held).
    steps: list[tuple[Condition, list[Edge]]] = []
    for cond, reason, edges, cats, withheld_here in findings:  # unpacked: a named tuple's field reads cost ~25 ns each
        if reason is None:
            if cond not in held:
                held.append(cond)
            if edges:
                if steps and steps[-1][0] is cond:  # a condition's findings are adjacent (rule order)
                    steps[-1][1].extend(edges)
                else:
                    _add_step(steps, cond, edges)
        else:
            reasons.append(reason)
            if cond not in failed:
                failed.append(cond)
        if withheld_here:
            withheld = withheld | withheld_here
        if cats is not None:
            if cond is _CONSENT:
                if reason is None:
                    consent_met = cats if consent_met is None else consent_met | cats
                else:
                    consent_failing = cats if consent_failing is None else consent_failing | cats
            elif cond is _NEED_TO_KNOW:
                if reason is None:
                    need_met = cats if need_met is None else need_met | cats
                else:
                    need_failing = cats if need_failing is None else need_failing | cats
    consented = consent_met if consent_met is not None else consent_failing
    needed = need_met if need_met is not None else need_failing
    asked = req.categories if req.categories is not None else policy.categories
    released: frozenset[str] = _EMPTY
    if not reasons and consented is not None and needed is not None:
        released = (asked & consented & needed) - withheld
    both_met = _CONSENT in held and _NEED_TO_KNOW in held and _CONSENT not in failed and _NEED_TO_KNOW not in failed
    if req.categories is not None or both_met:
        reasons += category_reasons(req.categories, asked, consented, needed, withheld, met=both_met)
    if not released:
        outcome = _OUTCOME_DENY
    elif req.categories is not None and released != asked:
        outcome = _OUTCOME_PARTIAL
    else:
        outcome = _OUTCOME_ALLOW
    path = _path(steps, failed) if steps else ()
    return _new(Decision, (req, outcome, tuple(reasons), released, path, policy.version, ev, token))


def category_reasons(
    categories: frozenset[str] | None,
    asked: frozenset[str],
    consented: frozenset[str] | None,
    needed: frozenset[str] | None,
    withheld: frozenset[str],
    *,
    met: bool,
) -> list[ReasonDetail]:
    """Every category-level reason, independent of the other conditions.

    For each category asked (sorted): ``consent_denied`` when a deny consent withholds it,
    ``category_not_consented`` when no consent covers it, ``not_needed_for_service`` when
    no service needs it; all that apply. ``consented`` / ``needed`` None means the
    condition has nothing to judge categories by (no consent at all; no service at all),
    whose own reason already says why nothing flows. Asked for no particular category
    (``categories`` None), one reason without a category when both conditions were
    ``met`` and still nothing could be released.
    """
    out: list[ReasonDetail] = []
    if categories is not None:
        for cat in sorted(categories):
            if cat in withheld:
                out.append(_new(ReasonDetail, (Reason.CONSENT_DENIED, None, cat, _CONSENT)))
            if consented is not None and cat not in consented:
                out.append(_new(ReasonDetail, (Reason.CATEGORY_NOT_CONSENTED, None, cat, _CONSENT)))
            if needed is not None and cat not in needed:
                out.append(_new(ReasonDetail, (Reason.NOT_NEEDED_FOR_SERVICE, None, cat, _NEED_TO_KNOW)))
    elif met and consented is not None and needed is not None and not (asked & consented & needed) - withheld:
        if (asked & consented) - withheld:
            out.append(ReasonDetail(Reason.NOT_NEEDED_FOR_SERVICE, None, None, _NEED_TO_KNOW))
        else:
            out.append(ReasonDetail(Reason.CATEGORY_NOT_CONSENTED, None, None, _CONSENT))
    return out


def _add_step(steps: list[tuple[Condition, list[Edge]]], cond: Condition, edges: tuple[Edge, ...]) -> None:
    """Add `edges` to `cond`'s entry of `steps` (a new entry at the end when it has none)."""
    for known, entry in steps:  # a list, not a dict: see the note on enum hashing in `decide`
        if known is cond:
            entry.extend(edges)
            return
    steps.append((cond, list(edges)))


def _path(steps: list[tuple[Condition, list[Edge]]], failed: list[Condition]) -> tuple[PathStep, ...]:
    """The edges of each condition that held, from the met findings' edges per condition (`steps`):
    a condition with any failing finding (in `failed`) contributes none.

    Conditions in report order (`_CONDITIONS`), each edge once (by id, the first seen kept).
    """
    if failed:
        steps = [step for step in steps if step[0] not in failed]
    if len(steps) > 1:
        # The rules report condition by condition in report order, so this is usually in order already.
        ranks = [_CONDITIONS.index(cond) for cond, _ in steps]
        if ranks != sorted(ranks):
            steps = [step for _, step in sorted(zip(ranks, steps, strict=True), key=_first)]
    return tuple([_new(PathStep, (cond, _unique(edges) if len(edges) > 1 else tuple(edges))) for cond, edges in steps])


def _first(pair: tuple[int, tuple[Condition, list[Edge]]]) -> int:
    return pair[0]


def _unique(edges: list[Edge]) -> tuple[Edge, ...]:
    """`edges` with each id once (the first kept), in order."""
    seen: dict[str, Edge] = {}
    for e in edges:
        if e.id not in seen:
            seen[e.id] = e
    return tuple(seen.values()) if len(seen) < len(edges) else tuple(edges)


# ---------------------------------------------------------------------------- single rules, for aggregates

_ANY_PROVIDER: Final = ""


def consent_failures(cf: ConsentFacts, ev: Evidence, at: datetime, policy: Policy) -> list[Reason]:
    """Why a permit consent does not hold at `at`, asked for no particular provider or purpose.

    The same rule as `decide` (status, completeness, dates, signer authority, eligible
    student); ``recipient_not_named`` is reported whenever the consent names anyone (no
    provider asked), so callers counting "consented students" ignore it. `ev` needs the
    student, guardian links and restrictions. Raises ValueError without a student.
    """
    if ev.student is None:
        raise ValueError("consent_failures needs the student's evidence")
    req = CheckRequest(_ANY_PROVIDER, ev.student.id, at)
    fails, _ = _consent_failures(cf, ev, req, policy, _derive(ev, req, policy))
    return fails


def signer_authority(ev: Evidence, signer_id: str, at: datetime, policy: Policy) -> Reason | None:
    """Why `signer_id` could not sign a consent about ``ev.student`` at `at`, or None when they can.

    The signer-authority rule of `decide` (DOMAIN.md, "Signer authority"), asked of a
    document signed at `at` and in force at `at`: the reasons are ``signer_lacks_authority``
    and ``eligible_student_consent_required``. `ev` needs the student, its guardian links and
    the orders restricting the signer. Raises ValueError without a student.
    """
    if ev.student is None:
        raise ValueError("signer_authority needs the student's evidence")
    req = CheckRequest(_ANY_PROVIDER, ev.student.id, at)
    cf = ConsentFacts(Consent(id="signer-authority", signed_at=at), (), (), ())
    code, _ = _signer_problem(signer_id, cf, ev, req, policy, _derive(ev, req, policy))
    return code


def _provider_rule_holds(rule: Rule, ev: Evidence, at: datetime, policy: Policy) -> bool:
    req = CheckRequest(ev.provider.id if ev.provider else _ANY_PROVIDER, _ANY_PROVIDER, at)
    return all(f.reason is None for f in rule(ev, req, policy, _Facts(at=at)))


def training_current(ev: Evidence, at: datetime, policy: Policy) -> bool:
    """True when the provider holds current training in every required course at `at` (needs ``trainings``)."""
    return _provider_rule_holds(training, ev, at, policy)


def agreement_current(ev: Evidence, at: datetime, policy: Policy) -> bool:
    """True when the provider's current-version agreement is signed and unexpired at `at` (needs ``agreements``;
    the partner's terms are not judged here)."""
    return _provider_rule_holds(agreement, ev, at, policy)
