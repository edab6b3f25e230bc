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
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.errors import Problem
from graph.model import Edge, EdgeKind, Node, NodeKind, edge_from_dict, node_from_dict

__all__ = ["LoadResult", "edge_or_problem", "loads_json", "node_or_problem", "problems_from_validation"]


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

    def extend(self, other: LoadResult) -> None:
        """Append everything of `other` to this result."""
        self.nodes.extend(other.nodes)
        self.edges.extend(other.edges)
        self.problems.extend(other.problems)
        self.warnings.extend(other.warnings)
        self.rows_read += other.rows_read
        self.origin.update(other.origin)

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
    """`json.loads`, with a document nested deeper than Python's parser can follow reported as a
    `json.JSONDecodeError` (so every loader's handler turns it into a Problem, never a RecursionError)."""
    try:
        return json.loads(text)
    except RecursionError as err:
        raise json.JSONDecodeError("nested too deeply to read", text, 0) from err
