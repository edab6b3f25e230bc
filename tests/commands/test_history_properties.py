"""Properties of effective-dated writes (hypothesis), through the write commands on a real journal.

    the tests/world.py base graph, plus sam2 (same guardian, school, service by ana) and a
    second school `roosevelt` in community `westside`

For a random history of writes (revocations, service ends and status changes, transfers,
consent re-imports with another status, verifications, new consents), made one at a time:

1. answers about instants before a change's effective time are unchanged by it;
2. every decision recorded along the way replays identically from the journal at the end.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph import commands
from graph.audit import SqliteAuditLog
from graph.changes import PutEdge, PutNode
from graph.decision import CheckRequest, Decision
from graph.engine import Engine
from graph.errors import ChangeRejected
from graph.model import (
    About,
    Attends,
    Community,
    Consent,
    ConsentStatus,
    FerpaRights,
    GivenBy,
    GuardianOf,
    LocatedIn,
    Permits,
    School,
    Serves,
    ServiceStatus,
    Student,
    WorksIn,
)
from graph.policy import DEFAULT_POLICY
from graph.replay import replay
from graph.stores.memory import MemoryStore
from tests.world import T0, World

GRID = [T0 + timedelta(days=20 * i, hours=3) for i in range(1, 16)]
STUDENTS = ("sam", "sam2")
NOW = GRID[-1] + timedelta(days=400)


def world_changes() -> list[object]:
    extra = [
        PutNode(Student(id="sam2")),
        PutNode(School(id="roosevelt", name="Roosevelt")),
        PutNode(Community(id="westside", name="Westside")),
        PutEdge(LocatedIn(id="loc2", from_id="roosevelt", to_id="westside", valid_from=T0)),
        PutEdge(WorksIn(id="w2", from_id="ana", to_id="westside", valid_from=T0, valid_to=GRID[7])),
        PutEdge(GuardianOf(id="g2", from_id="gia", to_id="sam2", valid_from=T0, ferpa_rights=FerpaRights.UNVERIFIED)),
        PutEdge(Attends(id="at2", from_id="sam2", to_id="lincoln", valid_from=T0)),
        PutEdge(Serves(id="sv2", from_id="ana", to_id="sam2", valid_from=T0, categories_needed=frozenset({"attendance"}))),
        PutNode(Consent(id="cns-2", signed_at=T0, purposes=frozenset({"academic_support"}), categories=frozenset({"attendance"}))),
        PutEdge(About(id="ab2", from_id="cns-2", to_id="sam2", valid_from=T0)),
        PutEdge(GivenBy(id="gb2", from_id="cns-2", to_id="gia", valid_from=T0)),
        PutEdge(Permits(id="pm2", from_id="cns-2", to_id="ptn-hope", valid_from=T0)),
    ]
    return [*World.base().changes(), *extra]


instant = st.sampled_from(GRID)
op = st.one_of(
    st.tuples(st.just("revoke"), st.sampled_from(["cns-1", "cns-2"]), instant),
    st.tuples(st.just("end"), st.sampled_from(["sv1", "sv2"]), instant),
    st.tuples(st.just("pause"), st.sampled_from(["sv1", "sv2"]), instant),
    st.tuples(st.just("transfer"), st.sampled_from(STUDENTS), instant),
    st.tuples(st.just("verify"), st.just("sam2"), instant),
    st.tuples(st.just("reimport"), st.sampled_from(["cns-1", "cns-2"]), st.sampled_from(list(ConsentStatus))),
    st.tuples(st.just("record"), st.sampled_from(STUDENTS), instant),
)


def apply(store: MemoryStore, step: tuple[object, ...]) -> object:
    """Run one write; return its effective instant (None: now, the record time)."""
    kind, target, value = step
    try:
        if kind == "revoke":
            commands.revoke_consent(store, commands.RevokeConsent(str(target), value), now=NOW)  # type: ignore[arg-type]
        elif kind == "end":
            commands.end_service(store, commands.EndService(str(target), value), now=NOW)  # type: ignore[arg-type]
        elif kind == "pause":
            commands.change_service_status(store, commands.ChangeServiceStatus(str(target), ServiceStatus.PAUSED, value), now=NOW)  # type: ignore[arg-type]
        elif kind == "transfer":
            school = "roosevelt" if value in GRID[::2] else "lincoln"
            commands.transfer_student(store, commands.TransferStudent(str(target), school, value), now=NOW)  # type: ignore[arg-type]
        elif kind == "verify":
            commands.verify_guardian(store, commands.VerifyGuardian("gia", str(target), value), now=NOW)  # type: ignore[arg-type]
        elif kind == "reimport":
            consent = store.node(str(target))
            assert isinstance(consent, Consent)
            if value is ConsentStatus.ENTERED_IN_ERROR:
                return "skip"  # a correction reaches back by design; it is not in this property
            store.apply([PutNode(replace(consent, status=value))])  # type: ignore[arg-type]
            return None
        else:
            cmd = commands.RecordConsent(
                str(target), "gia", ("ptn-hope",), frozenset({"academic_support"}), frozenset({"grades"}), signed_at=value
            )  # type: ignore[arg-type]
            commands.record_consent(store, cmd, now=NOW)
    except ChangeRejected:
        return "skip"  # a refused write changes nothing
    return value


def answers(engine: Engine, before: object) -> dict[tuple[str, object], tuple[object, ...]]:
    """Outcome, reasons and released categories for every student at every grid instant before `before`."""
    out = {}
    for sid in STUDENTS:
        for at in GRID:
            if before is not None and at >= before:  # type: ignore[operator]
                continue
            d = engine.decide_only(CheckRequest("ana", sid, at, "academic_support", None))
            out[(sid, at)] = (d.outcome, d.codes, d.released)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=8), st.lists(st.tuples(st.sampled_from(STUDENTS), instant), min_size=1, max_size=3))
def test_history_properties(steps: list[tuple[object, ...]], asks: list[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "h.db"
        store = MemoryStore(db)
        store.apply(world_changes())  # type: ignore[arg-type]
        audit = SqliteAuditLog(db)
        engine = Engine(store, DEFAULT_POLICY, audit)
        recorded: list[Decision] = []
        for step in steps:
            effective = step[2] if step[0] != "reimport" else None
            earlier = answers(engine, effective if effective is not None else NOW)
            if apply(store, step) == "skip":
                continue
            assert answers(engine, effective if effective is not None else NOW) == earlier, step
            recorded += [engine.check(CheckRequest("ana", sid, at, "academic_support", None)) for sid, at in asks]  # type: ignore[arg-type]
        ids = [r["id"] for sid in STUDENTS for r in audit.for_student(sid)]
        assert len(ids) == len(recorded)
        for decision_id in ids:
            body = audit.get(decision_id)
            assert body is not None
            report = replay(db, body, DEFAULT_POLICY)
            assert report.identical, report.differences
        audit.close()
        store.close()
