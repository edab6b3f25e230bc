"""What every loader returns: canonical records plus the problems found.

A loader reads source files and returns a `LoadResult`; it never writes to a store.
A bad row becomes a `Problem` (file, line, field, message) and never aborts the file;
the caller (`loaders.importer`) refuses the whole load when any problem is fatal, so
a failed load leaves the store as it was.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import orjson
from pydantic import ValidationError

from graph.errors import Problem
from graph.model import Edge, EdgeKind, Node, NodeKind, edge_from_dict, node_from_dict

__all__ = [
    "End",
    "LoadResult",
    "StoreRef",
    "MissingStarts",
    "consequence_problems",
    "edge_or_problem",
    "files_found",
    "has_float",
    "loads_json",
    "node_or_problem",
    "problems_from_validation",
    "warn_students_without_guardians",
]


@dataclass(frozen=True, slots=True)
class StoreRef:
    """A reference the package does not resolve: the store must hold `node_id` as one of `kinds`.

    Incremental files (a OneRoster delta, one Ed-Fi interchange, an SDS file set) name
    records loaded earlier; the load command resolves these inside its write transaction
    and refuses the load, naming `file`, `line` and `field`, when the store lacks them.
    `what` is the expectation in words (``"a guardian"``).
    """

    node_id: str
    kinds: frozenset[NodeKind]
    file: str
    line: int | None
    field: str
    what: str
    skip_kinds: frozenset[NodeKind] = frozenset()
    """Kinds that are no error but give no edge: the load drops `edge_ids` (a student's
    ``orgSourcedIds`` naming a district in the store: no attendance, as in a full package)."""
    edge_ids: tuple[str, ...] = ()
    path: str | None = None
    """The JSON pointer or XML path of the reference when the file has no lines."""


@dataclass(frozen=True, slots=True)
class End:
    """A source row saying relationships end (OneRoster/SDS ``status=tobedeleted``, or an active
    OneRoster delta row: the record's full current state, so links it no longer carries end).

    Ends, at `at` (aware UTC; None: the load's record time), every open edge of each
    ``(kind, direction)`` in `sides` at `node_id` whose ``source`` starts with
    `source_prefix` (only what this source stated is ended) and, when `other` is set,
    whose other endpoint is `other`. An edge the same load states again is not ended.
    History is kept: the edge's interval is closed (`graph.changes.CloseEdge`).
    """

    node_id: str
    sides: tuple[tuple[EdgeKind, str], ...]
    at: datetime | None
    file: str
    line: int | None
    source_prefix: str
    other: str | None = None
    why: str = "tobedeleted row"
    """What the row is, for the warning when its time is before an edge's start."""


@dataclass(slots=True)
class LoadResult:
    """Records read from one source package, in dependency order (nodes, then edges).

    ``warnings`` are problems that do not stop a load (a dropped demographic column, an
    unmapped FHIR element); ``problems`` stop it.
    """

    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    origin: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    """Optional: record id -> (file name, line) where it was read, for the importer's messages."""
    rejected: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    """Ids of rows refused by a Problem -> (file, line): a reference to one is that problem's
    consequence, reported once with it, not as an id "not in the package"."""
    refused_files: set[str] = field(default_factory=set)
    """Files not read at all (missing, empty, a bad header): references into them are
    reported as a consequence of that one problem, not each as its own root cause."""
    store_refs: list[StoreRef] = field(default_factory=list)
    """References to records not in the package: resolved against the store by the load."""
    ends: list[End] = field(default_factory=list)
    """Relationships a row ends (``tobedeleted``): closed by the load, history kept."""
    bulk_sources: dict[str, frozenset[EdgeKind]] = field(default_factory=dict)
    """Edge ``source`` values this load restates in full (a OneRoster ``bulk`` file), with the
    edge kinds the file carries: a current edge of that source and kind the load omits is ended
    (guarded by ``--allow-mass-end``, `graph.commands.load`)."""
    soft_starts: set[str] = field(default_factory=set)
    """Ids of edges whose ``valid_from`` is only when a row was modified (``dateLastModified``) or
    ``--valid-from``, not a date the source gives for the relationship: an earlier start the
    store already holds is kept."""

    def extend(self, other: LoadResult) -> None:
        """Append everything of `other` to this result."""
        self.nodes.extend(other.nodes)
        self.edges.extend(other.edges)
        self.problems.extend(other.problems)
        self.warnings.extend(other.warnings)
        self.rows_read += other.rows_read
        self.origin.update(other.origin)
        self.refused_files |= other.refused_files
        self.rejected.update(other.rejected)
        self.store_refs.extend(other.store_refs)
        self.ends.extend(other.ends)
        self.bulk_sources.update(other.bulk_sources)
        self.soft_starts |= other.soft_starts

    def node_location(self, index: int) -> tuple[str, int | None] | None:
        """(file, line) where ``nodes[index]`` was read, if the loader recorded it."""
        return self.origin.get(self.nodes[index].id)

    def edge_location(self, index: int) -> tuple[str, int | None] | None:
        """(file, line) where ``edges[index]`` was read, if the loader recorded it."""
        return self.origin.get(self.edges[index].id)

    @property
    def ok(self) -> bool:
        """True when no problem stops the load."""
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Records per node kind and edge kind, e.g. ``{"Student": 12, "GUARDIAN_OF": 20}``."""
        c: Counter[str] = Counter(str(n.kind) for n in self.nodes)
        c.update(str(e.kind) for e in self.edges)
        return dict(sorted(c.items()))


def problems_from_validation(err: ValidationError, file: str | Path, line: int | None, path: str | None = None) -> list[Problem]:
    """One Problem per pydantic error, naming the field."""
    name = Path(file).name
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or None
        out.append(Problem(name, line, loc, str(e["msg"]), path))
    return out


def node_or_problem(
    result: LoadResult, kind: NodeKind, data: dict[str, Any], file: str | Path, line: int | None, path: str | None = None
) -> Node | None:
    """Validate `data` as a node; on failure record Problems in `result` and return None."""
    try:
        node = node_from_dict(kind, data)
    except ValidationError as err:
        result.problems.extend(problems_from_validation(err, file, line, path))
        return None
    result.nodes.append(node)
    return node


def edge_or_problem(
    result: LoadResult, kind: EdgeKind, data: dict[str, Any], file: str | Path, line: int | None, path: str | None = None
) -> Edge | None:
    """Validate `data` as an edge; on failure record Problems in `result` and return None."""
    try:
        edge = edge_from_dict(kind, data)
    except ValidationError as err:
        result.problems.extend(problems_from_validation(err, file, line, path))
        return None
    result.edges.append(edge)
    return edge


def iter_problems(results: Iterable[LoadResult]) -> list[Problem]:
    """All problems of several results, in order."""
    return [p for r in results for p in r.problems]


def loads_json(text: str) -> Any:
    """The value `json.loads` gives, with a document nested deeper than Python's parser can follow
    reported as a `json.JSONDecodeError` (so every loader's handler turns it into a Problem, never
    a RecursionError).

    Read by orjson first (a bundle line in about a third of the time); a text orjson refuses
    (malformed, or legal only to the json module: NaN, huge floats, lone surrogates) is read
    again by the json module, so the value and the error message are the json module's. So is a
    text whose value holds a float: orjson reads an integer past 64 bits as one.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = _FLOAT
    if value is not _FLOAT and not has_float(value):
        return value
    try:
        return json.loads(text)
    except RecursionError as err:
        raise json.JSONDecodeError("nested too deeply to read", text, 0) from err


_FLOAT: Final = object()


def has_float(value: Any) -> bool:
    """True when a value read from JSON (dicts, lists, scalars) holds a float anywhere."""
    kind = type(value)
    if kind is float:
        return True
    if kind is dict:
        items: Iterable[Any] = value.values()
    elif kind is list:
        items = value
    else:
        return False
    kinds = set(map(type, items))  # one pass in C: a bundle line is a flat object of strings
    if float in kinds:
        return True
    return (dict in kinds or list in kinds) and any(has_float(v) for v in items if type(v) in (dict, list))


def files_found(directory: Path, wanted: str, hint: str) -> Problem:
    """The Problem for a directory holding no file a loader reads: what it looked for, what it found.

    `wanted` names the pattern (``"*.xml"``); `hint` says what the format is read from.
    E.g. ``csv-only: no *.xml files in csv-only; found 1 file: School.csv (.csv). Ed-Fi is read from XML ...``.
    """
    found = sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if not found:
        what = "the directory is empty"
    else:
        kinds = Counter(Path(f).suffix.lower() or "(no suffix)" for f in found)
        listed = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        what = f"found {len(found)} file{'s' if len(found) != 1 else ''}: {listed} ({', '.join(f'{n} {k}' for k, n in kinds.items())})"
    return Problem(directory.name, None, None, f"no {wanted} files in {directory}; {what}. {hint}")


def warn_students_without_guardians(result: LoadResult, file: str, where: str) -> None:
    """One warning when students of a load that could carry guardian links have none.

    A roster whose guardian column was renamed or left out loads students who can never
    be consented for by a parent; the summary must say so (issue 11, "Silent success").
    `where` names where the format carries the links (``"users.csv agentSourcedIds"``).
    """
    students = [n.id for n in result.nodes if n.kind is NodeKind.STUDENT]
    if not students:
        return
    linked = {e.to_id for e in result.edges if e.kind is EdgeKind.GUARDIAN_OF}
    missing = [s for s in students if s not in linked]
    if not missing:
        return
    sample = ", ".join(repr(s) for s in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    whole = "no student has" if len(missing) == len(students) else f"{len(missing):,} of {len(students):,} students have"
    result.warnings.append(
        Problem(file, None, "GUARDIAN_OF", f"{whole} a guardian link ({sample}); this format carries them in {where}")
    )


@dataclass(slots=True)
class MissingStarts:
    """Edges whose source gives no start date and no ``default_valid_from`` was given.

    A relationship holds only from when a source says it does (issue 11, "Invented
    intervals"): without the source's own date and without an explicit start
    (``--valid-from``) such an edge is a Problem. Reported once per (file, edge kind) with
    the first line and a count, not once per row.
    """

    default: datetime | None
    seen: dict[tuple[str, str], tuple[int | None, str, int]] = field(default_factory=dict)

    def start(self, own: datetime | None, file: str, line: int | None, kind: str, edge_id: str) -> datetime | None:
        """`own` (the source's date) if any, else the default; None (and noted) when neither exists."""
        if own is not None:
            return own
        if self.default is not None:
            return self.default
        first = self.seen.get((file, kind))
        self.seen[(file, kind)] = (line, edge_id, 1) if first is None else (first[0], first[1], first[2] + 1)
        return None

    def report(self, result: LoadResult, own_dates: str) -> None:
        """One Problem per (file, kind); `own_dates` says which source dates would have served."""
        for (file, kind), (line, edge_id, n) in self.seen.items():
            result.problems.append(
                Problem(file, line, "valid_from",
                        f"{n:,} {kind} edge(s) (first: {edge_id}) have no start date: the source gives none ({own_dates}) "
                        "and no --valid-from (default_valid_from) was given; a relationship is not assumed to hold "
                        "from an invented date")
            )
        self.seen.clear()


def consequence_problems(refs: dict[str, list[tuple[str, int | None, str]]], rejected: dict[str, tuple[str, int | None]]) -> list[Problem]:
    """One Problem per rejected id that others reference: the references as its consequence.

    `refs` maps a rejected id to the (file, line, field) of each reference to it.
    """
    out: list[Problem] = []
    for ref, places in refs.items():
        file, line = rejected[ref]
        at = f"{file}:{line}" if line is not None else file
        file0, line0, field0 = places[0]
        shown = ", ".join(f"{f}:{n}" if n is not None else f for f, n, _ in places[:5]) + (
            f" and {len(places) - 5} more" if len(places) > 5 else ""
        )
        out.append(
            Problem(file0, line0, field0,
                    f"{len(places)} reference(s) to {ref!r} ({shown}): its row at {at} was rejected (the problem "
                    "reported there); fix that row first", value=ref)
        )
    return out
