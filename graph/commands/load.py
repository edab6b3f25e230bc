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

Incremental and full loads (docs/loaders/incremental.md), all planned in the same transaction:

* **References into the store.** A reference the package does not resolve
  (`loaders.base.StoreRef`: a delta's student, an Ed-Fi association's school) must name a
  node of the expected kind in the store, else the load is refused naming file, line, field.
* **Ends.** A ``tobedeleted`` row (`loaders.base.End`) closes the open edges it carried at its
  ``dateLastModified`` (else the commit's record time): `CloseEdge`, history kept. An active
  OneRoster delta row closes, the same way, the edges of its file it no longer carries.
* **Bulk omissions.** For each edge source a load restates in full (``bulk_sources``), a
  current edge of it the load no longer sends is closed at the record time. When that would
  end more than `MASS_END_SHARE` of the source's current edges the load is refused (saying how
  many and naming some) unless ``allow_mass_end``.
* **A relationship back.** An open edge arriving for an id the store holds closed, starting at
  or after that end, is a new period (``<id>@<start>``), so the ended period's history stays.
* **Soft starts.** An edge whose start is only a row's ``dateLastModified`` (``soft_starts``)
  never moves a current edge's earlier start: restating a link is not starting it.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from graph.changes import Change, CloseEdge, PutEdge, PutNode, StateView, validate
from graph.errors import ChangeRejected, LoadError, Problem
from graph.model import Consent, ConsentStatus, Edge, EdgeKind, FerpaRights, Node, NodeKind
from graph.stores.base import GraphStore, WriteTx
from graph.timeutil import to_iso

if TYPE_CHECKING:
    from loaders.base import End, StoreRef

__all__ = ["MASS_END_SHARE", "ImportSummary", "Records", "load", "merge", "period_id", "plan"]

MASS_END_SHARE: Final = 0.05
"""A bulk load may end at most this share of a source's current relationships without
``allow_mass_end`` (issue 11): a truncated export must not end a county's guardian links."""
MASS_END_SAMPLE: Final = 5
_END_ORIGIN: Final = -(2**62)
"""The origin of a close: no record of the result (its row names it in its own problems)."""

R = TypeVar("R", Node, Edge)


class Records(Protocol):
    """What a loader hands over (`loaders.base.LoadResult`)."""

    nodes: list[Node]
    edges: list[Edge]
    problems: list[Problem]
    warnings: list[Problem]
    rows_read: int

    store_refs: list[StoreRef]
    ends: list[End]
    bulk_sources: dict[str, frozenset[EdgeKind]]
    soft_starts: set[str]

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
    ended: int = 0
    """Relationships closed by this load (``tobedeleted`` rows, bulk omissions); history kept."""
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


def period_id(edge_id: str, start: datetime) -> str:
    """The id of a later period of a relationship the store holds ended: ``<id>@<start, UTC ISO>``."""
    return f"{edge_id}@{to_iso(start)}"


class _Refused(ChangeRejected):
    """Problems found while planning inside the transaction (a store may retry under its lock)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class _DryRun(ChangeRejected):
    """Raised after a dry run's plan validated: the transaction is rolled back, nothing written."""


def plan(store: WriteTx, result: Records, *, allow_mass_end: bool = False) -> tuple[list[Change], ImportSummary]:
    """The changes a result would make (merged with what `store` holds), and the summary counts.

    Raises
    ------
    LoadError
        A reference the store cannot resolve, or a refused mass end.
    """
    try:
        changes, _, summary = _plan(store, result, allow_mass_end)
    except _Refused as err:
        raise LoadError(err.problems) from err
    return changes, summary


