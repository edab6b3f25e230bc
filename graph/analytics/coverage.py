"""Coverage measures per community, school, program or partner, at any time `at`.

Counts are computed from the store through the `GraphStore` protocol only (bulk scans of
`nodes(kind)` and `edges(kind)`, plus `gather_evidence_many` for served pairs), and judged
with the rules of `graph.decide`: nothing here re-states a rule. Every output passes
through `graph.analytics.suppression.suppress` (`coverage`); the exact counts
(`count_coverage`) are for tests and benchmarks and must never be shown.

Definitions (docs/analytics.md has the long form):

- *Students of a group*: a community's students attend, at `at`, a school located in it
  at `at`, or live in it (LIVES_IN at `at`); a school's attend it at `at`; a program's
  have a SERVES edge naming it whose interval holds `at` and whose status is referred,
  active or paused; a partner's are its programs' (OFFERS at `at`). A student may belong
  to several groups; a student in none is counted in the ``(none)`` row, so the total row
  counts every student once.
- *Consented*: at least one permit consent about the student is in force at `at` and was
  signed by someone with authority (`consent_in_force`), whoever it names.
- *Served*: some provider has an active service relationship with the student at `at`,
  directly or through a care team it belongs to at `at` (decide's need-to-know holds).
- *Full access*: served, and for some such provider ``decide`` allows (any purpose, every
  category: consent ∩ need is not empty).
- *Served, blocked*: served without full access; broken down by every reason code any of
  the student's serving providers is denied for (a student may count under several codes).
- Provider measures count providers of the group (community: WORKS_IN at `at`; partner:
  EMPLOYED_BY at `at`; school and program: providers actively serving a student of the
  group), whether their required training is current, and their caseload (students they
  actively serve, anywhere) as a distribution over bands, never per named provider.
- *Expiring within N days*: students whose consent coverage (the latest end among their
  consents in force) ends in ``(at, at + N days]``; providers whose current required
  training, or current confidentiality agreement, ends in that window.
- *Need gaps*: for each community and data category, the programs serving the area
  (SERVES_AREA at `at`) whose *profile* includes the category; a program's profile is the
  union of ``categories_needed`` on its SERVES edges in force at `at` (not ended). A 0 is a
  gap: no program serving that community works with that kind of need.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, TypeVar

from graph.analytics.suppression import suppress
from graph.analytics.table import Column, CountTable, Identity, PublishedTable, Ratio, RowKey
from graph.decide import agreement_current, consent_failures, decide, training_current
from graph.decision import CheckRequest
from graph.evidence import ConsentFacts, Evidence, SignedAgreement
from graph.model import (
    About,
    Agreement,
    Consent,
    ConsentKind,
    Edge,
    EdgeKind,
    GivenBy,
    GuardianOf,
    NodeKind,
    Permits,
    Provider,
    Restricts,
    Serves,
    ServiceStatus,
    Signed,
    Student,
    Trained,
)
from graph.policy import Policy
from graph.reasons import Reason
from graph.stores.base import GraphStore
from graph.timeutil import ensure_aware, to_iso
from graph.trusted import bulk_allocation

__all__ = [
    "BLOCKING_REASONS",
    "CASELOAD_BANDS",
    "CoverageFacts",
    "CoverageReport",
    "GroupBy",
    "NONE_ID",
    "consent_in_force",
    "consents_in_force",
    "count_coverage",
    "coverage",
    "gather_coverage_facts",
    "reason_title",
]

E = TypeVar("E", bound=Edge)

NONE_ID: Final = "(none)"
"""Row id of the units (students, providers) that belong to no group."""

BLOCKING_REASONS: Final[tuple[Reason, ...]] = tuple(
    r
    for r in Reason
    if r
    not in {
        Reason.NO_SERVICE_RELATIONSHIP,
        Reason.SERVICE_NOT_ACTIVE,
        Reason.UNKNOWN_PROVIDER,
        Reason.UNKNOWN_STUDENT,
        Reason.INVALID_TIME,
        Reason.AUDIT_UNAVAILABLE,
    }
)
"""Reason codes that can block a provider who actively serves a student, in `Reason` order."""

CASELOAD_BANDS: Final[tuple[tuple[int, int | None], ...]] = ((0, 0), (1, 19), (20, 39), (40, 59), (60, 99), (100, None))
"""Caseload bands (inclusive bounds; None: no upper bound)."""

_NO_PROVIDER: Final = "(no provider)"
_LIVE_STATUSES: Final = frozenset({ServiceStatus.REFERRED, ServiceStatus.ACTIVE, ServiceStatus.PAUSED})


class GroupBy(StrEnum):
    """What the rows of a coverage table are."""

    COMMUNITY = "community"
    SCHOOL = "school"
    PROGRAM = "program"
    PARTNER = "partner"


_GROUP_KIND: Final = {
    GroupBy.COMMUNITY: NodeKind.COMMUNITY,
    GroupBy.SCHOOL: NodeKind.SCHOOL,
    GroupBy.PROGRAM: NodeKind.PROGRAM,
    GroupBy.PARTNER: NodeKind.PARTNER,
}


# ---------------------------------------------------------------------------- consent rule


def consent_in_force(cf: ConsentFacts, ev: Evidence, at: datetime, policy: Policy) -> bool:
    """True when the permit consent `cf` is in force at `at` and its signer had authority.

    The same rule functions as `graph.decide.decide` (status, completeness, effective,
    revoked, expired, signer authority, eligibility), asked with no provider and no
    purpose: a consent naming *any* recipient counts, so ``recipient_not_named`` is the
    one failure ignored. Deny consents are not permits and never count here (their effect
    on a provider shows as ``consent_denied`` in the blocked breakdown).

    Parameters
    ----------
    cf : ConsentFacts
        The consent with its ABOUT, GIVEN_BY and PERMITS edges.
    ev : Evidence
        The student's evidence: ``student``, ``guardian_links`` and ``restrictions`` are read.
    at : datetime
        Aware.
    """
    return any(c.consent.id == cf.consent.id for c in consents_in_force(ev, at, policy, (cf,)))


def consents_in_force(ev: Evidence, at: datetime, policy: Policy, consents: Iterable[ConsentFacts] | None = None) -> list[ConsentFacts]:
    """The permit consents of `ev` (or `consents`) that `consent_in_force` accepts, in order."""
    ev = ev.as_at(at)  # effective-dated state: the versions in effect at `at`
    if ev.student is None:
        return []
    if consents is not None:  # the same documents, as they stood at `at` (absent: not yet signed)
        wanted = {c.consent.id for c in consents}
        consents = [c for c in ev.consents if c.consent.id in wanted]
    out = []
    for cf in ev.consents if consents is None else consents:
        if cf.consent.consent_kind is not ConsentKind.PERMIT:
            continue
        fails = consent_failures(cf, ev, at, policy)
        if all(code is Reason.RECIPIENT_NOT_NAMED for code in fails):
            out.append(cf)
    return out


def reason_title(code: Reason) -> str:
    """A reason code in plain words for a column header: ``not_in_student_community`` -> "Not in student community"."""
    return str(code).replace("_", " ").capitalize()


def _consent_end(consent: Consent) -> datetime | None:
    ends = [t for t in (consent.expires_at, consent.revoked_at) if t is not None]
    return min(ends) if ends else None


# ---------------------------------------------------------------------------- facts


@dataclass(slots=True)
class CoverageFacts:
    """Per-student and per-provider facts at `at`, gathered once and grouped many ways."""

    at: datetime
    students: dict[str, Student] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    consented: set[str] = field(default_factory=set)
    consent_end: dict[str, datetime | None] = field(default_factory=dict)
    served: set[str] = field(default_factory=set)
    full_access: set[str] = field(default_factory=set)
    blocked_codes: dict[str, set[Reason]] = field(default_factory=dict)
    caseload: dict[str, set[str]] = field(default_factory=dict)
    trained: set[str] = field(default_factory=set)
    training_end: dict[str, datetime | None] = field(default_factory=dict)
    agreement_end: dict[str, datetime | None] = field(default_factory=dict)
    schools_of: dict[str, set[str]] = field(default_factory=dict)
    school_communities: dict[str, set[str]] = field(default_factory=dict)
    communities_of: dict[str, set[str]] = field(default_factory=dict)
    programs_of: dict[str, set[str]] = field(default_factory=dict)
    partners_of_program: dict[str, set[str]] = field(default_factory=dict)
    provider_communities: dict[str, set[str]] = field(default_factory=dict)
    provider_partners: dict[str, set[str]] = field(default_factory=dict)
    program_areas: dict[str, set[str]] = field(default_factory=dict)
    program_profile: dict[str, set[str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    group_ids: dict[GroupBy, list[str]] = field(default_factory=dict)


def _edges(store: GraphStore, kind: EdgeKind, at: datetime | None = None) -> Iterator[Any]:
    """Edges of `kind`; with `at`, only those whose half-open interval holds `at` (`Edge.active_at`)."""
    if at is None:
        yield from store.edges(kind)
        return
    for e in store.edges(kind):
        if e.active_at(at):
            yield e


def gather_coverage_facts(store: GraphStore, at: datetime, policy: Policy) -> CoverageFacts:
    """Gather everything coverage needs at `at` (aware), in bulk.

    Consent measures are judged from consent evidence alone (consents, signers, guardian
    links, court orders), built from edge scans; full decisions are made only for
    (provider, student) pairs joined at `at` by an active SERVES edge from the provider or
    a team it is in (`_active_pairs`), one `gather_evidence_many` per provider.

    Raises
    ------
    NaiveDatetimeError
        `at` is naive.
    DepthLimitExceeded
        Team nesting passes ``policy.max_team_depth`` (raised by `decide`).
    """
    at = ensure_aware(at)
    with _gc_paused():
        return _gather(store, at, policy)


_gc_paused = bulk_allocation  # one GC pause for bulk work (graph.trusted): gathering allocates millions of acyclic objects


def _gather(store: GraphStore, at: datetime, policy: Policy) -> CoverageFacts:
    f = CoverageFacts(at=at)
    for kind in (NodeKind.COMMUNITY, NodeKind.SCHOOL, NodeKind.PROGRAM, NodeKind.PARTNER):
        for node in store.nodes(kind):
            f.names[node.id] = getattr(node, "name", "") or node.id
    names = f.names

    def label_key(node_id: str) -> tuple[str, str]:
        return (names.get(node_id, node_id).casefold(), node_id)

    for g, kind in _GROUP_KIND.items():
        f.group_ids[g] = sorted((n.id for n in store.nodes(kind)), key=label_key)
    f.students = {n.id: n for n in store.nodes(NodeKind.STUDENT) if isinstance(n, Student)}
    f.providers = {n.id: n for n in store.nodes(NodeKind.PROVIDER) if isinstance(n, Provider)}
    _gather_groups(store, at, f)
    _gather_consents(store, at, policy, f)
    _gather_services(store, at, policy, f)
    _gather_providers(store, at, policy, f)
    return f


def _gather_groups(store: GraphStore, at: datetime, f: CoverageFacts) -> None:
    school_community = f.school_communities
    for e in _edges(store, EdgeKind.LOCATED_IN, at):
        school_community.setdefault(e.from_id, set()).add(e.to_id)
    for e in _edges(store, EdgeKind.ATTENDS, at):
        f.schools_of.setdefault(e.from_id, set()).add(e.to_id)
        f.communities_of.setdefault(e.from_id, set()).update(school_community.get(e.to_id, ()))
    for e in _edges(store, EdgeKind.LIVES_IN, at):
        f.communities_of.setdefault(e.from_id, set()).add(e.to_id)
    for e in _edges(store, EdgeKind.OFFERS, at):
        f.partners_of_program.setdefault(e.to_id, set()).add(e.from_id)
    for e in _edges(store, EdgeKind.SERVES_AREA, at):
        f.program_areas.setdefault(e.from_id, set()).add(e.to_id)
    for s in _edges(store, EdgeKind.SERVES, at):
        assert isinstance(s, Serves)
        if s.program is not None and s.status in _LIVE_STATUSES:
            f.programs_of.setdefault(s.to_id, set()).add(s.program)
            f.program_profile.setdefault(s.program, set()).update(s.categories_needed)
    for e in _edges(store, EdgeKind.WORKS_IN, at):
        f.provider_communities.setdefault(e.from_id, set()).add(e.to_id)
    for e in _edges(store, EdgeKind.EMPLOYED_BY, at):
        f.provider_partners.setdefault(e.from_id, set()).add(e.to_id)


def _by(edges: Iterable[E], key: str) -> dict[str, list[E]]:
    out: dict[str, list[E]] = defaultdict(list)
    for e in edges:
        out[getattr(e, key)].append(e)
    return out


def _gather_consents(store: GraphStore, at: datetime, policy: Policy, f: CoverageFacts) -> None:
    consents = {n.id: n for n in store.nodes(NodeKind.CONSENT) if isinstance(n, Consent) and n.consent_kind is ConsentKind.PERMIT}
    if not consents:
        return
    about_consent: dict[str, list[About]] = defaultdict(list)
    orders_about: dict[str, set[str]] = defaultdict(set)
    for e in _edges(store, EdgeKind.ABOUT):
        if e.from_id in consents:
            about_consent[e.from_id].append(e)
        else:
            orders_about[e.to_id].add(e.from_id)
    given: dict[str, list[GivenBy]] = _by((e for e in _edges(store, EdgeKind.GIVEN_BY) if e.from_id in consents), "from_id")
    permits: dict[str, list[Permits]] = _by((e for e in _edges(store, EdgeKind.PERMITS) if e.from_id in consents), "from_id")
    by_student: dict[str, list[ConsentFacts]] = defaultdict(list)
    for cid, abouts in about_consent.items():
        for sid in {a.to_id for a in abouts}:
            mine = tuple(a for a in abouts if a.to_id == sid)
            by_student[sid].append(ConsentFacts(consents[cid], mine, tuple(given.get(cid, ())), tuple(permits.get(cid, ()))))
    guardians: dict[str, list[GuardianOf]] = _by((e for e in _edges(store, EdgeKind.GUARDIAN_OF) if e.to_id in by_student), "to_id")
    restricts: dict[str, list[Restricts]] = _by(_edges(store, EdgeKind.RESTRICTS), "from_id") if orders_about else {}
    for sid, cfs in by_student.items():
        student = f.students.get(sid)
        if student is None:
            continue
        ev = Evidence(
            provider=None,
            student=student,
            guardian_links=tuple(guardians.get(sid, ())),
            restrictions=tuple(r for o in sorted(orders_about.get(sid, ())) for r in restricts.get(o, ())),
            consents=tuple(cfs),
        )
        ends: list[datetime | None] = [_consent_end(cf.consent) for cf in consents_in_force(ev, at, policy)]
        if ends:
            f.consented.add(sid)
            f.consent_end[sid] = None if any(e is None for e in ends) else max(e for e in ends if e is not None)


def _active_pairs(store: GraphStore, at: datetime, providers: Iterable[str]) -> dict[str, set[str]]:
    """Students each provider has an active SERVES edge to at `at`, directly or via teams at `at`.

    Only a pre-filter: it picks which pairs `decide` judges (decide alone says whether the
    need-to-know condition holds). Teams are followed breadth-first with a visited set.
    """
    serving: dict[str, set[str]] = defaultdict(set)
    for e in _edges(store, EdgeKind.SERVES, at):
        if isinstance(e, Serves) and e.status is ServiceStatus.ACTIVE:
            serving[e.from_id].add(e.to_id)
    if not serving:
        return {}
    member: dict[str, set[str]] = defaultdict(set)
    for e in _edges(store, EdgeKind.MEMBER_OF, at):
        member[e.from_id].add(e.to_id)
    out: dict[str, set[str]] = {}
    for pid in providers:
        seen = {pid}
        frontier = [pid]
        while frontier:
            nxt = [t for node in frontier for t in member.get(node, ()) if t not in seen]
            seen.update(nxt)
            frontier = nxt
        students = {sid for node in seen for sid in serving.get(node, ())}
        if students:
            out[pid] = students
    return out


def _gather_services(store: GraphStore, at: datetime, policy: Policy, f: CoverageFacts) -> None:
    not_serving = {Reason.NO_SERVICE_RELATIONSHIP, Reason.SERVICE_NOT_ACTIVE}
    codes_of: dict[str, set[Reason]] = defaultdict(set)
    for pid, students in sorted(_active_pairs(store, at, f.providers).items()):
        candidates = sorted(students)
        evidence = store.gather_evidence_many(pid, None, candidates)
        for sid in candidates:
            d = decide(evidence[sid], CheckRequest(pid, sid, at), policy)
            codes = set(d.codes)
            if codes & not_serving:
                continue
            f.served.add(sid)
            f.caseload.setdefault(pid, set()).add(sid)
            if d.allowed:
                f.full_access.add(sid)
            else:
                codes_of[sid].update(codes)
    f.blocked_codes = {sid: codes for sid, codes in codes_of.items() if sid not in f.full_access}


def _gather_providers(store: GraphStore, at: datetime, policy: Policy, f: CoverageFacts) -> None:
    trainings: dict[str, list[Trained]] = _by(_edges(store, EdgeKind.TRAINED), "from_id")
    agreements_by_id = {n.id: n for n in store.nodes(NodeKind.AGREEMENT) if isinstance(n, Agreement)}
    signed: dict[str, list[SignedAgreement]] = defaultdict(list)
    for e in _edges(store, EdgeKind.SIGNED):
        if isinstance(e, Signed) and e.from_id in f.providers and e.to_id in agreements_by_id:
            signed[e.from_id].append(SignedAgreement(e, agreements_by_id[e.to_id]))
    for pid, provider in f.providers.items():
        ev = Evidence(provider=provider, student=None, trainings=tuple(trainings.get(pid, ())), agreements=tuple(signed.get(pid, ())))
        if training_current(ev, at, policy):
            f.trained.add(pid)
            f.training_end[pid] = _latest_end_per_course(ev.trainings, policy, at)
        if agreement_current(ev, at, policy):
            held = [
                s.edge.valid_to
                for s in ev.agreements
                if s.agreement.agreement_kind == policy.agreement_kind
                and s.version >= policy.current_agreement_version
                and s.edge.active_at(at)
            ]
            f.agreement_end[pid] = None if any(t is None for t in held) else max(t for t in held if t is not None)


def _latest_end_per_course(trainings: Iterable[Trained], policy: Policy, at: datetime) -> datetime | None:
    """When current training lapses: per required course the latest end, then the earliest course."""
    per_course: list[datetime | None] = []
    for course in sorted(policy.required_courses):
        ends = [t.valid_to for t in trainings if t.to_id == course and t.active_at(at)]
        per_course.append(None if any(e is None for e in ends) else max(e for e in ends if e is not None))
    known = [e for e in per_course if e is not None]
    return min(known) if known else None


# ---------------------------------------------------------------------------- grouping


def _student_groups(f: CoverageFacts, by: GroupBy) -> Mapping[str, set[str]]:
    if by is GroupBy.COMMUNITY:
        return f.communities_of
    if by is GroupBy.SCHOOL:
        return f.schools_of
    if by is GroupBy.PROGRAM:
        return f.programs_of
    return {
        sid: {p for prog in progs for p in f.partners_of_program.get(prog, ())} for sid, progs in f.programs_of.items()
    }


def _provider_groups(f: CoverageFacts, by: GroupBy, student_groups: Mapping[str, set[str]]) -> Mapping[str, set[str]]:
    if by is GroupBy.COMMUNITY:
        return f.provider_communities
    if by is GroupBy.PARTNER:
        return f.provider_partners
    return {pid: {g for sid in sids for g in student_groups.get(sid, ())} for pid, sids in f.caseload.items()}


def _rows(f: CoverageFacts, by: GroupBy) -> list[RowKey]:
    return [RowKey(g, f.names.get(g, g)) for g in f.group_ids.get(by, [])] + [RowKey(NONE_ID, "(in no group)")]


def _tabulate(
    units: Iterable[str],
    groups: Mapping[str, set[str]],
    rows: list[RowKey],
    measures: list[tuple[Column, Any]],
    signature: Callable[[str], Hashable] | None = None,
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """Count units per row and measure, plus the total row.

    A measure is a predicate on a unit, or, when `signature` is given, on the unit's
    signature (a small hashable summary such as ``(consented, served, full)``): units are
    then tallied per (row, signature) and each predicate runs once per distinct signature.
    """
    sig: Callable[[str], Hashable] = signature if signature is not None else (lambda u: u)
    index = {r.id: i for i, r in enumerate(rows)}
    none = index[NONE_ID]
    per_row: Counter[tuple[int, Hashable]] = Counter()
    total: Counter[Hashable] = Counter()
    for u in units:
        key = sig(u)
        total[key] += 1
        targets = [index[g] for g in groups.get(u, ()) if g in index] or [none]
        for i in targets:
            per_row[(i, key)] += 1
    hits = {key: [1 if pred(key) else 0 for _, pred in measures] for key in total}
    counts = [[0] * len(measures) for _ in rows]
    totals = [0] * len(measures)
    for (i, key), n in per_row.items():
        row = counts[i]
        for j, h in enumerate(hits[key]):
            row[j] += h * n
    for key, n in total.items():
        for j, h in enumerate(hits[key]):
            totals[j] += h * n
    return tuple(tuple(r) for r in counts), tuple(totals)


def _in_window(end: datetime | None, at: datetime, days: int) -> bool:
    return end is not None and at < end <= at + timedelta(days=days)


def _band(n: int) -> int:
    for i, (lo, hi) in enumerate(CASELOAD_BANDS):
        if n >= lo and (hi is None or n <= hi):
            return i
    raise AssertionError(n)


def _band_name(lo: int, hi: int | None) -> str:
    return f"caseload_{lo}" if hi == lo else (f"caseload_{lo}_plus" if hi is None else f"caseload_{lo}_{hi}")


def _band_title(lo: int, hi: int | None) -> str:
    return f"Caseload {lo}" if hi == lo else (f"Caseload {lo}+" if hi is None else f"Caseload {lo}-{hi}")


def count_coverage(
    store: GraphStore,
    at: datetime,
    by: GroupBy | str = GroupBy.COMMUNITY,
    policy: Policy | None = None,
    *,
    expiring_days: int = 30,
    facts: CoverageFacts | None = None,
) -> tuple[CountTable, ...]:
    """Exact coverage counts (internal: never shown; `coverage` publishes them suppressed).

    Parameters
    ----------
    store : GraphStore
    at : datetime
        Aware; every interval is read at this instant.
    by : GroupBy or str
        Rows: community, school, program or partner.
    policy : Policy, optional
        Defaults to `Policy()`.
    expiring_days : int
        Window, in days after `at`, for the "expiring" measures (>= 0).
    facts : CoverageFacts, optional
        Facts already gathered at `at` (to group the same facts several ways).

    Returns
    -------
    tuple of CountTable
        ``students``, ``blocking_reasons``, ``providers``, ``expiring`` and ``need_gaps``.
    """
    policy = policy or Policy()
    by = GroupBy(by)
    if expiring_days < 0:
        raise ValueError("expiring_days must be >= 0")
    at = ensure_aware(at)
    f = facts if facts is not None else gather_coverage_facts(store, at, policy)
    if f.at != at:
        raise ValueError("facts were gathered at another time")
    rows = _rows(f, by)
    sgroups = _student_groups(f, by)
    pgroups = _provider_groups(f, by, sgroups)
    students = sorted(f.students)
    providers = sorted(f.providers)
    return (
        _students_table(f, by, rows, sgroups, students),
        _blocking_table(f, by, rows, sgroups, students),
        _providers_table(f, by, rows, pgroups, providers),
        _expiring_table(f, by, rows, sgroups, pgroups, students, providers, expiring_days),
        _need_gap_table(f, policy),
    )


def _c(name: str, title: str, hidden: bool = False) -> Column:
    return Column(name, title, hidden)


def _students_table(f: CoverageFacts, by: GroupBy, rows: list[RowKey], groups: Mapping[str, set[str]], units: list[str]) -> CountTable:
    cons, served, full = f.consented, f.served, f.full_access
    measures: list[tuple[Column, Any]] = [
        (_c("students", "Students"), lambda k: True),
        (_c("consented", "With a valid consent"), lambda k: k[0]),
        (_c("served", "Actively served"), lambda k: k[1]),
        (_c("full_access", "Served, a provider may see the record"), lambda k: k[2]),
        (_c("served_blocked", "Served, every provider blocked"), lambda k: k[1] and not k[2]),
        (_c("consented_unserved", "Consented, not served"), lambda k: k[0] and not k[1]),
        (_c("unconsented", "Without a valid consent", True), lambda k: not k[0]),
        (_c("unserved", "Not served", True), lambda k: not k[1]),
        (_c("consented_served", "Consented and served", True), lambda k: k[0] and k[1]),
        (_c("unconsented_served", "Served without consent", True), lambda k: not k[0] and k[1]),
        (_c("unconsented_unserved", "Neither", True), lambda k: not k[0] and not k[1]),
    ]
    values, totals = _tabulate(units, groups, rows, measures, lambda s: (s in cons, s in served, s in full))
    return CountTable(
        group=str(by),
        name="students",
        title=f"Student coverage by {by}",
        columns=tuple(c for c, _ in measures),
        rows=tuple(rows),
        values=values,
        totals=totals,
        identities=(
            Identity("students", ("consented", "unconsented")),
            Identity("students", ("served", "unserved")),
            Identity("served", ("full_access", "served_blocked")),
            Identity("consented", ("consented_served", "consented_unserved")),
            Identity("served", ("consented_served", "unconsented_served")),
            Identity("unserved", ("consented_unserved", "unconsented_unserved")),
            Identity("unconsented", ("unconsented_served", "unconsented_unserved")),
        ),
        ratios=(
            Ratio("consented_pct", "% consented", "consented", "students"),
            Ratio("served_pct", "% served", "served", "students"),
            Ratio("full_access_pct", "% of served with full access", "full_access", "served"),
        ),
        notes=(
            f"Groups: {by}; a student in several groups is counted in each; the total counts each student once.",
            "Consented: a permit consent in force, signed by someone with authority (any recipient).",
            "Served: a provider has an active service relationship (directly or through a care team).",
            "Full access: for some serving provider every condition holds.",
        ),
    )


def _blocking_table(f: CoverageFacts, by: GroupBy, rows: list[RowKey], groups: Mapping[str, set[str]], units: list[str]) -> CountTable:
    blocked = f.blocked_codes
    measures: list[tuple[Column, Any]] = [(_c("served_blocked", "Served, every provider blocked"), lambda s: s in blocked)]
    for code in BLOCKING_REASONS:
        measures.append((_c(str(code), reason_title(code)), lambda s, code=code: code in blocked.get(s, ())))
    blocked_units = [s for s in units if s in blocked]
    values, totals = _tabulate(blocked_units, groups, rows, measures)
    return CountTable(
        group=str(by),
        name="blocking_reasons",
        title=f"Served students whose every provider is blocked, by reason, by {by}",
        columns=tuple(c for c, _ in measures),
        rows=tuple(rows),
        values=values,
        totals=totals,
        notes=("A student counts under every reason any of their serving providers is denied for; reasons do not add up.",),
    )


def _providers_table(f: CoverageFacts, by: GroupBy, rows: list[RowKey], groups: Mapping[str, set[str]], units: list[str]) -> CountTable:
    trained = f.trained
    load = {pid: len(f.caseload.get(pid, ())) for pid in units}
    measures: list[tuple[Column, Any]] = [
        (_c("providers", "Providers"), lambda p: True),
        (_c("trained", "With current required training"), lambda p: p in trained),
        (_c("untrained", "Without current training", True), lambda p: p not in trained),
    ]
    for i, (lo, hi) in enumerate(CASELOAD_BANDS):
        measures.append((_c(_band_name(lo, hi), _band_title(lo, hi)), lambda p, i=i: _band(load[p]) == i))
    values, totals = _tabulate(units, groups, rows, measures)
    return CountTable(
        group=str(by),
        name="providers",
        title=f"Providers and caseloads by {by}",
        columns=tuple(c for c, _ in measures),
        rows=tuple(rows),
        values=values,
        totals=totals,
        identities=(
            Identity("providers", ("trained", "untrained")),
            Identity("providers", tuple(_band_name(lo, hi) for lo, hi in CASELOAD_BANDS)),
        ),
        ratios=(Ratio("trained_pct", "% trained", "trained", "providers"),),
        notes=(
            "Community: providers working there; partner: its employees; school, program: providers actively serving its students.",
            "Caseload: students a provider actively serves (anywhere), as a distribution; no provider is named.",
        ),
    )


def _expiring_table(
    f: CoverageFacts,
    by: GroupBy,
    rows: list[RowKey],
    sgroups: Mapping[str, set[str]],
    pgroups: Mapping[str, set[str]],
    students: list[str],
    providers: list[str],
    days: int,
) -> CountTable:
    at = f.at
    s_measures: list[tuple[Column, Any]] = [
        (_c("consents_expiring", f"Students whose consent ends within {days} days"),
         lambda k: k),
    ]
    p_measures: list[tuple[Column, Any]] = [
        (_c("trainings_expiring", f"Providers whose training ends within {days} days"),
         lambda p: p in f.training_end and _in_window(f.training_end[p], at, days)),
        (_c("agreements_expiring", f"Providers whose agreement ends within {days} days"),
         lambda p: p in f.agreement_end and _in_window(f.agreement_end[p], at, days)),
    ]
    ends = f.consent_end
    s_values, s_totals = _tabulate(students, sgroups, rows, s_measures, lambda s: s in ends and _in_window(ends[s], at, days))
    p_values, p_totals = _tabulate(providers, pgroups, rows, p_measures)
    return CountTable(
        group=str(by),
        name="expiring",
        title=f"Expiring within {days} days, by {by}",
        columns=tuple(c for c, _ in s_measures + p_measures),
        rows=tuple(rows),
        values=tuple(a + b for a, b in zip(s_values, p_values, strict=True)),
        totals=s_totals + p_totals,
        notes=(f"Window: after the time asked about, up to {days} days later.",),
    )


def _need_gap_table(f: CoverageFacts, policy: Policy) -> CountTable:
    categories = sorted(policy.categories)
    communities = f.group_ids.get(GroupBy.COMMUNITY, [])
    serving: dict[str, set[str]] = defaultdict(set)
    for prog, areas in f.program_areas.items():
        for c in areas:
            serving[c].add(prog)
    values = []
    for c in communities:
        progs = serving.get(c, set())
        row = [len(progs)] + [sum(1 for p in progs if cat in f.program_profile.get(p, ())) for cat in categories]
        values.append(tuple(row))
    return CountTable(
        group=str(GroupBy.COMMUNITY),
        name="need_gaps",
        title="Programs serving each community, by data category their services need",
        columns=(_c("programs", "Programs serving the area"), *(_c(cat, cat) for cat in categories)),
        rows=tuple(RowKey(c, f.names.get(c, c)) for c in communities),
        values=tuple(values),
        totals=None,
        notes=(
            "A program's profile: categories_needed on its service relationships in force (not ended).",
            "0 is a gap: no program serving the community works with that kind of need.",
        ),
    )


# ---------------------------------------------------------------------------- published


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Coverage after suppression: what the CLI, GraphQL and the web page show."""

    at: datetime
    by: GroupBy
    expiring_days: int
    tables: tuple[PublishedTable, ...]
    partners: Mapping[str, tuple[RowKey, ...]] = field(default_factory=dict)
    """Program id -> the partners offering it at `at` (id and name), for program rows."""

    def table(self, name: str) -> PublishedTable:
        """The table named `name` (students, blocking_reasons, providers, expiring, need_gaps)."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def gaps(self) -> list[tuple[str, str]]:
        """(community id, category) pairs no program serving the community covers (published zeros)."""
        t = self.table("need_gaps")
        return [
            (row.id, col.name)
            for row in t.rows
            for col, cell in zip(t.columns, row.cells, strict=True)
            if col.name != "programs" and cell.value == 0
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "at": to_iso(self.at),
            "by": str(self.by),
            "expiring_days": self.expiring_days,
            "tables": [t.to_dict() for t in self.tables],
        }


def coverage(
    store: GraphStore,
    at: datetime,
    by: GroupBy | str = GroupBy.COMMUNITY,
    policy: Policy | None = None,
    *,
    expiring_days: int = 30,
    facts: CoverageFacts | None = None,
) -> CoverageReport:
    """Coverage measures by `by` at `at`, with small-cell and complementary suppression applied.

    Same parameters as `count_coverage`. Rows are ordered by group name, then id (never
    by value); the ``(none)`` row comes last.

    Raises
    ------
    NaiveDatetimeError, ValueError
    """
    policy = policy or Policy()
    at = ensure_aware(at)
    f = facts if facts is not None else gather_coverage_facts(store, at, policy)
    tables = count_coverage(store, at, by, policy, expiring_days=expiring_days, facts=f)
    return CoverageReport(at, GroupBy(by), expiring_days, tuple(suppress(t, policy) for t in tables), program_partners(f))


def program_partners(f: CoverageFacts) -> dict[str, tuple[RowKey, ...]]:
    """Program id -> its partners at ``f.at`` (OFFERS), by name then id."""
    return {
        prog: tuple(sorted((RowKey(p, f.names.get(p, p)) for p in ptns), key=lambda k: (k.label.casefold(), k.id)))
        for prog, ptns in sorted(f.partners_of_program.items())
    }
