"""A tiny partnership to build test graphs from, one change at a time.

    gia -GUARDIAN_OF-> sam -ATTENDS-> lincoln -LOCATED_IN-> eastside <-WORKS_IN- ana
    cns-1 -ABOUT-> sam; cns-1 -GIVEN_BY-> gia; cns-1 -PERMITS-> ptn-hope
    ana -EMPLOYED_BY-> ptn-hope -OFFERS-> prg-tutor; ana -SERVES(active, prg-tutor)-> sam
    ana -TRAINED-> crs-ferpa_basics; ana -SIGNED-> agreement v2; ptn-hope -SIGNED-> data_sharing

Every interval starts at T0 (2025-08-15) and is open unless a method changes it. With the
default policy, ana may see sam's attendance and grades for academic_support.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.decide import decide
from graph.decision import CheckRequest, Decision
from graph.model import (
    About,
    Agreement,
    Attends,
    Community,
    Consent,
    ConsentKind,
    ConsentStatus,
    Course,
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
    Permits,
    Program,
    Provider,
    Restricts,
    School,
    Serves,
    ServiceStatus,
    Signed,
    Student,
    Team,
    Trained,
    WorksIn,
)
from graph.policy import DEFAULT_POLICY, Policy
from graph.stores.memory import MemoryStore

T0 = datetime(2025, 8, 15, 6, 0, tzinfo=UTC)
NOON = datetime(2026, 1, 15, 19, 0, tzinfo=UTC)


def t(text: str) -> datetime:
    """Parse an aware ISO time."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value.astimezone(UTC)


