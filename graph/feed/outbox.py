"""The outbox row a store writes in the same transaction as a commit.

A row names what the commit touched, as **anchors**: students (every provider serving them
may be affected) and providers (every student they serve may be affected), resolved inside
the write transaction through `WriteTx.edges_at` from consents, guardians, legal orders,
teams, partners, schools, agreements and courses. The deriver expands anchors to
(provider, student) pairs after the commit with `providers_serving` / `students_served_by`;
nothing is ever deleted from the graph, so the expansion after the commit covers every pair
the commit could have changed (a superset is harmless: a pair whose access did not change
yields no event). A batch larger than `ALL_THRESHOLD` changes (a bulk load) is marked
``all``: every served pair is evaluated again.

Also recorded: each change's effective instant (a revocation's ``at``, a close's ``at``,
a new edge's ``valid_from``), so an event can say when its change took effect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from graph.changes import Change, CloseEdge, PutEdge, PutNode
from graph.model import Edge, EdgeKind, NodeKind
from graph.timeutil import ensure_aware

__all__ = ["ALL_THRESHOLD", "OutboxRow", "outbox_row"]

ALL_THRESHOLD: Final = 2000
"""Above this many changes in one commit, the row says ``all`` instead of listing anchors."""

_K = EdgeKind
_N = NodeKind


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One commit's cause, as the deriver reads it back.

    ``token`` is the consistency token of the commit; ``seq`` orders rows (the journal's
    sequence number after the commit); ``recorded_at`` the commit's record time (aware UTC).
    """

    seq: int
    token: str
    recorded_at: datetime
    students: frozenset[str]
    providers: frozenset[str]
    effective: tuple[datetime, ...]
    all: bool = False

    @classmethod
    def from_json(cls, seq: int, token: str, recorded_at: datetime, data: str) -> OutboxRow:
        """Decode the ``data`` column written by `outbox_row`."""
        d = json.loads(data)
        return cls(
            seq=seq,
            token=token,
            recorded_at=ensure_aware(recorded_at),
            students=frozenset(d.get("students", ())),
            providers=frozenset(d.get("providers", ())),
            effective=tuple(ensure_aware(datetime.fromisoformat(x)) for x in d.get("effective", ())),
            all=bool(d.get("all", False)),
        )


