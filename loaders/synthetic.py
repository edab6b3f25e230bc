"""Synthetic partnership data, written as a bundle (loaders.bundle).

Proportions follow a county-wide partnership like Promise Partnerships of Salt Lake
County (docs/bundle.md, "Generator"): ~25 communities, ~150 partners with 1-4
programs, a school per ~600 students, a district per ~15,000, ~1.7 guardians per
student, consents for ~30% of students, service relationships for ~12%, a provider
per ~60 served students, care teams (one cycle among them), mid-year transfers, and
the awkward cases the rules must meet (unverified guardians, court orders, expired
training, outdated agreements, revoked and deny consents, eligible students).

Memory stays flat whatever the size: the small "world" (communities, schools,
partners, programs, providers, teams) is held in memory; students are planned one at
a time from a seeded random stream, once for the node pass and again, identically,
for the edge pass, so nothing per student is kept.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

from graph.model import (
    About,
    Agreement,
    Attends,
    Community,
    Consent,
    ConsentKind,
    ConsentStatus,
    Course,
    District,
    Edge,
    EmployedBy,
    FerpaRights,
    GivenBy,
    Guardian,
    GuardianOf,
    GuardianRelationship,
    LegalOrder,
    LivesIn,
    LocatedIn,
    MemberOf,
    Node,
    Offers,
    Partner,
    PartOf,
    Permits,
    Program,
    Provider,
    Restricts,
    School,
    Serves,
    ServesArea,
    ServiceStatus,
    Signed,
    Student,
    Team,
    Trained,
    WorksIn,
)
from graph.timeutil import DEFAULT_TIME_ZONE, LocalDates, ensure_aware
from graph.trusted import construct
from loaders.bundle import BundleWriter, Format, write_bundle

__all__ = ["COURSE_ID", "DATA_SHARING_ID", "CONFIDENTIALITY_IDS", "PURPOSES", "generate"]

# The generated partnership is in the default zone: day-level events (school start, transfers,
# court orders, a consent's 1 July expiry) happen at local midnight there (docs/dates.md).
_LOCAL: Final = LocalDates(DEFAULT_TIME_ZONE)
DEFAULT_START: Final = _LOCAL.start(date(2025, 8, 15))  # 2025-08-15T06:00Z
DEFAULT_NOW: Final = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)
SOURCE: Final = "synthetic"

N_COMMUNITIES: Final = 25
N_PARTNERS: Final = 150
STUDENTS_PER_SCHOOL: Final = 600
STUDENTS_PER_DISTRICT: Final = 15_000
SERVED_SHARE: Final = 0.12
SERVED_PER_PROVIDER: Final = 60
PROVIDERS_PER_TEAM: Final = 10
BIG_PROVIDER_STUDENTS: Final = 200
BIG_STUDENT_PROVIDERS: Final = 10

COURSE_ID: Final = "crs-ferpa_basics"
CONFIDENTIALITY_IDS: Final = ("agreement:data_confidentiality:v1", "agreement:data_confidentiality:v2")
DATA_SHARING_ID: Final = "agreement:data_sharing:v1"
PURPOSES: Final = ("academic_support", "health_services", "case_management", "mentoring")

# Categories a service needs, weighted by how often programs ask for them.
_NEED_POOL: Final = (
    ("attendance",) * 5 + ("grades",) * 4 + ("program_participation",) * 3 + ("assessments",) * 2
    + ("contact",) * 2 + ("discipline", "health", "special_education", "directory")
)
_ALL_CATEGORIES: Final = (
    "attendance", "grades", "assessments", "discipline", "special_education", "health", "contact",
    "program_participation", "directory",
)

_COMMUNITY_NAMES: Final = (
    "Kearns", "Magna", "Glendale", "Rose Park", "Poplar Grove", "Fairpark", "South Salt Lake", "Midvale",
    "Granger", "Hunter", "Taylorsville", "Millcreek", "Murray", "Central City", "West Jordan", "South Jordan",
    "Riverton", "Herriman", "Cottonwood Heights", "Holladay", "Sandy", "Draper", "Bluffdale", "Westpointe",
    "Jordan Meadows",
)
_PLACE_WORDS: Final = (
    "Aspen", "Bonneville", "Canyon Rim", "Cottonwood", "Eastwood", "Foothill", "Granite Park", "Hawthorne",
    "Jordan Ridge", "Lakeview", "Meadowbrook", "Oakridge", "Pioneer", "Quail Hollow", "Redwood", "Sagebrush",
    "Silver Hills", "Sunset Ridge", "Valley Crest", "Westbrook", "Willow Canyon", "Oquirrh", "Wasatch",
    "Red Butte", "Big Bend", "Mountain View", "River Bend", "Copper Hills", "Bridgeside", "Cherry Creek",
    "Falcon Ridge", "Golden Fields", "Heritage", "Juniper", "Kestrel", "Lone Peak", "Maple Grove", "North Star",
    "Orchard", "Prairie", "Rolling Meadows", "Stone Creek", "Timberline", "Upland", "Vista", "Whitetail",
)
_PARTNER_PREFIX: Final = (
    "Wasatch", "Valley", "Bright Futures", "Mountain", "Great Basin", "Jordan River", "Oquirrh", "Summit",
    "Canyon", "Community", "Harvest", "Beehive", "Keystone", "Northstar", "Open Door", "Pathways", "Sunrise",
    "Riverside", "Crossroads", "Cornerstone", "New Horizons", "Salt Flats", "Highland", "Evergreen", "Lighthouse",
)
_PARTNER_FOCUS: Final = (
    "Family", "Youth", "Health", "Learning", "Literacy", "Mentoring", "Arts", "Refugee", "Wellness", "Education",
    "Outreach", "Counseling", "Dental", "Nutrition", "STEM",
)
_PARTNER_TYPE: Final = (
    "Services", "Alliance", "Center", "Foundation", "Network", "Partners", "Collaborative", "Clinic",
    "Project", "Coalition", "Institute", "Connection",
)
_PROGRAM_NAMES: Final = (
    "After-School Tutoring", "Family Mentoring", "School-Based Counseling", "Attendance Coaching", "Dental Outreach",
    "Reading Buddies", "College Access", "Summer Learning", "Youth Leadership", "Case Management",
    "Health Screening", "Math Lab", "Newcomer Support", "Parent Academy", "Career Pathways", "Mental Health Services",
    "Early Literacy", "Food Security", "STEM Club", "Homework Help",
)
_FIRST_NAMES: Final = (
    "Alex", "Ana", "Bea", "Cam", "Dani", "Eli", "Fran", "Gabe", "Hana", "Ivo", "Jo", "Kai", "Lena", "Mo",
    "Noor", "Omar", "Pia", "Quin", "Rae", "Sam", "Tavi", "Uma", "Vic", "Wren", "Yuki", "Zed",
)
_LEVELS: Final = ("Elementary", "Middle", "High", "Academy")  # Academy: K-12 charter
_LEVEL_AGES: Final = ((5, 11), (12, 14), (15, 19), (5, 19))
_GUARDED: Final = frozenset(
    {GuardianRelationship.PARENT, GuardianRelationship.LEGAL_GUARDIAN, GuardianRelationship.ACTING_AS_PARENT}
)


# ---------------------------------------------------------------------------- records

R = TypeVar("R", bound="Node | Edge")

# Records built without running their validators (graph.trusted.construct). Why: validation is
# ~3/4 of the cost per record, and 700,000 students make ~5 million records. Only the
# generator's own values, correct by construction, go there; `generate(validate=True)` builds
# the same records validated (the tests check that both write identical files) and every
# record is validated again when the bundle is read.
_trusted: Final = construct


def _validated(cls: type[R], **values: Any) -> R:
    return cls(**values)


Make = Callable[..., Any]


# ---------------------------------------------------------------------------- the world


@dataclass(slots=True)
class _World:
    """Everything that is not per student: small, held in memory."""

    n: int
    start: datetime
    now: datetime
    long_ago: datetime
    communities: list[str] = field(default_factory=list)
    community_weight: list[float] = field(default_factory=list)
    schools: list[tuple[str, str, int, int]] = field(default_factory=list)  # id, name, community, level
    school_district: list[int] = field(default_factory=list)
    schools_by_level: list[list[int]] = field(default_factory=list)
    schools_by_community: list[list[int]] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    partners: list[tuple[str, str]] = field(default_factory=list)
    partner_programs: list[list[int]] = field(default_factory=list)
    partner_sharing: list[bool] = field(default_factory=list)
    programs: list[tuple[str, str, int]] = field(default_factory=list)  # id, name, partner
    program_areas: list[list[int]] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    provider_partner: list[int] = field(default_factory=list)
    provider_communities: list[list[int]] = field(default_factory=list)
    provider_since: list[datetime] = field(default_factory=list)
    providers_by_community: list[list[int]] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    team_members: list[list[int]] = field(default_factory=list)
    team_parents: list[list[int]] = field(default_factory=list)
    teams_by_community: list[list[int]] = field(default_factory=list)
    team_program: list[int] = field(default_factory=list)
    big_communities: tuple[int, ...] = ()


def _width(n: int, least: int) -> int:
    return max(least, len(str(n)))


def _build_world(rng: random.Random, n: int, start: datetime, now: datetime) -> _World:
    w = _World(n=n, start=start, now=now, long_ago=start - timedelta(days=5 * 365))
    # Communities: a few dense ones, a long tail (weights ~ Zipf), in a shuffled order.
    w.communities = [f"com-{i + 1:02d}" for i in range(N_COMMUNITIES)]
    weights = [1.0 / (r + 1) ** 0.7 for r in range(N_COMMUNITIES)]
    rng.shuffle(weights)
    # Schools: one per ~600 students; every community gets one before any gets a second.
    n_schools = max(1, round(n / STUDENTS_PER_SCHOOL))
    order = sorted(range(N_COMMUNITIES), key=lambda c: -weights[c])
    w.schools_by_community = [[] for _ in range(N_COMMUNITIES)]
    w.schools_by_level = [[] for _ in _LEVELS]
    sw = _width(n_schools, 4)
    used_names: set[str] = set()
    for j in range(n_schools):
        c = order[j] if j < N_COMMUNITIES else rng.choices(range(N_COMMUNITIES), weights)[0]
        # Levels in proportion to the ages they take; the first three cover every age.
        level = j if j < 3 else rng.choices(range(4), (0.55, 0.2, 0.15, 0.1))[0]
        base = f"{rng.choice(_PLACE_WORDS)} {_LEVELS[level]}"
        name, k = base, 2
        while name in used_names:
            name, k = f"{base} {k}", k + 1
        used_names.add(name)
        w.schools.append((f"sch-{j + 1:0{sw}d}", name, c, level))
        w.schools_by_community[c].append(j)
        w.schools_by_level[level].append(j)
    w.community_weight = [len(w.schools_by_community[c]) + 0.2 for c in range(N_COMMUNITIES)]
    # Districts: ~one per 15,000 students, contiguous runs of schools ordered by community.
    n_districts = max(1, round(n / STUDENTS_PER_DISTRICT))
    w.districts = [f"dst-{d + 1:02d}" for d in range(n_districts)]
    by_comm = sorted(range(n_schools), key=lambda j: (w.schools[j][2], j))
    w.school_district = [0] * n_schools
    for rank, j in enumerate(by_comm):
        w.school_district[j] = rank * n_districts // n_schools
    top = sorted(range(N_COMMUNITIES), key=lambda c: (-w.community_weight[c], c))
    w.big_communities = (top[0], top[1])

    # Partners and programs.
    combos = [f"{a} {b} {c}" for a in _PARTNER_PREFIX for b in _PARTNER_FOCUS for c in _PARTNER_TYPE]
    for i, partner_name in enumerate(rng.sample(combos, N_PARTNERS)):
        w.partners.append((f"ptn-{i + 1:03d}", partner_name))
        w.partner_sharing.append(rng.random() >= 0.03)  # a few never signed data-sharing terms
        progs = []
        for pname in rng.sample(_PROGRAM_NAMES, rng.randint(1, 4)):
            k = len(w.programs)
            w.programs.append((f"prg-{k + 1:04d}", pname, i))
            areas = {rng.choices(range(N_COMMUNITIES), w.community_weight)[0] for _ in range(rng.randint(1, 3))}
            w.program_areas.append(sorted(areas))
            progs.append(k)
        w.partner_programs.append(progs)
    # The big provider's partner covers the two densest communities.
    first = w.partner_programs[0][0]
    w.program_areas[first] = sorted(set(w.program_areas[first]) | set(w.big_communities))

    # Providers: one per ~60 served students, at least one per partner; sizes skewed.
    n_providers = max(N_PARTNERS, round(n * SERVED_SHARE / SERVED_PER_PROVIDER))
    pw = _width(n_providers, 4)
    sizes = [1] * N_PARTNERS
    partner_weight = [rng.paretovariate(1.5) for _ in range(N_PARTNERS)]
    for p in rng.choices(range(N_PARTNERS), partner_weight, k=n_providers - N_PARTNERS):
        sizes[p] += 1
    owners = [p for p in range(N_PARTNERS) for _ in range(sizes[p])]
    owners.remove(0)
    owners.insert(0, 0)  # provider 0 (the big one) works for partner 0
    w.providers_by_community = [[] for _ in range(N_COMMUNITIES)]
    for k, p in enumerate(owners):
        w.providers.append(f"prv-{k + 1:0{pw}d}")
        w.provider_partner.append(p)
        home = sorted({c for g in w.partner_programs[p] for c in w.program_areas[g]})
        comms: set[int] = set()
        for _ in range(1 if rng.random() < 0.7 else 2):
            if rng.random() < 0.85:
                comms.add(rng.choice(home))
            else:
                comms.add(rng.choices(range(N_COMMUNITIES), w.community_weight)[0])
        if k == 0:
            comms = set(w.big_communities)
        elif k < BIG_STUDENT_PROVIDERS:
            comms = {w.big_communities[0]} | (comms if len(comms) == 1 else set())
        w.provider_communities.append(sorted(comms))
        w.provider_since.append(start - timedelta(days=rng.randint(30, 3000)))
        for c in comms:
            w.providers_by_community[c].append(k)

    # Care teams: one per ~10 providers, members from the team's community.
    n_teams = max(3, n_providers // PROVIDERS_PER_TEAM)
    tw = _width(n_teams, 3)
    w.teams_by_community = [[] for _ in range(N_COMMUNITIES)]
    for t in range(n_teams):
        w.teams.append(f"team-{t + 1:0{tw}d}")
        c = w.big_communities[0] if t == 0 else rng.choices(range(N_COMMUNITIES), w.community_weight)[0]
        pool = w.providers_by_community[c] or list(range(n_providers))
        members = [0, 1, 2, 3] if t == 0 else rng.sample(pool, min(len(pool), rng.randint(2, 6)))
        w.team_members.append(sorted(members))
        w.teams_by_community[c].append(t)
        w.team_program.append(rng.choice(w.partner_programs[w.provider_partner[members[0]]]))
        w.team_parents.append([])
    # Teams nest: team-2 -> team-3 -> team-2 is the cycle (legal data), team-4 hangs below it;
    # others sometimes nest. team-1 (the big student's) stays flat so its reach stays ~10.
    n_nest = min(n_teams, 4)
    w.team_parents[1].append(2)
    w.team_parents[2].append(1)
    if n_nest == 4:
        w.team_parents[3].append(1)
    for t in range(n_nest, n_teams):
        if rng.random() < 0.2:
            parent = rng.randrange(1, n_teams)
            if parent != t:
                w.team_parents[t].append(parent)
    return w


def _world_nodes(w: _World) -> Iterator[Node]:
    for c, cid in enumerate(w.communities):
        yield Community(id=cid, name=_COMMUNITY_NAMES[c])
    for d, did in enumerate(w.districts):
        yield District(id=did, name=f"{_PLACE_WORDS[d % len(_PLACE_WORDS)]} School District"
                       + (f" {d // len(_PLACE_WORDS) + 1}" if d >= len(_PLACE_WORDS) else ""))
    for sid, name, _, _ in w.schools:
        yield School(id=sid, name=name)
    for pid, name in w.partners:
        yield Partner(id=pid, name=name)
    for gid, name, _ in w.programs:
        yield Program(id=gid, name=name)
    for k, pid in enumerate(w.providers):
        yield Provider(id=pid, name=f"{_FIRST_NAMES[k % len(_FIRST_NAMES)]} {chr(65 + (k * 7) % 26)}.")
    for t, tid in enumerate(w.teams):
        c = next(c for c, ts in enumerate(w.teams_by_community) if t in ts)
        yield Team(id=tid, name=f"{_COMMUNITY_NAMES[c]} Care Team {t + 1}")
    yield Course(id=COURSE_ID, name="FERPA Basics")
    for v, aid in enumerate(CONFIDENTIALITY_IDS, 1):
        yield Agreement(id=aid, agreement_kind="data_confidentiality", version=v, name=f"Data Confidentiality Agreement v{v}")
    yield Agreement(id=DATA_SHARING_ID, agreement_kind="data_sharing", version=1, name="Data Sharing Agreement v1")


def _world_edges(rng: random.Random, w: _World) -> Iterator[Edge]:
    src = SOURCE
    old = w.long_ago
    for j, (sid, _, c, _) in enumerate(w.schools):
        cid, did = w.communities[c], w.districts[w.school_district[j]]
        yield LocatedIn(id=f"located_in:{sid}:{cid}", from_id=sid, to_id=cid, valid_from=old, source=src)
        yield PartOf(id=f"part_of:{sid}:{did}", from_id=sid, to_id=did, valid_from=old, source=src)
    for p, (pid, _) in enumerate(w.partners):
        for g in w.partner_programs[p]:
            gid = w.programs[g][0]
            yield Offers(id=f"offers:{pid}:{gid}", from_id=pid, to_id=gid, valid_from=old, source=src)
            for c in w.program_areas[g]:
                cid = w.communities[c]
                yield ServesArea(id=f"serves_area:{gid}:{cid}", from_id=gid, to_id=cid, valid_from=old, source=src)
        if w.partner_sharing[p]:
            at = w.start - timedelta(days=rng.randint(10, 700))
            yield Signed(id=f"signed:{pid}:{DATA_SHARING_ID}", from_id=pid, to_id=DATA_SHARING_ID, valid_from=at, version=1,
                         source=src)
    now = w.now
    for k, pid in enumerate(w.providers):
        since = w.provider_since[k]
        ptn = w.partners[w.provider_partner[k]][0]
        yield EmployedBy(id=f"employed_by:{pid}:{ptn}", from_id=pid, to_id=ptn, valid_from=since, source=src)
        for c in w.provider_communities[k]:
            cid = w.communities[c]
            yield WorksIn(id=f"works_in:{pid}:{cid}", from_id=pid, to_id=cid, valid_from=since, source=src)
        compliant = k < BIG_STUDENT_PROVIDERS  # the benchmark's big provider and big student's providers pass
        # Training: ~1% never, ~2% expired, the rest current (valid two years).
        r = rng.random()
        if compliant or r >= 0.01:
            done = now - timedelta(days=rng.randint(760, 1000) if (not compliant and r < 0.03) else rng.randint(10, 700))
            yield Trained(id=f"trained:{pid}:{COURSE_ID}:{done:%Y%m%d}", from_id=pid, to_id=COURSE_ID,
                          valid_from=done, valid_to=done + timedelta(days=730), source=src)
        # Confidentiality agreement: most on v2; a few still on v1, a few expired, ~1% none.
        r = rng.random()
        if compliant or r >= 0.01:
            signed = now - timedelta(days=rng.randint(10, 500))
            v = 1 if (not compliant and r < 0.04) else 2
            ends = signed + timedelta(days=365 * 3)
            if not compliant and 0.04 <= r < 0.06:
                signed, ends = now - timedelta(days=900), now - timedelta(days=rng.randint(5, 200))
            aid = CONFIDENTIALITY_IDS[v - 1]
            yield Signed(id=f"signed:{pid}:{aid}", from_id=pid, to_id=aid, valid_from=signed, valid_to=ends, version=v,
                         source=src)
    for t, tid in enumerate(w.teams):
        for k in w.team_members[t]:
            pid = w.providers[k]
            yield MemberOf(id=f"member_of:{pid}:{tid}", from_id=pid, to_id=tid, valid_from=w.start, source=src)
        for parent in w.team_parents[t]:
            ptid = w.teams[parent]
            yield MemberOf(id=f"member_of:{tid}:{ptid}", from_id=tid, to_id=ptid, valid_from=w.start, source=src)


# ---------------------------------------------------------------------------- students


@dataclass(slots=True)
class _Guardian:
    id: str
    relationship: GuardianRelationship
    rights: FerpaRights
    new: bool  # first seen with this student (a sibling reuses it)


@dataclass(slots=True)
class _Service:
    provider: int  # provider index, or -1 - team index
    program: int
    status: ServiceStatus
    since: datetime
    until: datetime | None
    needed: tuple[str, ...]


@dataclass(slots=True)
class _ConsentPlan:
    id: str
    signer: str
    recipients: tuple[str, ...]
    status: ConsentStatus
    kind: ConsentKind
    signed_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    method: str


@dataclass(slots=True)
class _Plan:
    id: str
    birth: date
    postsecondary: bool
    emancipated: bool
    unaccompanied: bool
    schools: list[tuple[int, datetime, datetime | None]]
    lives_in: int | None
    guardians: list[_Guardian]
    order: tuple[str, str, datetime, datetime | None] | None  # order id, guardian id, from, to
    services: list[_Service]
    consent: _ConsentPlan | None


@dataclass(slots=True)
class _Planner:
    """Plans students one by one; the same seed gives the same plans on every pass."""

    w: _World
    seed: int
    big_student: str = ""
    big_provider_count: int = 0
    served: int = 0
    consented: int = 0
    transfers: int = 0

    def plans(self) -> Iterator[_Plan]:
        w = self.w
        rng = random.Random(f"{self.seed}:students")
        n = w.n
        sw, gw = _width(n, 6), _width(3 * n, 6)
        n_guardians = n_consents = n_orders = 0
        prev: list[_Guardian] = []
        now, start = w.now, w.start
        today = now.date()
        year_days = (now - start).days
        big = set(w.big_communities)
        eligible_big = sum(len(w.schools_by_community[c]) for c in big) / max(1, len(w.schools))
        big_count = 0
        big_student_done = False
        self.served = self.consented = self.transfers = 0
        for i in range(1, n + 1):
            sid = f"stu-{i:0{sw}d}"
            age_days = rng.randint(5 * 365 + 2, 20 * 365 - 3)
            birth = today - timedelta(days=age_days)
            age = age_days // 365
            older = age >= 16
            post = older and rng.random() < 0.04
            eman = older and rng.random() < 0.0075
            unacc = age >= 14 and rng.random() < 0.001
            # School by age (8% at a K-12 charter), mid-year transfers (~3%).
            level = 3 if rng.random() < 0.08 else next(k for k, (lo, hi) in enumerate(_LEVEL_AGES) if lo <= age <= hi)
            pool = w.schools_by_level[level] or w.schools_by_level[3] or list(range(len(w.schools)))
            if not pool:
                pool = list(range(len(w.schools)))
            school = rng.choice(pool)
            schools: list[tuple[int, datetime, datetime | None]] = [(school, start, None)]
            if rng.random() < 0.03 and len(w.schools) > 1:
                moved = _LOCAL.start(_LOCAL.day_of(start) + timedelta(days=rng.randint(30, max(31, year_days - 30))))
                here = w.schools[school][2]
                same = [j for j in w.schools_by_community[here] if j != school]
                if same and rng.random() < 0.6:
                    new = rng.choice(same)
                else:
                    new = rng.choice([j for j in range(len(w.schools)) if j != school] if len(w.schools) < 50 else pool)
                    if new == school:
                        new = (school + 1) % len(w.schools)
                schools = [(school, start, moved), (new, moved, None)]
                self.transfers += 1
            community = w.schools[schools[-1][0]][2]
            lives = None
            if rng.random() < 0.05:
                lives = community if rng.random() < 0.8 else rng.randrange(N_COMMUNITIES)
            # Guardians: 1 (40%), 2 (50%), 3 (10%); 10% are siblings sharing the last family.
            if prev and rng.random() < 0.10:
                guardians = [_Guardian(g.id, g.relationship, g.rights, False) for g in prev]
            else:
                guardians = []
                count = 1 if (r := rng.random()) < 0.4 else (2 if r < 0.9 else 3)
                for k in range(count):
                    n_guardians += 1
                    if k < 2:
                        q = rng.random()
                        rel = (GuardianRelationship.PARENT if q < 0.9 else
                               GuardianRelationship.LEGAL_GUARDIAN if q < 0.97 else GuardianRelationship.ACTING_AS_PARENT)
                    else:
                        rel = rng.choice((GuardianRelationship.RELATIVE, GuardianRelationship.EMERGENCY_CONTACT,
                                          GuardianRelationship.AUTHORIZED_AGENT))
                    rights = FerpaRights.UNVERIFIED if rng.random() < 0.05 else FerpaRights.FULL
                    guardians.append(_Guardian(f"gdn-{n_guardians:0{gw}d}", rel, rights, True))
            prev = guardians
            order = None
            if len(guardians) >= 2 and guardians[1].new and rng.random() < 0.004:
                n_orders += 1
                o_day = _LOCAL.day_of(start) - timedelta(days=rng.randint(0, 365))
                o_from = _LOCAL.start(o_day)
                o_to = None if rng.random() < 0.7 else _LOCAL.start(o_day + timedelta(days=rng.randint(200, 700)))
                order = (f"ord-{n_orders:05d}", guardians[1].id, o_from, o_to)
            # Services (~12%), the big provider's caseload, the big student's many providers.
            services: list[_Service] = []
            is_big = False
            if rng.random() < SERVED_SHARE:
                if not big_student_done and community == w.big_communities[0]:
                    big_student_done = is_big = True
                    self.big_student = sid
                    chosen = [*range(4, BIG_STUDENT_PROVIDERS), -1]  # 6 directly, 4 more through team-1
                else:
                    chosen = []
                    here_p = w.providers_by_community[community] or list(range(len(w.providers)))
                    here_t = w.teams_by_community[community]
                    for _ in range(1 if (r := rng.random()) < 0.8 else (2 if r < 0.95 else 3)):
                        # ~12% of services come from a care team of the student's community
                        pick = -1 - rng.choice(here_t) if here_t and rng.random() < 0.12 else rng.choice(here_p)
                        if pick not in chosen:
                            chosen.append(pick)
                    if community in big and 0 not in chosen and big_count < BIG_PROVIDER_STUDENTS:
                        expected_left = (n - i + 1) * SERVED_SHARE * eligible_big
                        if rng.random() < (BIG_PROVIDER_STUDENTS - big_count) / max(1.0, expected_left):
                            chosen.insert(0, 0)
                if 0 in chosen:
                    big_count += 1
                for pick in chosen:
                    # a provider serves in one of its partner's programs; a team in its own
                    program = rng.choice(w.partner_programs[w.provider_partner[pick]]) if pick >= 0 else w.team_program[-1 - pick]
                    q = rng.random()
                    status = (ServiceStatus.ACTIVE if q < 0.75 else ServiceStatus.REFERRED if q < 0.85 else
                              ServiceStatus.PAUSED if q < 0.92 else ServiceStatus.ENDED)
                    if pick == 0 or is_big:
                        status = ServiceStatus.ACTIVE
                    since = start + timedelta(days=rng.randint(0, max(1, year_days - 30)), hours=rng.randint(0, 9))
                    until = None
                    if status is ServiceStatus.ENDED:
                        until = since + timedelta(days=rng.randint(14, max(15, (now - since).days - 1)))
                    needed = tuple(sorted(set(rng.sample(_NEED_POOL, rng.randint(1, 4)))))
                    services.append(_Service(pick, program, status, since, until, needed))
                self.served += 1
            # Consent: most served students (to the partner or program serving them); ~22% of the rest.
            consent = None
            if (services and rng.random() < 0.88) or (not services and rng.random() < 0.225):
                n_consents += 1
                consent = self._consent(rng, f"cns-{n_consents:06d}", sid, birth, guardians, services)
                self.consented += 1
            yield _Plan(sid, birth, post, eman, unacc, schools, lives, guardians, order, services, consent)
        self.big_provider_count = big_count

    def _consent(self, rng: random.Random, cid: str, sid: str, birth: date, guardians: list[_Guardian],
                 services: list[_Service]) -> _ConsentPlan:
        w = self.w
        start, now = w.start, w.now
        if services:
            first = min(s.since for s in services)
            signed = first - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
            recipients: list[str] = []
            for s in services:
                partner = w.programs[s.program][2]
                rec = w.partners[partner][0] if rng.random() < 0.6 else w.programs[s.program][0]
                if s.provider >= 0 and rng.random() < 0.03:
                    rec = w.providers[s.provider]
                if rec not in recipients:
                    recipients.append(rec)
            if sid == self.big_student:
                recipients = sorted({w.partners[w.provider_partner[k]][0] for k in range(BIG_STUDENT_PROVIDERS)})
            needed = {c for s in services for c in s.needed}
        else:
            span = (now - start).days + 50
            signed = start - timedelta(days=60) + timedelta(days=rng.randint(0, span), hours=rng.randint(0, 10))
            g = rng.randrange(len(w.programs))
            recipients = [w.partners[w.programs[g][2]][0] if rng.random() < 0.6 else w.programs[g][0]]
            needed = set()
        # The signer: the student once 18 at signing, else a guardian with authority (mostly).
        age_at = signed.date().year - birth.year - ((signed.date().month, signed.date().day) < (birth.month, birth.day))
        able = [g for g in guardians if g.relationship in _GUARDED and g.rights is FerpaRights.FULL]
        if age_at >= 18:
            signer = sid
        elif able and rng.random() < 0.97:
            signer = rng.choice(able).id
        else:
            signer = rng.choice(guardians).id
        r = rng.random()
        expires = None if r < 0.5 else signed + timedelta(days=365) if r < 0.85 else _LOCAL.start(
            date(signed.year + (signed.month >= 7), 7, 1))
        revoked = None
        if rng.random() < 0.03:
            revoked = min(now - timedelta(hours=1), signed + timedelta(days=rng.randint(1, max(2, (now - signed).days))))
        q = rng.random()
        status = (ConsentStatus.DRAFT if q < 0.015 else ConsentStatus.INACTIVE if q < 0.025 else
                  ConsentStatus.ENTERED_IN_ERROR if q < 0.028 else ConsentStatus.ACTIVE)
        kind = ConsentKind.DENY if rng.random() < 0.02 else ConsentKind.PERMIT
        if sid == self.big_student:
            expires, revoked, status, kind = None, None, ConsentStatus.ACTIVE, ConsentKind.PERMIT
        purposes = {"academic_support" if rng.random() < 0.6 else rng.choice(PURPOSES)}
        if rng.random() < 0.4:
            purposes.add(rng.choice(PURPOSES))
        target = max(rng.randint(2, 5), len(needed))
        cats = set(needed)
        while len(cats) < target:
            cats.add(rng.choice(_ALL_CATEGORIES))
        method = "electronic" if rng.random() < 0.7 else "wet_ink"
        return _ConsentPlan(cid, signer, tuple(recipients), status, kind, signed, expires, revoked,
                            tuple(sorted(purposes)), tuple(sorted(cats)), method)


def _student_nodes(planner: _Planner, make: Make) -> Iterator[Node]:
    for p in planner.plans():
        yield make(Student, id=p.id, birth_date=p.birth, postsecondary_enrolled=p.postsecondary, emancipated=p.emancipated,
                      unaccompanied_youth=p.unaccompanied)
        for g in p.guardians:
            if g.new:
                yield make(Guardian, id=g.id)
        if p.order is not None:
            yield make(LegalOrder, id=p.order[0], description="Court order restricting a parent's access (synthetic)")
        c = p.consent
        if c is not None:
            yield make(Consent, id=c.id, status=c.status, consent_kind=c.kind, signed_at=c.signed_at, expires_at=c.expires_at,
                          revoked_at=c.revoked_at, purposes=frozenset(c.purposes), categories=frozenset(c.categories),
                          signature_method=c.method)


def _student_edges(planner: _Planner, make: Make) -> Iterator[Edge]:
    w = planner.w
    src = SOURCE
    for p in planner.plans():
        sid = p.id
        for j, since, until in p.schools:
            sch = w.schools[j][0]
            yield make(Attends, id=f"attends:{sid}:{sch}:{since:%Y%m%d}", from_id=sid, to_id=sch, valid_from=since,
                          valid_to=until, source=src)
        if p.lives_in is not None:
            cid = w.communities[p.lives_in]
            yield make(LivesIn, id=f"lives_in:{sid}:{cid}", from_id=sid, to_id=cid, valid_from=w.start, source=src)
        for g in p.guardians:
            yield make(GuardianOf, id=f"guardian_of:{g.id}:{sid}", from_id=g.id, to_id=sid, valid_from=w.start,
                             relationship=g.relationship, ferpa_rights=g.rights, source=src)
        if p.order is not None:
            oid, gid, o_from, o_to = p.order
            yield make(Restricts, id=f"restricts:{oid}:{gid}", from_id=oid, to_id=gid, valid_from=o_from, valid_to=o_to,
                       source=src)
            yield make(About, id=f"about:{oid}:{sid}", from_id=oid, to_id=sid, valid_from=o_from, source=src)
        for s in p.services:
            who = w.providers[s.provider] if s.provider >= 0 else w.teams[-1 - s.provider]
            yield make(Serves, id=f"serves:{who}:{sid}", from_id=who, to_id=sid, valid_from=s.since, valid_to=s.until,
                         status=s.status, program=w.programs[s.program][0], categories_needed=frozenset(s.needed),
                         source=src)
        c = p.consent
        if c is not None:
            at = c.signed_at
            yield make(About, id=f"about:{c.id}:{sid}", from_id=c.id, to_id=sid, valid_from=at, source=src)
            yield make(GivenBy, id=f"given_by:{c.id}:{c.signer}", from_id=c.id, to_id=c.signer, valid_from=at, source=src)
            for r in c.recipients:
                yield make(Permits, id=f"permits:{c.id}:{r}", from_id=c.id, to_id=r, valid_from=at, source=src)


def _write_in_two_processes(
    out_dir: Path, nodes: Callable[[], Iterator[Node]], edges: Callable[[], Iterator[Edge]], fmt: Format
) -> dict[str, int]:
    """Node files from a forked child (into a hidden folder, then moved), edge files from here."""
    BundleWriter(out_dir, fmt).close()  # refuses a directory that already holds a bundle
    part = out_dir / ".nodes.partial"  # a dot folder: never read as part of the bundle
    shutil.rmtree(part, ignore_errors=True)
    ctx = multiprocessing.get_context("fork")  # the child inherits the world; nothing is pickled but counts
    results: Any = ctx.SimpleQueue()

    def child() -> None:
        results.put(write_bundle(part, nodes(), (), fmt=fmt))

    proc = ctx.Process(target=child, name="synthetic-nodes")
    proc.start()
    try:
        edge_counts = write_bundle(out_dir, (), edges(), fmt=fmt)
    finally:
        proc.join()
    if proc.exitcode != 0:
        shutil.rmtree(part, ignore_errors=True)
        raise RuntimeError(f"writing the node files failed in the child process (exit code {proc.exitcode})")
    node_counts: dict[str, int] = results.get()
    for f in part.iterdir():
        os.replace(f, out_dir / f.name)
    part.rmdir()
    return dict(sorted({**node_counts, **edge_counts}.items()))


def generate(
    out_dir: Path,
    *,
    students: int,
    seed: int,
    start: datetime = DEFAULT_START,
    now: datetime = DEFAULT_NOW,
    fmt: Format = "jsonl",
    validate: bool = False,
    workers: int = 1,
) -> dict[str, int | str]:
    """Write a synthetic partnership of `students` students as a bundle in `out_dir`.

    Deterministic: the same arguments give byte-identical files. Streams through
    `loaders.bundle.write_bundle`; memory does not grow with `students`.

    Parameters
    ----------
    out_dir : Path
        Bundle directory (created; must hold no bundle file yet).
    students : int
        Number of students, >= 1.
    seed : int
        Random seed.
    start, now : datetime
        Aware. The school year starts at `start` (enrolments, teams); `now` is the
        moment the data describes (nothing is dated after it; expiries may be).
    fmt : {"jsonl", "csv"}
    validate : bool
        Build per-student records through their validators (slower; the files are the
        same). Off by default: the reader validates every record anyway.
    workers : int
        2 writes the node files in a forked child process while this one writes the
        edge files (each pass plans the students itself, so the files are the same as
        with 1); about halves the wall time on an idle two-core machine. POSIX only.

    Returns
    -------
    dict
        Records written per kind (``"Student"``, ``"SERVES"``, ...), plus
        ``served_students``, ``consented_students``, ``transfers``,
        ``big_provider_students`` (int) and the ids ``big_provider`` (a provider serving
        ~200 students) and ``big_student`` (a student with ~10 providers).

    Raises
    ------
    ValueError
        `students` < 1 or `now` not after `start`.
    NaiveDatetimeError
        `start` or `now` is naive.
    FileExistsError
        `out_dir` already holds bundle files.
    RuntimeError
        With ``workers=2``: the child process writing the node files failed.
    """
    if students < 1:
        raise ValueError("students must be at least 1")
    start, now = ensure_aware(start), ensure_aware(now)
    if now <= start + timedelta(days=60):
        raise ValueError("now must be at least 60 days after start")
    world = _build_world(random.Random(f"{seed}:world"), students, start, now)
    make: Make = _validated if validate else _trusted
    nodes_planner = _Planner(world, seed)
    edges_planner = _Planner(world, seed)

    def nodes() -> Iterator[Node]:
        yield from _world_nodes(world)
        yield from _student_nodes(nodes_planner, make)

    def edges() -> Iterator[Edge]:
        yield from _world_edges(random.Random(f"{seed}:world-edges"), world)
        yield from _student_edges(edges_planner, make)

    out_dir = Path(out_dir)
    written = (
        _write_in_two_processes(out_dir, nodes, edges, fmt) if workers > 1 else write_bundle(out_dir, nodes(), edges(), fmt=fmt)
    )
    counts: dict[str, int | str] = dict(written)
    counts.update(
        served_students=edges_planner.served,
        consented_students=edges_planner.consented,
        transfers=edges_planner.transfers,
        big_provider_students=edges_planner.big_provider_count,
        big_provider=world.providers[0],
        big_student=edges_planner.big_student,
    )
    return counts
