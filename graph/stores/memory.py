"""The embedded store: a networkx MultiDiGraph in memory over a SQLite journal.

The journal is the truth; the graph is rebuilt from it on open (or loaded from a snapshot
checked against it, then the journal's tail replayed: graph.stores.snapshot) and kept
current by reading new events (also those written by other processes) before a read
that asks for it. Nodes hold their record under ``rec``; edges are keyed ``(EdgeKind,
edge id)`` (DESIGN.md keys by edge type; the id is added because one pair may hold
several intervals of one type) and hold their record under ``rec``; both in one-slot
objects rather than dicts (graph.stores.memory_layout).

Evidence gathering walks adjacency dicts directly (``G._succ`` / ``G._pred``): the public
views cost a wrapper object per access, which dominates a 50-microsecond check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from graph.changes import Change, CloseEdge, PutEdge, PutNode, StateView, validate
from graph.errors import IdempotencyConflict, InputError, StaleRead, StoreUnavailable
from graph.evidence import NO_HISTORY, ConsentFacts, Evidence, SignedAgreement, Versions
from graph.feed.outbox import outbox_row
from graph.model import (
    About,
    Agreement,
    Attends,
    Edge,
    EdgeKind,
    GivenBy,
    GuardianOf,
    LivesIn,
    LocatedIn,
    MemberOf,
    Node,
    NodeKind,
    Permits,
    Provider,
    Restricts,
    Serves,
    Signed,
    Student,
)
from graph.stores.base import Committed, Idempotency, Work
from graph.stores.journal import Journal
from graph.stores.memory_layout import EdgeAttrs, Graph
from graph.stores.snapshot import default_path, read_snapshot, write_snapshot
from graph.timeutil import utcnow
from graph.trusted import bulk_allocation
from graph.versions import close_versions, put_version

__all__ = ["MemoryStore"]

_K = EdgeKind
_FANOUT = frozenset({NodeKind.PROVIDER, NodeKind.TEAM, NodeKind.PARTNER})
_NONE: dict[str, Edge] = {}
_NO_ADJ: dict[str, Any] = {}


class MemoryStore:
    """networkx + SQLite journal store (the default).

    Parameters
    ----------
    path : Path
        The SQLite journal file (created if missing). The graph is rebuilt from it.
    """

    name = "networkx"

    def __init__(self, path: Path, *, until: int | None = None, snapshot: bool = True) -> None:
        self.path = Path(path)
        # `until`: a read-only view of the graph as known at that consistency token (replay).
        self._until = until
        self.journal = Journal(self.path)
        self.G: nx.MultiDiGraph[str] = Graph()
        # The adjacency dicts themselves (private in networkx, stable since 2.0): see the module docstring.
        self._succ: dict[str, dict[str, dict[tuple[EdgeKind, str], EdgeAttrs]]] = self.G._succ  # type: ignore[attr-defined]
        self._pred: dict[str, dict[str, dict[tuple[EdgeKind, str], EdgeAttrs]]] = self.G._pred  # type: ignore[attr-defined]
        self._nodes: dict[str, Node] = {}
        self._edges: dict[str, Edge] = {}
        self._by_kind: dict[NodeKind | EdgeKind, dict[str, None]] = {}
        # Out-edges by kind for the few nodes with a large mixed fan-out (a provider or team
        # with hundreds of SERVES edges, a partner with its OFFERS): evidence asks them for one
        # kind at a time. Students, guardians and consents have a handful of edges each.
        self._out_kind: dict[str, dict[EdgeKind, dict[str, Edge]]] = {}
        # The provider side of evidence is shared by every check a provider makes; it is
        # cached until the next change of any kind (a write or a catch-up clears it).
        self._provider_cache: dict[str, dict[str, Any]] = {}
        # Effective-dated state: every version of a record that has more than one
        # (graph.changes); the dicts above hold the newest. Empty for most stores.
        self._node_hist: dict[str, list[tuple[datetime | None, Node]]] = {}
        self._edge_hist: dict[str, list[tuple[datetime | None, Edge]]] = {}
        self._seq = 0
        self._lock = threading.RLock()
        if snapshot:  # start from a snapshot when one checks out (graph.stores.snapshot), then replay the tail
            found = read_snapshot(self.journal, self.snapshot_path, until=until)
            if found is not None:
                self._restore(*found)
        self._catch_up()

    # ------------------------------------------------------------------ snapshot and fork

    @property
    def snapshot_path(self) -> Path:
        """Where this journal's snapshot lives (``<journal>.snapshot``)."""
        return default_path(self.path)

    def _state(self) -> tuple[Any, ...]:
        return (self.G, self._nodes, self._edges, self._by_kind, self._out_kind, self._node_hist, self._edge_hist)

    def _restore(self, seq: int, state: tuple[Any, ...]) -> None:
        self.G, self._nodes, self._edges, self._by_kind, self._out_kind, self._node_hist, self._edge_hist = state
        self._succ = self.G._succ  # type: ignore[attr-defined]
        self._pred = self.G._pred  # type: ignore[attr-defined]
        self._provider_cache.clear()
        self._seq = seq

    def write_snapshot(self) -> tuple[int, int]:
        """Catch up with the journal and write the graph's snapshot beside it; return (token, bytes).

        A restart then loads the snapshot and replays only the journal after its token
        (graph.stores.snapshot says how it is checked). Raises OSError or StoreUnavailable.
        """
        with self._lock:
            self._catch_up()
            return self._seq, write_snapshot(self.journal, self._seq, self._state(), self.snapshot_path)

    def detach(self) -> None:
        """Close the journal connection, keeping the graph: before `os.fork` (a SQLite
        connection must not be used on both sides of a fork). `attach` in each child."""
        self.journal.close()

    def attach(self) -> None:
        """Open the journal connection again (after `detach`, in a forked worker) and catch up."""
        self.journal.reopen()
        self._catch_up()

    # ------------------------------------------------------------------ writes

    def apply(self, changes: Sequence[Change]) -> str:
        """Validate and apply a batch atomically (journal first); return the token after it."""
        batch = list(changes)
        return self.transact(lambda _tx: (batch, {})).token

    def transact(self, work: Work, *, idempotency: Idempotency | None = None) -> Committed:
        """Run `work` under the journal's write lock against the committed state; commit atomically.

        The lock (SQLite ``BEGIN IMMEDIATE``) serialises writers across processes; the graph
        first catches up with every commit, so `work` reads exactly the committed state.
        See `GraphStore.transact`.
        """
        if self._until is not None:
            raise StoreUnavailable(f"this view of {self.path} is read-only (as known at token {self._until})")
        with self._lock:
            self.journal.begin()
            try:
                self._catch_up()
                if idempotency is not None:
                    prior = self.journal.idempotent(idempotency.key)
                    if prior is not None:
                        self.journal.rollback()
                        fingerprint, earlier, token = prior
                        if fingerprint != idempotency.fingerprint:
                            raise IdempotencyConflict(idempotency.key)
                        return Committed(token, earlier, replayed=True)
                now = utcnow()
                changes, result = work(_MemoryTx(self, now))
                view = StateView(self._node_kind, self.edge)
                effective = validate(changes, view, existing_node=self.node, now=now)
                seq = self.journal.append(effective, now) if effective else self._seq
                if effective:  # the feed's outbox row, in the same transaction (graph.feed.outbox)
                    closed = [e for c in effective if isinstance(c, CloseEdge) and (e := self.edge(c.edge_id)) is not None]
                    self.journal.outbox(seq, now, outbox_row(effective, _MemoryTx(self, now), closed))
                if idempotency is not None:
                    self.journal.remember(idempotency.key, idempotency.fingerprint, result, str(seq), now)
                self.journal.commit()
            except BaseException:
                self.journal.rollback()
                raise
            with bulk_allocation(freeze=True):  # a bulk load applies millions of records (see _catch_up)
                for change in effective:
                    self._apply_one(change)
            self._seq = seq
            return Committed(str(seq), dict(result))

    def _node_kind(self, node_id: str) -> NodeKind | None:
        node = self._nodes.get(node_id)
        return None if node is None else node.kind

    def _apply_one(self, change: Change) -> None:
        self._provider_cache.clear()
        if isinstance(change, PutNode):
            node = self._versioned_node(change)
            self._nodes[node.id] = node
            self._by_kind.setdefault(node.kind, {})[node.id] = None
            self.G.add_node(node.id, rec=node)
        elif isinstance(change, PutEdge):
            self._put_edge(self._versioned_edge(change))
        else:
            self._close_edge(change)

    def _versioned_node(self, change: PutNode) -> Node:
        """Record a node version; return the newest version (graph.versions)."""
        node = change.node
        newest, versions = put_version(self._nodes.get(node.id), self._node_hist.get(node.id), node, change.effective_at, change.correction)
        _keep(self._node_hist, node.id, versions)
        return newest

    def _versioned_edge(self, change: PutEdge) -> Edge:
        """Record an edge version, or restate its interval in every version; return the newest."""
        edge = change.edge
        newest, versions = put_version(self._edges.get(edge.id), self._edge_hist.get(edge.id), edge, change.effective_at, change.correction)
        _keep(self._edge_hist, edge.id, versions)
        return newest

    def _put_edge(self, edge: Edge) -> None:
        self._edges[edge.id] = edge
        if self._nodes[edge.from_id].kind in _FANOUT:
            self._out_kind.setdefault(edge.from_id, {}).setdefault(edge.kind, {})[edge.id] = edge
        self._by_kind.setdefault(edge.kind, {})[edge.id] = None
        self.G.add_edge(edge.from_id, edge.to_id, key=(edge.kind, edge.id), rec=edge)

    def _close_edge(self, change: CloseEdge) -> None:
        newest, versions = close_versions(self._edges[change.edge_id], self._edge_hist.get(change.edge_id), change.at)
        _keep(self._edge_hist, change.edge_id, versions)
        self._put_edge(newest)

    def _catch_up(self) -> None:
        # A restart replays millions of acyclic records: no collection walks them mid-replay (graph.trusted).
        with self._lock, bulk_allocation(freeze=True):
            for seq, change in self.journal.read_since(self._seq, until=self._until):
                self._apply_one(change)
                self._seq = seq

    # ------------------------------------------------------------------ tokens

    def token(self) -> str:
        """The sequence number of the newest event applied, as a string."""
        return str(self._seq)

    def latest_token(self) -> str:
        """The token after catching up with the journal (GraphStore.latest_token)."""
        self.sync(None)
        return self.token()

    def sync(self, token: str | None = None) -> None:
        """Read events other processes wrote; make sure `token` is reached.

        Raises
        ------
        InputError
            `token` is not a token of this store.
        StaleRead
            `token` is ahead of the journal (it was never issued by this journal).
        """
        wanted = _parse_token(token)
        # Under the lock: `changed_elsewhere` answers True once, so a second thread must wait for
        # the first one's catch-up rather than read (and key caches on) the state before it.
        with self._lock:
            if wanted is not None and wanted > self._seq:
                self._catch_up()
            elif self.journal.changed_elsewhere() and self.journal.newest_assigned() > self._seq:
                # Most commits by other connections are the record of decisions (same file): no new event.
                self._catch_up()
        if wanted is not None and wanted > self._seq:
            raise StaleRead(wanted, self._seq)

    # ------------------------------------------------------------------ reads

    def node(self, node_id: str) -> Node | None:
        """The node with this id, or None."""
        return self._nodes.get(node_id)

    def edge(self, edge_id: str) -> Edge | None:
        """The newest version of the edge with this id, or None."""
        return self._edges.get(edge_id)

    def nodes_by_id(self, ids: Iterable[str]) -> dict[str, Node]:
        """The nodes with these ids that exist."""
        return {i: n for i in ids if (n := self._nodes.get(i)) is not None}

    def edges_by_id(self, ids: Iterable[str]) -> dict[str, Edge]:
        """The edges with these ids that exist (newest versions)."""
        return {i: e for i in ids if (e := self._edges.get(i)) is not None}

    def nodes(self, kind: NodeKind) -> Iterator[Node]:
        """Every node of `kind`."""
        for node_id in list(self._by_kind.get(kind, ())):
            yield self._nodes[node_id]

    def edges(self, kind: EdgeKind) -> Iterator[Edge]:
        """Every edge of `kind` (newest versions)."""
        for edge_id in list(self._by_kind.get(kind, ())):
            yield self._edges[edge_id]

    def earlier_versions(self) -> Iterator[tuple[datetime | None, Node | Edge]]:
        """Every version of every record with several (see `GraphStore.earlier_versions`)."""
        for node_versions in list(self._node_hist.values()):
            yield from node_versions
        for edge_versions in list(self._edge_hist.values()):
            yield from edge_versions

    def count(self, kind: NodeKind | EdgeKind) -> int:
        """How many nodes or edges of `kind`."""
        return len(self._by_kind.get(kind, ()))

    def _out(self, node_id: str) -> Iterator[Edge]:
        for targets in self._succ.get(node_id, {}).values():
            for attrs in targets.values():
                yield attrs.rec

    def _in(self, node_id: str) -> Iterator[Edge]:
        for sources in self._pred.get(node_id, {}).values():
            for attrs in sources.values():
                yield attrs.rec

    def _out_of(self, node_id: str, kind: EdgeKind) -> Iterable[Any]:
        """Out-edges of one kind of a provider, team or partner."""
        return self._out_kind.get(node_id, {}).get(kind, _NONE).values()

    def _teams_of(self, provider_id: str) -> tuple[list[MemberOf], set[str]]:
        """Every MEMBER_OF edge reachable upward from the provider, any time (cycle-safe)."""
        memberships: list[MemberOf] = []
        seen = {provider_id}
        frontier = [provider_id]
        while frontier:
            nxt = []
            for node in frontier:
                for e in self._out_of(node, _K.MEMBER_OF):
                    memberships.append(e)
                    if e.to_id not in seen:
                        seen.add(e.to_id)
                        nxt.append(e.to_id)
            frontier = nxt
        return memberships, seen

    def _provider_part(self, provider_id: str) -> dict[str, Any]:
        cached = self._provider_cache.get(provider_id)
        if cached is None:
            cached = self._provider_cache[provider_id] = self._gather_provider_part(provider_id)
        return cached

    def _gather_provider_part(self, provider_id: str) -> dict[str, Any]:
        provider = self._nodes.get(provider_id)
        part: dict[str, Any] = {
            "provider": provider if isinstance(provider, Provider) else None,
            "employments": [],
            "works_in": [],
            "trainings": [],
            "agreements": [],
            "partner_agreements": [],
        }
        if part["provider"] is None:
            part["memberships"], part["reach"] = (), set()
            return {k: tuple(v) if isinstance(v, list) else v for k, v in part.items()}
        part["employments"] = list(self._out_of(provider_id, _K.EMPLOYED_BY))
        part["works_in"] = list(self._out_of(provider_id, _K.WORKS_IN))
        part["trainings"] = list(self._out_of(provider_id, _K.TRAINED))
        part["agreements"] = [self._signed(e) for e in self._out_of(provider_id, _K.SIGNED)]
        for partner in {e.to_id for e in part["employments"]}:
            part["partner_agreements"].extend(self._signed(e) for e in self._out_of(partner, _K.SIGNED))
        part["memberships"], part["reach"] = self._teams_of(provider_id)
        return {k: tuple(v) if isinstance(v, list) else v for k, v in part.items()}

    def _signed(self, edge: Signed) -> SignedAgreement:
        agreement = self._nodes[edge.to_id]
        assert isinstance(agreement, Agreement)
        return SignedAgreement(edge, agreement)

    def _student_part(self, student_id: str) -> dict[str, Any]:
        # Hot path of every check and lookup: the adjacency dicts walked inline and each edge sorted
        # by its exact class (no subclasses among edge classes), in the adjacency's order as before.
        student = self._nodes.get(student_id)
        part: dict[str, Any] = {
            "student": student if isinstance(student, Student) else None,
            "serves": [],
            "attends": [],
            "school_locations": [],
            "lives_in": [],
            "guardian_links": [],
            "restrictions": [],
            "consents": [],
        }
        if part["student"] is None:
            return part
        succ, nodes = self._succ, self._nodes
        attends: list[Edge] = part["attends"]
        lives_in: list[Edge] = part["lives_in"]
        for targets in succ.get(student_id, _NO_ADJ).values():
            for attrs in targets.values():
                e = attrs.rec
                if type(e) is Attends:
                    attends.append(e)
                elif type(e) is LivesIn:
                    lives_in.append(e)
        if attends:
            locations: list[Edge] = part["school_locations"]
            for school in {a.to_id for a in attends}:
                for targets in succ.get(school, _NO_ADJ).values():
                    locations.extend([e for attrs in targets.values() if type(e := attrs.rec) is LocatedIn])
        serves: list[Edge] = part["serves"]
        guardian_links: list[Edge] = part["guardian_links"]
        about_sources: set[str] = set()
        for sources in self._pred.get(student_id, _NO_ADJ).values():
            for attrs in sources.values():
                e = attrs.rec
                kind = type(e)
                if kind is Serves:
                    serves.append(e)
                elif kind is GuardianOf:
                    guardian_links.append(e)
                elif kind is About:
                    about_sources.add(e.from_id)
        for source_id in sorted(about_sources):
            source = nodes[source_id]
            if source.kind is NodeKind.CONSENT:
                about, given, permits = [], [], []
                for targets in succ.get(source_id, _NO_ADJ).values():
                    for attrs in targets.values():
                        e = attrs.rec
                        kind = type(e)
                        if kind is About:
                            if e.to_id == student_id:
                                about.append(e)
                        elif kind is GivenBy:
                            given.append(e)
                        elif kind is Permits:
                            permits.append(e)
                # In id order, as the Neo4j store returns them: a decision's path lists them so (issue 16).
                part["consents"].append(ConsentFacts(source, _sorted(about), _sorted(given), _sorted(permits)))  # type: ignore[arg-type]
            else:
                part["restrictions"].extend(e for e in self._out(source_id) if isinstance(e, Restricts))
        return part

    def _evidence(self, p: dict[str, Any], s: dict[str, Any]) -> Evidence:
        ev = self._plain_evidence(p, s)
        if not self._node_hist and not self._edge_hist:
            return ev
        return ev._replace(node_history=self._history_of_nodes(ev), edge_history=self._history_of_edges(ev))

    def _history_of_nodes(self, ev: Evidence) -> dict[str, Versions]:
        ids = [ev.provider.id if ev.provider else None, ev.student.id if ev.student else None]
        ids += [c.consent.id for c in ev.consents]
        ids += [a.agreement.id for a in (*ev.agreements, *ev.partner_agreements)]
        return {i: tuple(v) for i in ids if i is not None and (v := self._node_hist.get(i)) is not None}

    def _history_of_edges(self, ev: Evidence) -> dict[str, Versions]:
        if not self._edge_hist:
            return {}
        edges: list[Edge] = [
            *ev.employments,
            *ev.works_in,
            *ev.trainings,
            *(a.edge for a in (*ev.agreements, *ev.partner_agreements)),
            *ev.memberships,
            *ev.services,
            *ev.attends,
            *ev.school_locations,
            *ev.lives_in,
            *ev.guardian_links,
            *ev.restrictions,
        ]
        for c in ev.consents:
            edges += [*c.about, *c.given_by, *c.permits]
        return {e.id: tuple(v) for e in edges if (v := self._edge_hist.get(e.id)) is not None}

    @staticmethod
    def _plain_evidence(p: dict[str, Any], s: dict[str, Any]) -> Evidence:
        # The provider's part holds tuples already; built through tuple.__new__ with every field
        # in `Evidence`'s order (a named tuple: this skips its Python __new__; see graph/evidence.py).
        reach: set[str] = p["reach"]
        return tuple.__new__(
            Evidence,
            (
                p["provider"],
                s["student"],
                p["employments"],
                p["works_in"],
                p["trainings"],
                p["agreements"],
                p["partner_agreements"],
                p["memberships"],
                tuple([e for e in s["serves"] if e.from_id in reach]),
                tuple(s["attends"]),
                tuple(s["school_locations"]),
                tuple(s["lives_in"]),
                tuple(s["guardian_links"]),
                tuple(s["restrictions"]),
                tuple(s["consents"]),
                NO_HISTORY,
                NO_HISTORY,
            ),
        )

    def gather_evidence(self, provider_id: str, student_id: str) -> Evidence:
        """Everything bearing on (provider, student), across all time (see Evidence)."""
        with self._lock:
            return self._evidence(self._provider_part(provider_id), self._student_part(student_id))

    def gather_evidence_many(self, provider_id: str | None, student_id: str | None, others: Iterable[str]) -> dict[str, Evidence]:
        """Evidence for many pairs sharing one side (the shared side is gathered once)."""
        with self._lock:
            if provider_id is not None:
                p = self._provider_part(provider_id)
                return {sid: self._evidence(p, self._student_part(sid)) for sid in others}
            if student_id is None:
                raise InputError("gather_evidence_many needs provider_id or student_id")
            s = self._student_part(student_id)
            return {pid: self._evidence(self._provider_part(pid), s) for pid in others}

    def students_served_by(self, provider_id: str) -> set[str]:
        """Students served by the provider or any team it was ever in (transitively)."""
        with self._lock:
            if not isinstance(self._nodes.get(provider_id), Provider):
                return set()
            _, reach = self._teams_of(provider_id)
            return {e.to_id for node in reach for e in self._out_of(node, _K.SERVES)}

    def providers_serving(self, student_id: str) -> set[str]:
        """Providers serving the student directly or through teams they were ever in."""
        with self._lock:
            providers: set[str] = set()
            seen: set[str] = set()
            frontier = [e.from_id for e in self._in(student_id) if isinstance(e, Serves)]
            while frontier:
                nxt: list[str] = []
                for node_id in frontier:
                    if node_id in seen:
                        continue
                    seen.add(node_id)
                    if self._node_kind(node_id) is NodeKind.PROVIDER:
                        providers.add(node_id)
                    else:
                        nxt.extend(e.from_id for e in self._in(node_id) if isinstance(e, MemberOf))
                frontier = nxt
            return providers

    def close(self) -> None:
        """Close the journal."""
        self.journal.close()


