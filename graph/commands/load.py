"""load: apply a loader's records to a store: all or nothing, idempotent, planned under the write lock.

Identity across sources (docs/identity.md): when a record with the same id already exists
(a student from OneRoster, then from Ed-Fi), the two are **merged**: a field the new
source leaves unstated (None, empty, a roster's `unverified` rights) keeps the value the
store has; a field it states replaces it. So a roster without birth dates never erases
one another source gave, and a re-import never undoes a guardian's verification.

The plan (what is created, updated or unchanged) is made **inside** the store's write
transaction, against the committed state (DESIGN.md, "Writes"): of two concurrent loads of
the same files, the second sees the first's records and reports them unchanged; the
journal grows once. A changed record becomes a new version effective from the commit's
record time (`graph.changes`), so answers about earlier instants do not change.

A load is refused whole when any loader reported a problem or when the store refuses the
batch (a dangling id, an id reused for another kind): the store is left exactly as it was.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from graph.changes import Change, PutEdge, PutNode, StateView, validate
from graph.errors import ChangeRejected, LoadError, Problem
from graph.model import Consent, ConsentStatus, Edge, FerpaRights, Node
from graph.stores.base import GraphStore, WriteTx

__all__ = ["ImportSummary", "Records", "load", "merge", "plan"]

R = TypeVar("R", Node, Edge)


class Records(Protocol):
    """What a loader hands over (`loaders.base.LoadResult`)."""

    nodes: list[Node]
    edges: list[Edge]
    problems: list[Problem]
    warnings: list[Problem]
    rows_read: int

    def counts(self) -> dict[str, int]: ...

    def node_location(self, index: int) -> tuple[str, int | None] | None: ...

    def edge_location(self, index: int) -> tuple[str, int | None] | None: ...


@dataclass(slots=True)
class ImportSummary:
    """Counts of one load: rows read, records created, updated, unchanged and rejected.

    ``token`` is the consistency token of the commit (pass it to later reads).
    """

    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: list[Problem] = field(default_factory=list)
    token: str | None = None
    dry_run: bool = False
    by_kind: dict[str, int] = field(default_factory=dict)


def _unstated(value: object) -> bool:
    """A value a source leaves unsaid: None, empty, or a roster's `unverified` rights."""
    return value is None or value == "" or value == frozenset() or value is FerpaRights.UNVERIFIED


def merge(current: R, new: R) -> R:
    """`new`, with every field it leaves unstated taken from `current` (same kind and id).

    Unstated: None, an empty string or set, and ``ferpa_rights=unverified`` (a roster
    carries no custody meaning, so re-importing it never undoes a steward's verification
    or a removal of rights). Every other value the new source states replaces the old.
    """
    if type(current) is not type(new):
        return new
    keep = {
        f.name: getattr(current, f.name)
        for f in dataclasses.fields(new)  # type: ignore[arg-type]
        if _unstated(getattr(new, f.name)) and not _unstated(getattr(current, f.name))
    }
    return dataclasses.replace(new, **keep) if keep else new  # type: ignore[type-var]


class _Reader(Protocol):
    def nodes_by_id(self, ids: Any) -> dict[str, Node]: ...

    def edges_by_id(self, ids: Any) -> dict[str, Edge]: ...


def plan(store: _Reader, result: Records) -> tuple[list[Change], ImportSummary]:
    """The changes a result would make (merged with what `store` holds), and the summary counts."""
    changes, _, summary = _plan(store, result)
    return changes, summary


def _plan(store: _Reader, result: Records) -> tuple[list[Change], array[int], ImportSummary]:
    """Changes, and for each the record it came from: node index i as i, edge index j as -(j + 1).

    A compact array, not a list of tuples: at 3.8 million records the difference is ~250 MB
    of a bulk load's peak memory.
    """
    summary = ImportSummary(rows_read=result.rows_read, warnings=list(result.warnings), by_kind=result.counts())
    changes: list[Change] = []
    origins: array[int] = array("q")
    # One batched lookup per side: a remote store (Neo4j) answers in a few round trips.
    known_nodes = store.nodes_by_id(n.id for n in result.nodes)
    known_edges = store.edges_by_id(e.id for e in result.edges)
    for i, node in enumerate(result.nodes):
        current = known_nodes.get(node.id)
        if current is not None:
            node = merge(current, node)
        if current == node:
            summary.unchanged += 1
            continue
        summary.updated += current is not None
        summary.created += current is None
        # A source saying the document was entered in error says it never held: a correction
        # that reaches back (DOMAIN.md, "Graph model"). Every other change holds from now on.
        erased = isinstance(node, Consent) and node.status is ConsentStatus.ENTERED_IN_ERROR and current is not None
        changes.append(PutNode(node, correction=erased))
        origins.append(i)
    for j, edge in enumerate(result.edges):
        current_edge = known_edges.get(edge.id)
        if current_edge is not None:
            # recorded_at is when the engine first learnt the fact: a re-load does not restate it.
            edge = dataclasses.replace(merge(current_edge, edge), recorded_at=current_edge.recorded_at)
        if current_edge == edge:
            summary.unchanged += 1
            continue
        summary.updated += current_edge is not None
        summary.created += current_edge is None
        changes.append(PutEdge(edge))
        origins.append(-(j + 1))
    return changes, origins, summary


def load(
    store: GraphStore,
    result: Records,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate and apply `result` to `store` as one atomic batch, planned under the write lock.

    Parameters
    ----------
    dry_run : bool
        Validate everything against the store and report, without writing.
    progress : callable(int)
        Called with the number of changes validated so far.

    Raises
    ------
    LoadError
        Any problem from the loaders, or a change the store refuses; its Problems name
        the file, line and field. Nothing has been written.
    StoreUnavailable
    """
    if result.problems:
        raise LoadError(result.problems)
    planned: dict[str, Any] = {}

    def work(tx: WriteTx) -> tuple[Sequence[Change], Mapping[str, Any]]:
        changes, origins, summary = _plan(tx, result)
        planned.update(origins=origins, summary=summary)
        return changes, {}

    try:
        if dry_run:
            changes, origins, summary = _plan(store, result)
            planned.update(origins=origins, summary=summary)
            view = StateView(lambda i: n.kind if (n := store.node(i)) is not None else None, store.edge)
            validate(changes, view, existing_node=store.node)
            summary.dry_run = True
        else:
            committed = store.transact(work)
            summary = planned["summary"]
            summary.token = committed.token
    except ChangeRejected as err:
        raise LoadError([_locate(err, planned.get("origins", array("q")), result)]) from err
    if progress is not None:
        progress(summary.created + summary.updated)
    return summary


def _locate(err: ChangeRejected, origins: array[int], result: Records) -> Problem:
    where: tuple[str, int | None] | None = None
    if err.index is not None and 0 <= err.index < len(origins):
        i = origins[err.index]
        where = result.node_location(i) if i >= 0 else result.edge_location(-i - 1)
    file, line = where or ("<load>", None)
    return Problem(file, line, err.field, str(err))
