"""Issue 11, properties of incremental loads (hypothesis, embedded store, few examples).

World: `tests.world.World.base()` without its own ATTENDS, plus students ``stu-<i>`` each with
a consent signed by gia (verified) and ana's service; a OneRoster roster (state A) says who
attends lincoln (enrollments.csv) and which roster guardians ``gdn-<j>`` each student has.
The generated change (A -> B) ends some enrolments and deletes some guardians at T, a local
midnight, so a re-enrolment beginning that day starts exactly at T.

1. A delta followed by its inverse leaves every check and both lookups unchanged, at every
   instant probed (before, at and after T).
2. Bulk A, then the delta A -> B, answers as a bulk load of B alone, at every instant from T.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.decision import CheckRequest
from graph.engine import Engine
from graph.model import About, Consent, GivenBy, GuardianOf, Permits, Serves, Student
from graph.policy import DEFAULT_POLICY
from graph.stores.memory import MemoryStore
from loaders import oneroster
from loaders.importer import import_result
from tests.world import T0, World

T = datetime(2025, 10, 1, 6, 0, tzinfo=UTC)  # 2025-10-01 00:00 in America/Denver
DAY = "2025-10-01"
A_MODIFIED = "2025-08-01T00:00:00Z"
T_MODIFIED = "2025-10-01T06:00:00Z"
INSTANTS = (T0 + timedelta(days=5), T - timedelta(seconds=1), T, T + timedelta(seconds=1), T + timedelta(days=60))
USERS = ("sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,"
         "middleName,identifier,email,sms,phone,agentSourcedIds,grades,password")
ENROLLMENTS = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate"


@dataclass(frozen=True)
class Roster:
    """Who attends lincoln, and each student's roster guardians."""

    students: int
    enrolled: frozenset[int]
    links: frozenset[tuple[int, int]]  # (guardian j, student i)
    guardians: frozenset[int]


@st.composite
def changes(draw: st.DrawFn) -> tuple[Roster, Roster]:
    n = draw(st.integers(1, 3))
    g = draw(st.integers(1, 3))
    links = frozenset((j, i) for i in range(n) for j in draw(st.sets(st.integers(0, g - 1), min_size=1)))
    a = Roster(n, frozenset(range(n)), links, frozenset(range(g)))
    unenrolled = draw(st.sets(st.integers(0, n - 1)))
    deleted = draw(st.sets(st.integers(0, g - 1)))
    kept = frozenset(range(g)) - deleted
    b = Roster(n, a.enrolled - unenrolled, frozenset((j, i) for j, i in links if j in kept), kept)
    return a, b


def world(n: int) -> World:
    w = World.base().without("at1")
    for i in range(n):
        s = f"stu-{i}"
        w = w.node(Student(id=s)).node(Consent(id=f"cns-{s}", signed_at=T0, purposes=frozenset({"academic_support"}),
                                               categories=frozenset({"attendance"})))
        for e in (
            GuardianOf(id=f"g-{s}", from_id="gia", to_id=s, valid_from=T0),
            About(id=f"ab-{s}", from_id=f"cns-{s}", to_id=s, valid_from=T0),
            GivenBy(id=f"gb-{s}", from_id=f"cns-{s}", to_id="gia", valid_from=T0),
            Permits(id=f"pm-{s}", from_id=f"cns-{s}", to_id="ptn-hope", valid_from=T0),
            Serves(id=f"sv-{s}", from_id="ana", to_id=s, valid_from=T0, program="prg-tutor",
                   categories_needed=frozenset({"attendance"})),
        ):
            w = w.edge(e)
    return w


def _agents(r: Roster, user: str) -> str:
    if user.startswith("stu-"):
        return ",".join(f"gdn-{j}" for j, i in sorted(r.links) if f"stu-{i}" == user)
    return ",".join(f"stu-{i}" for j, i in sorted(r.links) if f"gdn-{j}" == user)


def _user(r: Roster, user: str, status: str, modified: str) -> str:
    if user.startswith("stu-"):
        org = "lincoln" if int(user[4:]) in r.enrolled else "dist-1"
        return f'{user},{status},{modified},true,{org},student,x,,x,x,,x,x,,,"{_agents(r, user)}",03,'
    return f'{user},{status},{modified},true,lincoln,parent,x,,x,x,,,x,,x,"{_agents(r, user)}",,'


