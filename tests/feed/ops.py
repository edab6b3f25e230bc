"""Random write operations for feed tests, through the write commands (the one door).

the tests/world.py base (ana of ptn-hope serves sam; cns-1: gia lets ptn-hope see
attendance and grades), plus: bo (ptn-hope) and cy (ptn-other), trained and signed,
both in eastside; sue at lincoln with guardian gus (verified); ptn-other's terms; a
westside school; team-a (bo is a member) serving sue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.commands.change_service_status import ChangeServiceStatus, change_service_status
from graph.commands.end_service import EndService, end_service
from graph.commands.record_consent import RecordConsent, record_consent
from graph.commands.record_training import RecordTraining, record_training
from graph.commands.revoke_consent import RevokeConsent, revoke_consent
from graph.commands.start_service import StartService, start_service
from graph.commands.transfer_student import TransferStudent, transfer_student
from graph.errors import ChangeRejected
from graph.model import (
    Attends,
    Community,
    EdgeKind,
    EmployedBy,
    FerpaRights,
    Guardian,
    GuardianOf,
    LocatedIn,
    MemberOf,
    NodeKind,
    Partner,
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
from graph.stores.base import GraphStore
from tests.world import T0, World

PROVIDERS = ["ana", "bo", "cy"]
STUDENTS = ["sam", "sue"]
PARTNERS = ["ptn-hope", "ptn-other"]
CATS = ["attendance", "grades", "health"]


def world_changes() -> list[Change]:
    """The world of the module docstring, as one batch."""
    nodes = [
        Provider(id="bo", name="Bo"),
        Provider(id="cy", name="Cy"),
        Partner(id="ptn-other", name="Other Org"),
        Student(id="sue"),
        Guardian(id="gus"),
        Community(id="westside", name="Westside"),
        School(id="roosevelt", name="Roosevelt"),
        Team(id="team-a", name="Team A"),
    ]
    edges = [
        EmployedBy(id="emp-bo", from_id="bo", to_id="ptn-hope", valid_from=T0),
        EmployedBy(id="emp-cy", from_id="cy", to_id="ptn-other", valid_from=T0),
        Signed(id="sg-other", from_id="ptn-other", to_id="agr-share", valid_from=T0),
        LocatedIn(id="loc-roosevelt", from_id="roosevelt", to_id="westside", valid_from=T0),
        Attends(id="at-sue", from_id="sue", to_id="lincoln", valid_from=T0),
        GuardianOf(id="g-gus", from_id="gus", to_id="sue", valid_from=T0, ferpa_rights=FerpaRights.FULL),
        MemberOf(id="m-bo", from_id="bo", to_id="team-a", valid_from=T0),
        Serves(id="sv-team", from_id="team-a", to_id="sue", valid_from=T0, categories_needed=frozenset({"attendance"})),
    ]
    for p in ("bo", "cy"):
        edges += [
            WorksIn(id=f"w-{p}", from_id=p, to_id="eastside", valid_from=T0),
            Trained(id=f"tr-{p}", from_id=p, to_id="crs-ferpa_basics", valid_from=T0),
            Signed(id=f"sg-{p}", from_id=p, to_id="agr-conf-v2", valid_from=T0),
        ]
    return [*World.base().changes(), *(PutNode(n) for n in nodes), *(PutEdge(e) for e in edges)]


hours = st.integers(-48, 96)
cats = st.lists(st.sampled_from(CATS), min_size=1, max_size=3, unique=True)

OPS = st.one_of(
    st.tuples(st.just("revoke"), st.integers(0, 20), hours),
    st.tuples(st.just("consent"), st.sampled_from(STUDENTS), st.sampled_from(PARTNERS), cats, st.one_of(st.none(), hours)),
    st.tuples(st.just("start"), st.sampled_from([*PROVIDERS, "team-a"]), st.sampled_from(STUDENTS), cats, hours),
    st.tuples(st.just("end"), st.integers(0, 20), hours),
    st.tuples(st.just("status"), st.integers(0, 20), st.sampled_from([ServiceStatus.PAUSED, ServiceStatus.ACTIVE])),
    st.tuples(st.just("train"), st.sampled_from(PROVIDERS), st.one_of(st.none(), hours)),
    st.tuples(st.just("untrain"), st.sampled_from(PROVIDERS), hours),
    st.tuples(st.just("transfer"), st.sampled_from(STUDENTS), st.sampled_from(["lincoln", "roosevelt"]), hours),
    st.tuples(st.just("time"), st.integers(1, 120)),
)
"""One operation: a write through a command, or the clock moving on (hours)."""


def run(store: GraphStore, op: tuple[Any, ...], now: datetime) -> timedelta | None:
    """Apply one operation at `now`; a refused write (a precondition) writes nothing. Returns a clock step, if any."""
    verb = op[0]
    if verb == "time":
        return timedelta(hours=op[1])
    at = now + timedelta(hours=op[-1]) if isinstance(op[-1], int) else None
    try:
        if verb == "revoke":
            consents = sorted(n.id for n in store.nodes(NodeKind.CONSENT))
            revoke_consent(store, RevokeConsent(consents[op[1] % len(consents)], at=max(at or now, T0)), now=now)
        elif verb == "consent":
            guardian = "gia" if op[1] == "sam" else "gus"
            expires = None if op[4] is None else now + timedelta(hours=abs(op[4]) + 1)
            record_consent(
                store,
                RecordConsent(
                    op[1], guardian, (op[2],), frozenset({"academic_support"}), frozenset(op[3]), signed_at=now, expires_at=expires
                ),
                now=now,
            )
        elif verb == "start":
            start_service(store, StartService(op[1], op[2], frozenset(op[3]), at=now), now=now)
        elif verb in ("end", "status"):
            services = sorted(e.id for e in store.edges(EdgeKind.SERVES) if e.valid_to is None)
            if not services:
                return None
            sid = services[op[1] % len(services)]
            if verb == "end":
                end_service(store, EndService(sid, at=max(at or now, now - timedelta(hours=1))), now=now)
            else:
                change_service_status(store, ChangeServiceStatus(sid, op[2], at=now), now=now)
        elif verb == "train":
            expires = None if op[2] is None else now + timedelta(hours=abs(op[2]) + 1)
            record_training(store, RecordTraining(op[1], "crs-ferpa_basics", completed_at=now, expires_at=expires), now=now)
        elif verb == "untrain":
            open_edges = [e for e in store.edges(EdgeKind.TRAINED) if e.from_id == op[1] and e.valid_to is None]
            if open_edges:
                store.apply([CloseEdge(open_edges[0].id, max(now + timedelta(hours=op[2]), open_edges[0].valid_from))])
        elif verb == "transfer":
            transfer_student(store, TransferStudent(op[1], op[2], at=max(at or now, now - timedelta(hours=1))), now=now)
    except ChangeRejected:
        pass  # refused (already revoked, already enrolled, ...): nothing written
    return None
