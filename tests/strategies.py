"""Hypothesis strategies: random small partnerships with histories.

Teams nest and form cycles, consents are revoked and expire, services start, pause and
end, trainings expire, students transfer between schools in different communities.
Times are drawn from a small grid of instants so that boundaries are hit exactly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.model import (
    About,
    Agreement,
    Attends,
    Community,
    Consent,
    ConsentKind,
    ConsentStatus,
    Course,
    EmployedBy,
    FerpaRights,
    GivenBy,
    Guardian,
    GuardianOf,
    GuardianRelationship,
    LocatedIn,
    MemberOf,
    Partner,
    Permits,
    Program,
    Provider,
    School,
    Serves,
    ServiceStatus,
    Signed,
    Student,
    Team,
    Trained,
    WorksIn,
)

BASE = datetime(2025, 9, 1, 15, 0, tzinfo=UTC)
GRID = [BASE + timedelta(days=10 * i) for i in range(12)]
"""Instants changes happen at; checks are asked at these and one microsecond before."""

CATS = ["attendance", "grades", "health"]


def instants() -> list[datetime]:
    """Times to ask at: every grid point and the microsecond before it."""
    return sorted({t for g in GRID for t in (g, g - timedelta(microseconds=1))})


@st.composite
def partnerships(draw: st.DrawFn, max_providers: int = 4, max_students: int = 4) -> list[Change]:
    """A batch of changes building one random partnership (valid: the store accepts it)."""
    changes: list[Change] = []
    n_prov = draw(st.integers(1, max_providers))
    n_stud = draw(st.integers(1, max_students))
    n_team = draw(st.integers(0, 3))
    when = st.sampled_from(GRID)
    maybe_end = st.one_of(st.none(), when)

    def interval() -> tuple[datetime, datetime | None]:
        a = draw(when)
        b = draw(maybe_end)
        return (a, b) if b is None or b >= a else (b, a)

    communities = ["c0", "c1"]
    for c in communities:
        changes.append(PutNode(Community(id=c, name=c)))
    schools = {"sch0": "c0", "sch1": "c1"}
    for s, c in schools.items():
        changes.append(PutNode(School(id=s, name=s)))
        changes.append(PutEdge(LocatedIn(id=f"loc-{s}", from_id=s, to_id=c, valid_from=GRID[0])))
    changes += [
        PutNode(Partner(id="ptn0", name="P0")),
        PutNode(Program(id="prg0", name="Prog")),
        PutNode(Course(id="crs-ferpa_basics")),
        PutNode(Agreement(id="agr-v2", agreement_kind="data_confidentiality", version=2)),
        PutNode(Agreement(id="agr-v1", agreement_kind="data_confidentiality", version=1)),
        PutNode(Agreement(id="agr-share", agreement_kind="data_sharing", version=1)),
    ]
    if draw(st.booleans()) or True:
        changes.append(
            PutEdge(Signed(id="sg-ptn0", from_id="ptn0", to_id="agr-share", valid_from=GRID[0], valid_to=draw(maybe_end)))
        )
    teams = [f"team{i}" for i in range(n_team)]
    for tm in teams:
        changes.append(PutNode(Team(id=tm, name=tm)))
    providers = [f"prv{i}" for i in range(n_prov)]
    for p in providers:
        changes.append(PutNode(Provider(id=p, name=p)))
        a, b = interval()
        changes.append(PutEdge(EmployedBy(id=f"emp-{p}", from_id=p, to_id="ptn0", valid_from=GRID[0], valid_to=b)))
        changes.append(PutEdge(WorksIn(id=f"w-{p}", from_id=p, to_id=draw(st.sampled_from(communities)), valid_from=GRID[0])))
        if draw(st.integers(0, 9)) > 0:
            a, b = interval()
            changes.append(PutEdge(Trained(id=f"tr-{p}", from_id=p, to_id="crs-ferpa_basics", valid_from=a, valid_to=b)))
        if draw(st.integers(0, 9)) > 0:
            changes.append(
                PutEdge(
                    Signed(
                        id=f"sg-{p}", from_id=p, to_id=draw(st.sampled_from(["agr-v2", "agr-v2", "agr-v1"])), valid_from=GRID[0]
                    )
                )
            )
    members = providers + teams
    for i, m in enumerate(draw(st.lists(st.tuples(st.sampled_from(members), st.sampled_from(teams or ["-"])), max_size=5))):
        src, dst = m
        if dst == "-" or src == dst:
            continue
        a, b = interval()
        changes.append(PutEdge(MemberOf(id=f"mem{i}", from_id=src, to_id=dst, valid_from=a, valid_to=b)))
    students = [f"stu{i}" for i in range(n_stud)]
    for s in students:
        birth = draw(st.sampled_from([date(2012, 5, 1), date(2007, 10, 1), date(2008, 2, 29)]))
        changes.append(PutNode(Student(id=s, birth_date=birth, postsecondary_enrolled=draw(st.integers(0, 19)) == 0)))
        changes.append(PutNode(Guardian(id=f"gdn-{s}")))
        rights = draw(st.sampled_from([FerpaRights.FULL, FerpaRights.FULL, FerpaRights.UNVERIFIED]))
        rel = draw(
            st.sampled_from([GuardianRelationship.PARENT, GuardianRelationship.PARENT, GuardianRelationship.EMERGENCY_CONTACT])
        )
        changes.append(
            PutEdge(
                GuardianOf(id=f"g-{s}", from_id=f"gdn-{s}", to_id=s, valid_from=GRID[0], relationship=rel, ferpa_rights=rights)
            )
        )
        first = draw(st.sampled_from(list(schools)))
        transfer = draw(maybe_end)
        changes.append(PutEdge(Attends(id=f"at-{s}-0", from_id=s, to_id=first, valid_from=GRID[0])))
        if transfer is not None and transfer > GRID[0]:
            changes.append(CloseEdge(f"at-{s}-0", transfer))
            other = "sch1" if first == "sch0" else "sch0"
            changes.append(PutEdge(Attends(id=f"at-{s}-1", from_id=s, to_id=other, valid_from=transfer)))
        for k in range(draw(st.integers(0, 2))):
            cid = f"cns-{s}-{k}"
            signed = draw(when)
            revoked = draw(st.one_of(st.none(), when))
            changes.append(
                PutNode(
                    Consent(
                        id=cid,
                        signed_at=signed,
                        expires_at=draw(maybe_end),
                        revoked_at=revoked if revoked is None or revoked >= signed else None,
                        status=draw(st.sampled_from([ConsentStatus.ACTIVE] * 4 + [ConsentStatus.DRAFT])),
                        consent_kind=draw(st.sampled_from([ConsentKind.PERMIT] * 5 + [ConsentKind.DENY])),
                        purposes=frozenset({"academic_support"}),
                        categories=frozenset(draw(st.lists(st.sampled_from(CATS), min_size=1, max_size=3))),
                    )
                )
            )
            changes.append(PutEdge(About(id=f"ab-{cid}", from_id=cid, to_id=s, valid_from=signed)))
            changes.append(PutEdge(GivenBy(id=f"gb-{cid}", from_id=cid, to_id=f"gdn-{s}", valid_from=signed)))
            recipient = draw(st.sampled_from(["ptn0", "prg0", *providers]))
            changes.append(PutEdge(Permits(id=f"pm-{cid}", from_id=cid, to_id=recipient, valid_from=signed)))
    for i, (src, s) in enumerate(draw(st.lists(st.tuples(st.sampled_from(members), st.sampled_from(students)), max_size=6))):
        a, b = interval()
        status = draw(st.sampled_from([ServiceStatus.ACTIVE] * 3 + [ServiceStatus.PAUSED, ServiceStatus.REFERRED]))
        changes.append(
            PutEdge(
                Serves(
                    id=f"sv{i}",
                    from_id=src,
                    to_id=s,
                    valid_from=a,
                    valid_to=b,
                    status=status,
                    program="prg0",
                    categories_needed=frozenset(draw(st.lists(st.sampled_from(CATS), min_size=1, max_size=3))),
                )
            )
        )
    return changes