@dataclass
class World:
    """Nodes and edges by id; methods return self so rows read as one expression."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[str, Edge] = field(default_factory=dict)
    closes: list[CloseEdge] = field(default_factory=list)

    @classmethod
    def base(cls) -> World:
        w = cls()
        for n in (
            Student(id="sam", birth_date=date(2012, 3, 1)),
            Guardian(id="gia"),
            Provider(id="ana", name="Ana"),
            Partner(id="ptn-hope", name="Hope Center"),
            Program(id="prg-tutor", name="Tutoring"),
            School(id="lincoln", name="Lincoln Elementary"),
            Community(id="eastside", name="Eastside"),
            Course(id="crs-ferpa_basics", name="FERPA basics"),
            Agreement(id="agr-conf-v1", agreement_kind="data_confidentiality", version=1),
            Agreement(id="agr-conf-v2", agreement_kind="data_confidentiality", version=2),
            Agreement(id="agr-share", agreement_kind="data_sharing", version=1),
            Consent(
                id="cns-1",
                signed_at=T0,
                purposes=frozenset({"academic_support"}),
                categories=frozenset({"attendance", "grades"}),
            ),
        ):
            w.nodes[n.id] = n
        for e in (
            GuardianOf(id="g1", from_id="gia", to_id="sam", valid_from=T0),
            Attends(id="at1", from_id="sam", to_id="lincoln", valid_from=T0),
            LocatedIn(id="loc1", from_id="lincoln", to_id="eastside", valid_from=T0),
            WorksIn(id="w1", from_id="ana", to_id="eastside", valid_from=T0),
            EmployedBy(id="emp1", from_id="ana", to_id="ptn-hope", valid_from=T0),
            Offers(id="off1", from_id="ptn-hope", to_id="prg-tutor", valid_from=T0),
            Trained(id="tr1", from_id="ana", to_id="crs-ferpa_basics", valid_from=T0),
            Signed(id="sg1", from_id="ana", to_id="agr-conf-v2", valid_from=T0),
            Signed(id="sg-p", from_id="ptn-hope", to_id="agr-share", valid_from=T0),
            Serves(
                id="sv1",
                from_id="ana",
                to_id="sam",
                valid_from=T0,
                program="prg-tutor",
                categories_needed=frozenset({"attendance", "grades", "health"}),
            ),
            About(id="ab1", from_id="cns-1", to_id="sam", valid_from=T0),
            GivenBy(id="gb1", from_id="cns-1", to_id="gia", valid_from=T0),
            Permits(id="pm1", from_id="cns-1", to_id="ptn-hope", valid_from=T0),
        ):
            w.edges[e.id] = e
        return w

    # ---------------------------------------------------------------- edits

    def copy(self) -> World:
        return World(dict(self.nodes), dict(self.edges), list(self.closes))

    def node(self, n: Node) -> World:
        w = self.copy()
        w.nodes[n.id] = n
        return w

    def edge(self, e: Edge) -> World:
        w = self.copy()
        w.edges[e.id] = e
        return w

    def without(self, *ids: str) -> World:
        w = self.copy()
        for i in ids:
            w.edges.pop(i, None)
            w.nodes.pop(i, None)
        w.edges = {k: e for k, e in w.edges.items() if e.from_id in w.nodes and e.to_id in w.nodes}
        return w

    def change(self, record_id: str, **fields: Any) -> World:
        w = self.copy()
        if record_id in w.nodes:
            w.nodes[record_id] = replace(w.nodes[record_id], **fields)  # type: ignore[type-var]
        else:
            w.edges[record_id] = replace(w.edges[record_id], **fields)  # type: ignore[type-var]
        return w

    def consent(self, **fields: Any) -> World:
        return self.change("cns-1", **fields)

    def revoke_consent(self, at: datetime) -> World:
        return self.consent(revoked_at=at)

    def student(self, **fields: Any) -> World:
        return self.change("sam", **fields)

    def guardian_link(self, **fields: Any) -> World:
        return self.change("g1", **fields)

    def service(self, **fields: Any) -> World:
        return self.change("sv1", **fields)

    def close(self, edge_id: str, at: datetime) -> World:
        w = self.copy()
        w.closes.append(CloseEdge(edge_id, at))
        return w

    def via_team(self, *teams: str, cycle: bool = False) -> World:
        """Move the service from ana to the last of a chain of teams ana -> teams[0] -> ... ."""
        w = self.copy()
        chain = ["ana", *teams]
        for team in teams:
            w.nodes[team] = Team(id=team, name=team)
        for a, b in itertools.pairwise(chain):
            w.edges[f"m-{a}-{b}"] = MemberOf(id=f"m-{a}-{b}", from_id=a, to_id=b, valid_from=T0)
        if cycle and len(teams) >= 2:
            w.edges[f"m-{teams[-1]}-{teams[0]}"] = MemberOf(
                id=f"m-{teams[-1]}-{teams[0]}", from_id=teams[-1], to_id=teams[0], valid_from=T0
            )
        w.edges["sv1"] = replace(w.edges["sv1"], from_id=teams[-1])  # type: ignore[type-var]
        return w

    def order(self, against: str, start: datetime, end: datetime | None = None) -> World:
        w = self.node(LegalOrder(id="ord-1"))
        w = w.edge(Restricts(id="rs1", from_id="ord-1", to_id=against, valid_from=start, valid_to=end))
        return w.edge(About(id="ab-ord", from_id="ord-1", to_id="sam", valid_from=start))

    # ---------------------------------------------------------------- use

    def changes(self) -> list[Change]:
        out: list[Change] = [PutNode(n) for n in self.nodes.values()]
        out += [PutEdge(e) for e in self.edges.values()]
        out += list(self.closes)
        return out

    def store(self, path: Path) -> MemoryStore:
        path.mkdir(parents=True, exist_ok=True)
        s = MemoryStore(path / "world.db")
        s.apply(self.changes())
        return s

    def decide(
        self,
        tmp_path: Path,
        at: datetime = NOON,
        purpose: str | None = "academic_support",
        categories: frozenset[str] | None = None,
        policy: Policy = DEFAULT_POLICY,
        provider: str = "ana",
        student: str = "sam",
    ) -> Decision:
        s = self.store(tmp_path)
        try:
            req = CheckRequest(provider, student, at, purpose, categories)
            return decide(s.gather_evidence(provider, student), req, policy)
        finally:
            s.close()


__all__ = [
    "NOON",
    "T0",
    "World",
    "t",
    "ConsentKind",
    "ConsentStatus",
    "FerpaRights",
    "GuardianRelationship",
    "ServiceStatus",
    "LivesIn",
]
