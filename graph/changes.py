"""Changes to the graph: the events of the journal.

Nothing is deleted. A change puts a node (create, or a new version of its properties),
puts an edge, or closes an edge's interval at a time. Every store validates a batch
against its current state with `validate` before applying any of it, so a batch is
all-or-nothing.

Effective-dated state (DOMAIN.md, "Graph model"): a put that changes an existing record's
properties does not overwrite it; it adds a **version** that holds from its
``effective_at`` (the source's stated time, else the commit's record time, stamped by
`stamp`). A question about an earlier instant sees the earlier version
(`graph.evidence.Evidence.as_at`). Only a put marked ``correction`` (FHIR
``entered-in-error``, an admin's correction) replaces the history: the fact was never
true. A change of an edge's interval alone (``valid_from``/``valid_to``) restates when the
relationship held and applies to every version, like `CloseEdge`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import ValidationError

from graph.errors import ChangeRejected
from graph.journal_json import dumps, loads, record_data
from graph.model import (
    ENDPOINTS,
    Edge,
    Node,
    NodeKind,
    Serves,
    edge_from_dict,
    node_from_dict,
)
from graph.timeutil import ensure_aware
from graph.trusted import trusted_edge, trusted_node

__all__ = [
    "Change",
    "CloseEdge",
    "PutEdge",
    "PutNode",
    "StateView",
    "change_from_json",
    "change_to_json",
    "interval_only",
    "stamp",
    "validate",
]


@dataclass(frozen=True, slots=True)
class PutNode:
    """Create a node, or record a new version of its properties (same id, same kind).

    ``effective_at``: when the new version takes effect (aware UTC); None: the commit's
    record time. ``correction``: the new version replaces every earlier one.
    """

    node: Node
    effective_at: datetime | None = None
    correction: bool = False


@dataclass(frozen=True, slots=True)
class PutEdge:
    """Create an edge, record a new version of it, or restate it unchanged (a no-op).

    ``effective_at`` and ``correction`` as for `PutNode`.
    """

    edge: Edge
    effective_at: datetime | None = None
    correction: bool = False


@dataclass(frozen=True, slots=True)
class CloseEdge:
    """Close an open edge's interval at `at` (exclusive end). History stays in the journal."""

    edge_id: str
    at: datetime


Change = PutNode | PutEdge | CloseEdge


class StateView:
    """What validation needs to know of a store: node kinds and edges by id.

    Stores pass two callables; batch-local additions are layered on top here.
    """

    def __init__(self, node_kind: Callable[[str], NodeKind | None], edge: Callable[[str], Edge | None]) -> None:
        self._node_kind = node_kind
        self._edge = edge
        self.new_nodes: dict[str, Node] = {}
        self.new_edges: dict[str, Edge] = {}

    def node_kind(self, node_id: str) -> NodeKind | None:
        node = self.new_nodes.get(node_id)
        return node.kind if node is not None else self._node_kind(node_id)

    def edge(self, edge_id: str) -> Edge | None:
        edge = self.new_edges.get(edge_id)
        return edge if edge is not None else self._edge(edge_id)


def validate(
    changes: Sequence[Change],
    view: StateView,
    *,
    existing_node: Callable[[str], Node | None],
    now: datetime | None = None,
) -> list[Change]:
    """Check a batch against the store's state; return the changes that change something.

    Restating an identical node or edge is dropped, so a repeated load is idempotent.
    With `now` (the commit's record time, aware UTC), a put that changes an existing
    record and states no ``effective_at`` is stamped with it (see the module docstring).

    Raises
    ------
    ChangeRejected
        A duplicate id of another kind, a dangling or wrongly-kinded endpoint, an edge id
        reused for a different relationship, or a close of an unknown or already-closed edge.
        `index` names the position in the batch.
    """
    effective: list[Change] = []
    for i, change in enumerate(changes):
        if isinstance(change, PutNode):
            node = change.node
            kind = view.node_kind(node.id)
            if kind is not None and kind is not node.kind:
                raise ChangeRejected(f"id {node.id!r} is already a {kind}, not a {node.kind}", field="id", index=i)
            current = view.new_nodes.get(node.id) or existing_node(node.id)
            if current is not None and current == node:  # cheaper than `None == record` (a Python __eq__ call)
                continue
            view.new_nodes[node.id] = node
            effective.append(_stamped(change, now) if current is not None else change)
        elif isinstance(change, PutEdge):
            edge = change.edge
            _check_endpoints(edge, view, i)
            current_edge = view.edge(edge.id)
            if current_edge is not None:
                if current_edge == edge:
                    continue
                if (current_edge.kind, current_edge.from_id, current_edge.to_id) != (edge.kind, edge.from_id, edge.to_id):
                    raise ChangeRejected(
                        f"edge id {edge.id!r} already names {current_edge.kind} {current_edge.from_id}->{current_edge.to_id}",
                        field="id",
                        index=i,
                    )
            view.new_edges[edge.id] = edge
            stamp_it = current_edge is not None and not interval_only(current_edge, edge)
            effective.append(_stamped(change, now) if stamp_it else change)
        else:
            ensure_aware(change.at)
            existing = view.edge(change.edge_id)
            if existing is None:
                raise ChangeRejected(f"no edge with id {change.edge_id!r}", field="edge_id", index=i)
            if change.at < existing.valid_from:
                raise ChangeRejected("cannot close an edge before it starts", field="at", index=i)
            if existing.valid_to is not None:
                if existing.valid_to == change.at:
                    continue
                raise ChangeRejected(f"edge {change.edge_id!r} is already closed", field="edge_id", index=i)
            closed = dataclasses.replace(existing, valid_to=change.at)
            view.new_edges[existing.id] = closed
            effective.append(change)
    return effective