class _Anchors:
    def __init__(self, tx: Any, changes: Sequence[Change]) -> None:
        self.tx = tx
        self.students: set[str] = set()
        self.providers: set[str] = set()
        self._teams_seen: set[str] = set()
        self._kinds: dict[str, NodeKind] = {}
        for c in changes:
            if isinstance(c, PutNode):
                self._kinds[c.node.id] = c.node.kind

    def kind(self, node_id: str) -> NodeKind | None:
        if node_id in self._kinds:
            return self._kinds[node_id]
        node = self.tx.node(node_id)
        kind = None if node is None else node.kind
        if kind is not None:
            self._kinds[node_id] = kind
        return kind

    def out(self, node_id: str, kind: EdgeKind) -> list[str]:
        return [e.to_id for e in self.tx.edges_at(node_id, kind, "out")]

    def into(self, node_id: str, kind: EdgeKind) -> list[str]:
        return [e.from_id for e in self.tx.edges_at(node_id, kind, "in")]

    def team(self, team_id: str) -> None:
        """Every provider ever a member of the team, at any depth (cycles are legal)."""
        frontier = [team_id]
        while frontier:
            nxt: list[str] = []
            for t in frontier:
                if t in self._teams_seen:
                    continue
                self._teams_seen.add(t)
                for member in self.into(t, _K.MEMBER_OF):
                    if self.kind(member) is _N.PROVIDER:
                        self.providers.add(member)
                    else:
                        nxt.append(member)
            frontier = nxt

    def member(self, node_id: str) -> None:
        """A provider or a team: its providers."""
        if self.kind(node_id) is _N.PROVIDER:
            self.providers.add(node_id)
        else:
            self.team(node_id)

    def partner(self, partner_id: str) -> None:
        self.providers.update(self.into(partner_id, _K.EMPLOYED_BY))

    def consent_or_order(self, node_id: str) -> None:
        self.students.update(self.out(node_id, _K.ABOUT))

    def guardian(self, guardian_id: str) -> None:
        self.students.update(self.out(guardian_id, _K.GUARDIAN_OF))

    def school(self, school_id: str) -> None:
        self.students.update(self.into(school_id, _K.ATTENDS))

    def signer(self, node_id: str) -> None:
        if self.kind(node_id) is _N.PARTNER:
            self.partner(node_id)
        else:
            self.providers.add(node_id)

    def node(self, kind: NodeKind, node_id: str) -> None:
        if kind is _N.STUDENT:
            self.students.add(node_id)
        elif kind is _N.PROVIDER:
            self.providers.add(node_id)
        elif kind in (_N.CONSENT, _N.LEGAL_ORDER):
            self.consent_or_order(node_id)
        elif kind is _N.GUARDIAN:
            self.guardian(node_id)
        elif kind is _N.PARTNER:
            self.partner(node_id)
        elif kind is _N.TEAM:
            self.team(node_id)
        elif kind is _N.SCHOOL:
            self.school(node_id)
        elif kind is _N.AGREEMENT:
            for signer in self.into(node_id, _K.SIGNED):
                self.signer(signer)
        elif kind is _N.COURSE:
            self.providers.update(self.into(node_id, _K.TRAINED))
        # Programs, communities, districts: reached through the edges that name them.

    def edge(self, e: Edge) -> None:
        k = e.kind
        if k in (_K.ABOUT, _K.GUARDIAN_OF, _K.SERVES):
            self.students.add(e.to_id)
        elif k in (_K.GIVEN_BY, _K.PERMITS):
            self.consent_or_order(e.from_id)
        elif k is _K.RESTRICTS:
            self.consent_or_order(e.from_id)
            self.guardian(e.to_id)
        elif k in (_K.ATTENDS, _K.LIVES_IN):
            self.students.add(e.from_id)
        elif k is _K.MEMBER_OF:
            self.member(e.from_id)
        elif k in (_K.TRAINED, _K.EMPLOYED_BY, _K.WORKS_IN):
            self.providers.add(e.from_id)
        elif k is _K.SIGNED:
            self.signer(e.from_id)
        elif k is _K.LOCATED_IN:
            self.school(e.from_id)
        elif k is _K.OFFERS:
            self.partner(e.from_id)
        # SERVES_AREA, PART_OF: no rule reads them.


def _effective(change: Change) -> datetime | None:
    if isinstance(change, CloseEdge):
        return change.at
    if change.effective_at is not None:
        return change.effective_at
    if isinstance(change, PutEdge):
        return change.edge.valid_from
    return None


def outbox_row(changes: Sequence[Change], tx: Any, edges: Iterable[Edge] = ()) -> str:
    """The ``data`` of the outbox row for a commit of `changes` (validated, effective ones).

    Parameters
    ----------
    changes : sequence of Change
        What the commit writes (after `graph.changes.validate`).
    tx : WriteTx
        The open write transaction: the committed state before these changes.
    edges : iterable of Edge
        The edges named by the batch's `CloseEdge` changes, as they were before (their
        endpoints say what the close touches).

    Returns
    -------
    str
        JSON: ``{"students": [...], "providers": [...], "effective": [iso...]}`` or
        ``{"all": true, "effective": [...]}`` for a batch above `ALL_THRESHOLD`.
    """
    effective = sorted({e.isoformat() for c in changes if (e := _effective(c)) is not None})
    if len(changes) > ALL_THRESHOLD:
        return json.dumps({"all": True, "effective": effective[-1:]})
    anchors = _Anchors(tx, changes)
    closed = {e.id: e for e in edges}
    for c in changes:
        if isinstance(c, PutNode):
            anchors.node(c.node.kind, c.node.id)
        elif isinstance(c, PutEdge):
            anchors.edge(c.edge)
        elif (old := closed.get(c.edge_id)) is not None:
            anchors.edge(old)
    return json.dumps(
        {"students": sorted(anchors.students), "providers": sorted(anchors.providers), "effective": effective},
        separators=(",", ":"),
    )