def write(pkg: Path, modes: dict[str, str], users: Sequence[str], enrollments: Sequence[str], orgs: bool) -> Path:
    pkg.mkdir(parents=True)
    manifest = ["propertyName,value", "manifest.version,1.0", "oneroster.version,1.1"]
    manifest += [f"file.{name},{modes.get(name, 'absent')}" for name in ("orgs", "users", "enrollments", "demographics")]
    (pkg / "manifest.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    if orgs:
        (pkg / "orgs.csv").write_text(
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
            f"dist-1,active,{A_MODIFIED},District,district,x,\nlincoln,active,{A_MODIFIED},Lincoln Elementary,school,x,dist-1\n",
            encoding="utf-8")
    (pkg / "users.csv").write_text("\n".join([USERS, *users]) + "\n", encoding="utf-8")
    (pkg / "enrollments.csv").write_text("\n".join([ENROLLMENTS, *enrollments]) + "\n", encoding="utf-8")
    return pkg


def bulk(r: Roster, pkg: Path, modified: dict[str, str]) -> Path:
    users = [f"stu-{i}" for i in range(r.students)] + [f"gdn-{j}" for j in sorted(r.guardians)]
    rows = [_user(r, u, "active", modified.get(u, A_MODIFIED)) for u in users]
    enrol = [f"enr-{i},active,{A_MODIFIED},cls-1,lincoln,stu-{i},student,false,2025-08-18," for i in sorted(r.enrolled)]
    return write(pkg, {"orgs": "bulk", "users": "bulk", "enrollments": "bulk"}, rows, enrol, orgs=True)


def delta(a: Roster, b: Roster, pkg: Path) -> Path:
    """The rows that changed from `a` to `b`, all modified at T; an enrolment back begins on T's day."""
    users = [_user(b, s, "active", T_MODIFIED) for s in (f"stu-{i}" for i in range(a.students))
             if _user(a, s, "", "") != _user(b, s, "", "")]
    users += [_user(a, f"gdn-{j}", "tobedeleted", T_MODIFIED) for j in sorted(a.guardians - b.guardians)]
    users += [_user(b, f"gdn-{j}", "active", T_MODIFIED) for j in sorted(b.guardians - a.guardians)]
    enrol = [f"enr-{i},tobedeleted,{T_MODIFIED},cls-1,lincoln,stu-{i},student,false,2025-08-18," for i in sorted(a.enrolled - b.enrolled)]
    enrol += [f"enr-{i}b,active,{T_MODIFIED},cls-1,lincoln,stu-{i},student,false,{DAY}," for i in sorted(b.enrolled - a.enrolled)]
    return write(pkg, {"users": "delta", "enrollments": "delta"}, users, enrol, orgs=False)


def answers(store: MemoryStore, students: int, instants: Sequence[datetime]) -> list[object]:
    """Every check (outcome, reasons, released) and both lookups, at each instant."""
    engine = Engine(store, DEFAULT_POLICY)  # no record of decisions: a test of answers only
    out: list[object] = []
    for at, i in itertools.product(instants, range(students)):
        s = f"stu-{i}"
        d = engine.decide_only(CheckRequest("ana", s, at, "academic_support"))
        out.append((at, s, d.outcome, sorted(r.code for r in d.reasons), sorted(d.released)))
        out.append((at, s, [a.provider_id for a in engine.providers_with_access(s, at).items]))
    for at in instants:
        out.append((at, [a.student_id for a in engine.accessible_students("ana", at).items]))
    return out


def fresh(root: Path, name: str, n: int) -> MemoryStore:
    (root / name).mkdir()
    store = MemoryStore(root / name / "g.db")
    store.apply(world(n).changes())
    return store


def apply(store: MemoryStore, pkg: Path) -> None:
    import_result(store, oneroster.read([pkg]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes())
def test_delta_then_its_inverse_answers_as_before(ab: tuple[Roster, Roster]) -> None:
    a, b = ab
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = fresh(root, "s", a.students)
        apply(store, bulk(a, root / "bulk-a", {}))
        before = answers(store, a.students, INSTANTS)
        apply(store, delta(a, b, root / "a-to-b"))
        apply(store, delta(b, a, root / "b-to-a"))
        assert answers(store, a.students, INSTANTS) == before
        store.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes())
def test_bulk_then_delta_answers_as_bulk_of_the_final_state(ab: tuple[Roster, Roster]) -> None:
    a, b = ab
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        incremental = fresh(root, "inc", a.students)
        apply(incremental, bulk(a, root / "bulk-a", {}))
        apply(incremental, delta(a, b, root / "a-to-b"))
        direct = fresh(root, "full", a.students)
        # In B's own bulk the rows that changed carry T as their dateLastModified.
        changed = {f"stu-{i}": T_MODIFIED for i in range(a.students) if _user(a, f"stu-{i}", "", "") != _user(b, f"stu-{i}", "", "")}
        apply(direct, bulk(b, root / "bulk-b", changed))
        later = [at for at in INSTANTS if at >= T]
        assert answers(incremental, a.students, later) == answers(direct, a.students, later)
        incremental.close()
        direct.close()