def _plan(tx: WriteTx, result: Records, allow_mass_end: bool) -> tuple[list[Change], array[int], ImportSummary]:
    """Changes, and for each the record it came from: node index i as i, edge index j as -(j + 1).

    A compact array, not a list of tuples: at 3.8 million records the difference is ~250 MB
    of a bulk load's peak memory. Ends (`CloseEdge`) come last, with origin `_END_ORIGIN`.
    """
    summary = ImportSummary(rows_read=result.rows_read, warnings=list(result.warnings), by_kind=result.counts())
    dropped = _resolve_store_refs(tx, result.store_refs)
    changes: list[Change] = []
    origins: array[int] = array("q")
    # One batched lookup per side: a remote store (Neo4j) answers in a few round trips.
    known_nodes = tx.nodes_by_id(n.id for n in result.nodes)
    known_edges = tx.edges_by_id(e.id for e in result.edges)
    # A relationship back after an end is a later period: look those ids up in one more batch.
    reopened = {
        e.id: period_id(e.id, e.valid_from)
        for e in result.edges
        if (c := known_edges.get(e.id)) is not None and c.valid_to is not None and e.valid_to is None and e.valid_from >= c.valid_to
    }
    known_periods = tx.edges_by_id(reopened.values()) if reopened else {}
    for i, node in enumerate(result.nodes):
        current = known_nodes.get(node.id)
        if current is not None:
            node = merge(current, node)
        if current is not None and current == node:  # `None == record` calls the record's Python __eq__ (0.25 µs, millions of times)
            summary.unchanged += 1
            continue
        summary.updated += current is not None
        summary.created += current is None
        # A source saying the document was entered in error says it never held: a correction
        # that reaches back (DOMAIN.md, "Graph model"). Every other change holds from now on.
        erased = isinstance(node, Consent) and node.status is ConsentStatus.ENTERED_IN_ERROR and current is not None
        changes.append(PutNode(node, correction=erased))
        origins.append(i)
    soft = result.soft_starts
    stated: set[str] = set()
    for j, edge in enumerate(result.edges):
        if edge.id in dropped:
            continue
        soft_start = edge.id in soft
        period = reopened.get(edge.id)
        if period is not None:
            edge = dataclasses.replace(edge, id=period)
            current_edge = known_periods.get(period)
        else:
            current_edge = known_edges.get(edge.id)
        stated.add(edge.id)
        if current_edge is not None:
            # recorded_at is when the engine first learnt the fact: a re-load does not restate it.
            edge = dataclasses.replace(merge(current_edge, edge), recorded_at=current_edge.recorded_at)
            if soft_start and current_edge.valid_to is None and current_edge.valid_from <= edge.valid_from:
                # Restating a current link (its row modified later) is not starting it again.
                edge = dataclasses.replace(edge, valid_from=current_edge.valid_from, source=current_edge.source)
        if current_edge is not None and current_edge == edge:
            summary.unchanged += 1
            continue
        summary.updated += current_edge is not None
        summary.created += current_edge is None
        changes.append(PutEdge(edge))
        origins.append(-(j + 1))
    ends = _ends(tx, result.ends, stated, summary) + _bulk_ends(tx, result.bulk_sources, stated, allow_mass_end)
    closing: set[str] = set()
    for close in ends:
        if close.edge_id not in closing:
            closing.add(close.edge_id)
            changes.append(close)
            origins.append(_END_ORIGIN)
    summary.ended = len(closing)
    return changes, origins, summary


_KIND_WORDS: Final = {k: k.value.lower() for k in NodeKind}


def _resolve_store_refs(tx: WriteTx, refs: Sequence[StoreRef]) -> set[str]:
    """Every reference the package left open names a node of the expected kind in the store.

    Returns the ids of edges to drop (a reference to a kind that gives no edge, `StoreRef.skip_kinds`).
    """
    if not refs:
        return set()
    found = tx.nodes_by_id({r.node_id for r in refs})
    problems: list[Problem] = []
    dropped: set[str] = set()
    for r in refs:
        node = found.get(r.node_id)
        if node is not None and node.kind in r.skip_kinds:
            dropped.update(r.edge_ids)
        elif node is None:
            problems.append(Problem(r.file, r.line, r.field, f"{r.node_id!r} is not in the package nor in the store; expected {r.what}",
                                    r.path, value=r.node_id))
        elif node.kind not in r.kinds:
            problems.append(Problem(r.file, r.line, r.field, f"{r.node_id!r} is a {node.kind} in the store; expected {r.what}",
                                    r.path, value=r.node_id))
    if problems:
        raise _Refused(problems)
    return dropped