def _sorted(edges: list[Edge]) -> tuple[Edge, ...]:
    if len(edges) > 1:
        edges.sort(key=lambda e: e.id)
    return tuple(edges)


def _keep(history: dict[str, Any], record_id: str, versions: list[Any] | None) -> None:
    if versions is None:
        history.pop(record_id, None)
    else:
        history[record_id] = versions


class _MemoryTx:
    """`WriteTx` of the embedded store: the graph itself, caught up, under the write lock."""

    def __init__(self, store: MemoryStore, now: datetime) -> None:
        self._store = store
        self.now = now

    def node(self, node_id: str) -> Node | None:
        return self._store.node(node_id)

    def edge(self, edge_id: str) -> Edge | None:
        return self._store.edge(edge_id)

    def nodes_by_id(self, ids: Iterable[str]) -> dict[str, Node]:
        return self._store.nodes_by_id(ids)

    def edges_by_id(self, ids: Iterable[str]) -> dict[str, Edge]:
        return self._store.edges_by_id(ids)

    def edges_at(self, node_id: str, kind: EdgeKind, direction: Literal["out", "in"]) -> list[Edge]:
        adjacency = self._store._succ if direction == "out" else self._store._pred
        found = [attrs.rec for keyed in adjacency.get(node_id, {}).values() for (k, _), attrs in keyed.items() if k is kind]
        return sorted(found, key=lambda e: e.id)

    def open_edges_from(self, source: str, kind: EdgeKind) -> list[Edge]:
        edges = self._store._edges
        found = [e for i in self._store._by_kind.get(kind, ()) if (e := edges[i]).valid_to is None and e.source == source]
        return sorted(found, key=lambda e: e.id)


def _parse_token(token: str | None) -> int | None:
    if token is None or token == "":
        return None
    try:
        value = int(token)
    except ValueError as err:
        raise InputError(f"not a consistency token of this store: {token!r}") from err
    if value < 0:
        raise InputError(f"not a consistency token of this store: {token!r}")
    return value
