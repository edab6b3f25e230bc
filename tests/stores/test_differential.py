"""Differential test: the embedded store and Neo4j answer every question identically.

Hypothesis draws a random small partnership (tests/strategies.py: nested and cyclic
teams, consents, trainings, transfers) and then a history of later batches: consents
revoked, services paused, resumed and ended (CloseEdge + a new edge), trainings expiring,
transfers between schools and communities, court orders, teams joined into cycles. Both
stores receive the same batches; then, for every provider and student, evidence must be
equal, and at many instants `decide` must give the same outcome, reasons, released
categories and path, and the engine's lookups the same pages.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.decide import decide
from graph.decision import CheckRequest, Decision
from graph.engine import Engine
from graph.model import (
    About,
    Attends,
    Consent,
    ConsentStatus,
    Edge,
    LegalOrder,
    LivesIn,
    MemberOf,
    Node,
    NodeKind,
    Restricts,
    Serves,
    ServiceStatus,
    Team,
    Trained,
    WorksIn,
)
from graph.policy import DEFAULT_POLICY
from graph.stores.base import GraphStore
from graph.stores.memory import MemoryStore
from graph.stores.neo4j import Neo4jStore
from tests.stores.test_contract import clear_neo4j
from tests.strategies import GRID, instants, partnerships

pytestmark = pytest.mark.neo4j

PURPOSES = ["academic_support", None]


class _State:
    """What the batches so far hold, so later batches only make valid changes."""

    def __init__(self, changes: list[Change]) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[str, Edge] = {}
        self.add(changes)

    def add(self, changes: list[Change]) -> None:
        for c in changes:
            if isinstance(c, PutNode):
                self.nodes[c.node.id] = c.node
            elif isinstance(c, PutEdge):
                self.edges[c.edge.id] = c.edge
            else:
                self.edges[c.edge_id] = replace(self.edges[c.edge_id], valid_to=c.at)

    def ids(self, kind: NodeKind) -> list[str]:
        return sorted(i for i, n in self.nodes.items() if n.kind is kind)

    def open_edges(self, cls: type[Edge]) -> list[Edge]:
        return sorted((e for e in self.edges.values() if isinstance(e, cls) and e.valid_to is None), key=lambda e: e.id)


@st.composite
def histories(draw: st.DrawFn) -> list[list[Change]]:
    """A partnership, then 1..4 later batches of history."""
    base = draw(partnerships())
    state = _State(base)
    batches = [base]
    for step in range(draw(st.integers(1, 4))):
        batch: list[Change] = []
        counter = iter(range(1, 1_000))

        def fresh(prefix: str, step: int = step) -> str:
            return f"{prefix}-h{step}-{next(counter)}"  # noqa: B023 (one batch's helper)

        def close_at(edge: Edge) -> datetime:
            return draw(st.sampled_from([g for g in GRID if g >= edge.valid_from] or [edge.valid_from]))

        for action in draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4)):
            first = len(batch)
            if action == "revoke":
                consents = [c for c in (state.nodes[i] for i in state.ids(NodeKind.CONSENT)) if isinstance(c, Consent)]
                if consents:
                    c = draw(st.sampled_from(consents))
                    at = draw(st.sampled_from([g for g in GRID if c.signed_at is None or g >= c.signed_at] or GRID))
                    batch.append(PutNode(replace(c, revoked_at=at), effective_at=at))  # a version from `at` on
            elif action in ("pause", "end", "resume"):
                services = state.open_edges(Serves)
                if services:
                    sv = draw(st.sampled_from(services))
                    assert isinstance(sv, Serves)
                    at = close_at(sv)
                    batch.append(CloseEdge(sv.id, at))
                    status = {"pause": ServiceStatus.PAUSED, "end": ServiceStatus.ENDED, "resume": ServiceStatus.ACTIVE}[action]
                    batch.append(PutEdge(replace(sv, id=fresh("sv"), valid_from=at, valid_to=None, status=status)))
            elif action == "restatus":
                services = sorted((e for e in state.edges.values() if isinstance(e, Serves)), key=lambda e: e.id)
                if services:
                    old = draw(st.sampled_from(services))
                    assert isinstance(old, Serves)
                    # Stated times only: the two stores would stamp "the record time" a moment apart.
                    effective = draw(st.sampled_from(GRID))
                    batch.append(PutEdge(replace(old, status=draw(st.sampled_from(list(ServiceStatus)))), effective_at=effective))
            elif action == "consent-status":
                consents = [c for c in (state.nodes[i] for i in state.ids(NodeKind.CONSENT)) if isinstance(c, Consent)]
                if consents:
                    c = draw(st.sampled_from(consents))
                    status = draw(st.sampled_from(list(ConsentStatus)))
                    correction = status is ConsentStatus.ENTERED_IN_ERROR
                    batch.append(PutNode(replace(c, status=status), effective_at=draw(st.sampled_from(GRID)), correction=correction))
            elif action == "expire-training":
                trainings = state.open_edges(Trained)
                if trainings:
                    tr = draw(st.sampled_from(trainings))
                    batch.append(CloseEdge(tr.id, close_at(tr)))
            elif action == "transfer":
                enrolments = state.open_edges(Attends)
                if enrolments:
                    at_edge = draw(st.sampled_from(enrolments))
                    at = close_at(at_edge)
                    other = "sch1" if at_edge.to_id == "sch0" else "sch0"
                    batch.append(CloseEdge(at_edge.id, at))
                    batch.append(PutEdge(Attends(id=fresh("at"), from_id=at_edge.from_id, to_id=other, valid_from=at)))
            elif action == "move-community":
                works = state.open_edges(WorksIn)
                if works:
                    w = draw(st.sampled_from(works))
                    at = close_at(w)
                    other = "c1" if w.to_id == "c0" else "c0"
                    batch.append(CloseEdge(w.id, at))
                    batch.append(PutEdge(WorksIn(id=fresh("w"), from_id=w.from_id, to_id=other, valid_from=at)))
            elif action == "lives-in":
                student = draw(st.sampled_from(state.ids(NodeKind.STUDENT)))
                community = draw(st.sampled_from(["c0", "c1"]))
                batch.append(PutEdge(LivesIn(id=fresh("li"), from_id=student, to_id=community, valid_from=draw(st.sampled_from(GRID)))))
            elif action == "court-order":
                student = draw(st.sampled_from(state.ids(NodeKind.STUDENT)))
                order = fresh("ord")
                start = draw(st.sampled_from(GRID))
                end = draw(st.one_of(st.none(), st.sampled_from([g for g in GRID if g > start] or [start])))
                batch += [
                    PutNode(LegalOrder(id=order)),
                    PutEdge(Restricts(id=fresh("rs"), from_id=order, to_id=f"gdn-{student}", valid_from=start, valid_to=end)),
                    PutEdge(About(id=fresh("ab"), from_id=order, to_id=student, valid_from=start)),
                ]
            elif action == "team-chain":
                # provider -> A -> B (-> A: a cycle) and B serves a student: reach must follow it all.
                a, b = fresh("team"), fresh("team")
                provider = draw(st.sampled_from(state.ids(NodeKind.PROVIDER)))
                student = draw(st.sampled_from(state.ids(NodeKind.STUDENT)))
                batch += [
                    PutNode(Team(id=a, name=a)),
                    PutNode(Team(id=b, name=b)),
                    PutEdge(MemberOf(id=fresh("mem"), from_id=provider, to_id=a, valid_from=draw(st.sampled_from(GRID)))),
                    PutEdge(MemberOf(id=fresh("mem"), from_id=a, to_id=b, valid_from=GRID[0])),
                    PutEdge(
                        Serves(
                            id=fresh("sv"),
                            from_id=b,
                            to_id=student,
                            valid_from=draw(st.sampled_from(GRID)),
                            program="prg0",
                            categories_needed=frozenset({"attendance", "grades"}),
                        )
                    ),
                ]
                if draw(st.booleans()):
                    batch.append(PutEdge(MemberOf(id=fresh("mem"), from_id=b, to_id=a, valid_from=GRID[0])))
            elif action == "join-team":
                members = state.ids(NodeKind.PROVIDER) + state.ids(NodeKind.TEAM)
                team = fresh("team")
                if not state.ids(NodeKind.TEAM) or draw(st.booleans()):
                    batch.append(PutNode(Team(id=team, name=team)))
                    target = team
                else:
                    target = draw(st.sampled_from(state.ids(NodeKind.TEAM)))
                src = draw(st.sampled_from(members))
                if src != target:
                    batch.append(PutEdge(MemberOf(id=fresh("mem"), from_id=src, to_id=target, valid_from=draw(st.sampled_from(GRID)))))
            state.add(batch[first:])
        if batch:
            batches.append(batch)
    return batches


ACTIONS = [
    "revoke",
    "consent-status",
    "pause",
    "end",
    "resume",
    "restatus",
    "expire-training",
    "transfer",
    "move-community",
    "lives-in",
    "court-order",
    "join-team",
    "team-chain",
]


def _summary(d: Decision) -> tuple[object, ...]:
    return (d.outcome, tuple(r.code for r in d.reasons), d.released, d.path)


@pytest.fixture(scope="module")
def neo4j_store_uri(neo4j_uri: str) -> str:
    return neo4j_uri


def _stores(uri: str, tmp: Path) -> Iterator[GraphStore]:
    clear_neo4j(uri)
    yield MemoryStore(tmp / "graph.db")
    yield Neo4jStore(uri)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories())
def test_stores_agree(neo4j_store_uri: str, batches: list[list[Change]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        mem, n4j = _stores(neo4j_store_uri, Path(d))
        try:
            for batch in batches:
                mem.apply(batch)
                n4j.apply(batch)
            providers = sorted(n.id for n in mem.nodes(NodeKind.PROVIDER))
            students = sorted(n.id for n in mem.nodes(NodeKind.STUDENT))
            assert providers == sorted(n.id for n in n4j.nodes(NodeKind.PROVIDER))
            assert students == sorted(n.id for n in n4j.nodes(NodeKind.STUDENT))
            for p in providers:
                assert mem.students_served_by(p) == n4j.students_served_by(p), p
            for s in students:
                assert mem.providers_serving(s) == n4j.providers_serving(s), s
            times = instants()
            for p in providers:
                ev_mem = mem.gather_evidence_many(p, None, students)
                ev_n4j = n4j.gather_evidence_many(p, None, students)
                for s in students:
                    assert ev_mem[s].canonical() == ev_n4j[s].canonical(), (p, s)
                    assert n4j.gather_evidence(p, s).canonical() == ev_mem[s].canonical(), (p, s)
                    for at in times:
                        for purpose in PURPOSES:
                            req = CheckRequest(p, s, at, purpose)
                            a = decide(ev_mem[s], req, DEFAULT_POLICY)
                            b = decide(ev_n4j[s], req, DEFAULT_POLICY)
                            assert _summary(a) == _summary(b), (p, s, at, purpose)
            engines = [Engine(mem, DEFAULT_POLICY), Engine(n4j, DEFAULT_POLICY)]
            for at in [*times[::4], GRID[-1] + timedelta(days=400)]:
                for p in providers:
                    pages = [e.accessible_students(p, at, purpose="academic_support") for e in engines]
                    assert [(x.student_id, x.released, x.until) for x in pages[0].items] == [
                        (x.student_id, x.released, x.until) for x in pages[1].items
                    ], (p, at)
                for s in students:
                    pages = [e.providers_with_access(s, at, purpose="academic_support") for e in engines]
                    assert [(x.provider_id, x.released, x.until) for x in pages[0].items] == [
                        (x.provider_id, x.released, x.until) for x in pages[1].items
                    ], (s, at)
        finally:
            mem.close()
            n4j.close()