_INTERVAL_FIELDS: Final = frozenset({"valid_from", "valid_to", "recorded_at", "source"})


def interval_only(old: Edge, new: Edge) -> bool:
    """True when two versions of an edge differ at most in their interval (and provenance).

    Such a put restates when the relationship held; it applies to every version.
    """
    if type(old) is not type(new):
        return False
    return all(
        getattr(old, f.name) == getattr(new, f.name)
        for f in dataclasses.fields(new)  # type: ignore[arg-type]
        if f.name not in _INTERVAL_FIELDS
    )


def _stamped(change: PutNode | PutEdge, now: datetime | None) -> Change:
    if change.effective_at is not None or change.correction or now is None:
        return change
    return dataclasses.replace(change, effective_at=now)


def stamp(change: Change, now: datetime) -> Change:
    """`change` with ``effective_at`` set to `now` when it is a put that states none."""
    return _stamped(change, now) if isinstance(change, (PutNode, PutEdge)) else change


def _check_endpoints(edge: Edge, view: StateView, index: int) -> None:
    allowed_from, allowed_to = ENDPOINTS[edge.kind]
    for field, node_id, allowed in (("from_id", edge.from_id, allowed_from), ("to_id", edge.to_id, allowed_to)):
        kind = view.node_kind(node_id)
        if kind is None:
            raise ChangeRejected(f"{edge.kind} {edge.id!r}: unknown node {node_id!r}", field=field, index=index)
        if kind not in allowed:
            names = ", ".join(sorted(allowed))
            raise ChangeRejected(f"{edge.kind} {edge.id!r}: {node_id!r} is a {kind}, expected {names}", field=field, index=index)
    if isinstance(edge, Serves) and edge.program is not None and view.node_kind(edge.program) is not NodeKind.PROGRAM:
        raise ChangeRejected(f"SERVES {edge.id!r}: program {edge.program!r} is not a Program", field="program", index=index)


# ---------------------------------------------------------------------------- journal encoding

_OPS: Final = ("put_node", "put_edge", "close_edge")


_EFFECTIVE: Final = "@effective_at"
_CORRECTION: Final = "@correction"


def _put_data(record: Node | Edge, effective_at: datetime | None, correction: bool) -> str:
    data = record_data(record)
    # Version metadata rides in the record's row under keys no field can have.
    if effective_at is not None:
        data[_EFFECTIVE] = effective_at.isoformat()
    if correction:
        data[_CORRECTION] = True
    return dumps(data)


def change_to_json(change: Change) -> tuple[str, str, str, str]:
    """(op, kind, id, data JSON) for the journal row of a change."""
    if isinstance(change, PutNode):
        return "put_node", str(change.node.kind), change.node.id, _put_data(change.node, change.effective_at, change.correction)
    if isinstance(change, PutEdge):
        return "put_edge", str(change.edge.kind), change.edge.id, _put_data(change.edge, change.effective_at, change.correction)
    return "close_edge", "", change.edge_id, dumps({"at": change.at.isoformat()})


def change_from_json(op: str, kind: str, record_id: str, data: str, *, trusted: bool = False) -> Change:
    """Inverse of `change_to_json`.

    ``trusted``: the row was written by this engine after validation (journal replay), so
    records are rebuilt without validating again (`graph.trusted`).

    Raises
    ------
    ChangeRejected
        A journal row that does not decode (a corrupt or foreign journal).
    """
    try:
        payload = loads(data)
        if op in ("put_node", "put_edge"):
            raw = payload.pop(_EFFECTIVE, None)
            effective = None if raw is None else ensure_aware(datetime.fromisoformat(raw))
            correction = bool(payload.pop(_CORRECTION, False))
            if op == "put_node":
                return PutNode(trusted_node(kind, payload) if trusted else node_from_dict(kind, payload), effective, correction)
            return PutEdge(trusted_edge(kind, payload) if trusted else edge_from_dict(kind, payload), effective, correction)
        if op == "close_edge":
            return CloseEdge(record_id, ensure_aware(datetime.fromisoformat(payload["at"])))
    except (ValueError, KeyError, ValidationError) as err:
        raise ChangeRejected(f"journal row {op} {record_id!r} does not decode: {err}") from err
    raise ChangeRejected(f"journal row with unknown op {op!r} (expected one of {_OPS})")