def _ends(tx: WriteTx, ends: Sequence[End], stated: set[str], summary: ImportSummary) -> list[CloseEdge]:
    """Closes for ``tobedeleted`` rows: each open edge the row carried, at the row's time."""
    out: list[CloseEdge] = []
    for end in ends:
        at = end.at or tx.now
        for kind, direction in end.sides:
            for edge in tx.edges_at(end.node_id, kind, "out" if direction == "out" else "in"):
                if edge.valid_to is not None or edge.id in stated or not (edge.source or "").startswith(end.source_prefix):
                    continue
                if end.other is not None and end.other not in (edge.from_id, edge.to_id):
                    continue
                if at < edge.valid_from:
                    summary.warnings.append(
                        Problem(end.file, end.line, "dateLastModified",
                                f"{edge.id} starts {to_iso(edge.valid_from)}, after this {end.why}'s time; "
                                "ended where it starts (it never held)")
                    )
                out.append(CloseEdge(edge.id, max(at, edge.valid_from)))
    return out


def _bulk_ends(tx: WriteTx, sources: Mapping[str, frozenset[EdgeKind]], stated: set[str], allow_mass_end: bool) -> list[CloseEdge]:
    """Closes for what a bulk reload no longer sends; refused (`_Refused`) past `MASS_END_SHARE`."""
    out: list[CloseEdge] = []
    problems: list[Problem] = []
    for source, kinds in sorted(sources.items()):
        current = [e for kind in sorted(kinds) for e in tx.open_edges_from(source, kind)]
        gone = [e for e in current if e.id not in stated]
        if not gone:
            continue
        if not allow_mass_end and len(gone) > MASS_END_SHARE * len(current):
            sample = ", ".join(e.id for e in gone[:MASS_END_SAMPLE]) + (f" and {len(gone) - MASS_END_SAMPLE:,} more"
                                                                         if len(gone) > MASS_END_SAMPLE else "")
            file = source.rsplit(":", 1)[-1]
            problems.append(
                Problem(file, None, None,
                        f"this bulk load would end {len(gone):,} of the {len(current):,} current relationships from {source} "
                        f"({len(gone) / len(current):.0%}; more than {MASS_END_SHARE:.0%} at once is refused): {sample}. "
                        "If the export is complete and they really ended, load again with --allow-mass-end")
            )
            continue
        out.extend(CloseEdge(e.id, max(tx.now, e.valid_from)) for e in gone)
    if problems:
        raise _Refused(problems)
    return out


def load(
    store: GraphStore,
    result: Records,
    *,
    dry_run: bool = False,
    allow_mass_end: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Validate and apply `result` to `store` as one atomic batch, planned under the write lock.

    Parameters
    ----------
    dry_run : bool
        Plan and validate everything against the committed store, inside the write
        transaction, and report; the transaction is rolled back.
    allow_mass_end : bool
        Let a bulk reload end more than `MASS_END_SHARE` of a source's current relationships.
    progress : callable(int)
        Called with the number of changes validated so far.

    Raises
    ------
    LoadError
        Any problem from the loaders, a reference neither the package nor the store
        resolves, a refused mass end, or a change the store refuses; its Problems name
        the file, line and field. Nothing has been written.
    StoreUnavailable
    """
    if result.problems:
        raise LoadError(result.problems)
    planned: dict[str, Any] = {}

    def work(tx: WriteTx) -> tuple[Sequence[Change], Mapping[str, Any]]:
        changes, origins, summary = _plan(tx, result, allow_mass_end)
        planned.update(origins=origins, summary=summary)
        if dry_run:
            view = StateView(lambda i: n.kind if (n := tx.node(i)) is not None else None, tx.edge)
            validate(changes, view, existing_node=tx.node)
            raise _DryRun("dry run")
        return changes, {}

    summary: ImportSummary
    try:
        committed = store.transact(work)
        summary = planned["summary"]
        summary.token = committed.token
    except _DryRun:
        summary = planned["summary"]
        summary.dry_run = True
    except _Refused as err:
        raise LoadError(err.problems) from err
    except ChangeRejected as err:
        raise LoadError([_locate(err, planned.get("origins", array("q")), result)]) from err
    if progress is not None:
        progress(summary.created + summary.updated)
    return summary


def _locate(err: ChangeRejected, origins: array[int], result: Records) -> Problem:
    where: tuple[str, int | None] | None = None
    if err.index is not None and 0 <= err.index < len(origins) and (i := origins[err.index]) != _END_ORIGIN:
        where = result.node_location(i) if i >= 0 else result.edge_location(-i - 1)
    file, line = where or ("<load>", None)
    return Problem(file, line, err.field, str(err))
