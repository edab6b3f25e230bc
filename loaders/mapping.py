"""Mapping files (`needtoknow load --map FILE`): a partner's codes and ids onto ours.

A mapping file is CSV with the header ``kind,source,target``, one mapping per row:

| kind | source | target |
| --- | --- | --- |
| ``purpose`` | ``<code system>|<code>`` (or a bare code) | our purpose code (``academic_support``) |
| ``category`` | ``<code system>|<code>`` (or a bare code) | our data category (``attendance``) |
| ``id`` | a source reference (``Patient/stu-1001``, ``RelatedPerson/gdn-1``,
  ``Organization/org-1``, ``Patient?identifier=<system>|<value>``) | an existing node id |
| ``column`` | ``<file>:<the source's column name>`` (``users.csv:parentSourcedId``) | the
  format's column name (``agentSourcedIds``); CSV formats only (`loaders.column_map`) |

Read by the FHIR Consent loader (the loader that reads code systems and foreign
references; docs/loaders/fhir_consent.md). Several files may be given; a later row for the
same source replaces an earlier one only if it agrees, otherwise it is a Problem.

The roster and directory loaders (OneRoster, SDS, Ed-Fi, HSDS) read foreign ids but no
codes of ours: for them ``id`` rows apply (a source id, e.g. a sourcedId or a
StudentUniqueId, -> an existing node id), through `apply_ids` on what the loader returned,
and, for the CSV ones (OneRoster, SDS, HSDS), ``column`` rows (`loaders.column_map`).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from graph.errors import Problem
from loaders.base import LoadResult
from loaders.column_map import ColumnRename

__all__ = ["KINDS", "Mappings", "apply_ids", "read_mappings"]

KINDS: Final = ("purpose", "category", "id", "column")
_CODE: Final = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(slots=True)
class Mappings:
    """What mapping files say, by kind, plus the Problems found reading them."""

    purpose: dict[str, str] = field(default_factory=dict)
    category: dict[str, str] = field(default_factory=dict)
    id: dict[str, str] = field(default_factory=dict)
    column: list[ColumnRename] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_mappings(paths: Sequence[Path], categories: frozenset[str] | None = None) -> Mappings:
    """Read mapping files; every bad row is a Problem naming file, line and field (never raises).

    `categories`, when given, is the known data category list: a ``category`` target
    outside it is a Problem.
    """
    out = Mappings()
    for path in paths:
        name = path.name
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            out.problems.append(Problem(name, None, None, f"cannot read mapping file: {err}"))
            continue
        rows = csv.reader(text.splitlines())
        header = [h.strip() for h in next(rows, [])]
        if header != ["kind", "source", "target"]:
            out.problems.append(Problem(name, 1, None, f"header must be kind,source,target (found {','.join(header) or 'nothing'})"))
            continue
        for line, cells in enumerate(rows, start=2):
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != 3:
                out.problems.append(Problem(name, line, None, f"expected 3 cells (kind,source,target), found {len(cells)}"))
                continue
            kind, source, target = (c.strip() for c in cells)
            if kind not in KINDS:
                out.problems.append(Problem(name, line, "kind", f"unknown kind {kind!r} (one of: {', '.join(KINDS)})", value=kind))
                continue
            if not source or not target:
                out.problems.append(Problem(name, line, "source" if not source else "target", "empty"))
                continue
            if kind == "column":
                _column(out, name, line, source, target)
                continue
            if kind != "id" and not _CODE.match(target):
                out.problems.append(Problem(name, line, "target", f"{target!r} is not a code of ours ([a-z][a-z0-9_]*)", value=target))
                continue
            if kind == "category" and categories is not None and target not in categories:
                out.problems.append(Problem(name, line, "target", f"{target!r} is not a data category of ours", value=target))
                continue
            table: dict[str, str] = getattr(out, kind)
            before = table.get(source)
            if before is not None and before != target:
                out.problems.append(
                    Problem(name, line, "target", f"{kind} {source} is mapped twice: to {before!r} and to {target!r}", value=target)
                )
                continue
            table[source] = target
    return out


def _column(out: Mappings, name: str, line: int, source: str, target: str) -> None:
    """A ``column`` row: ``<file>:<column>`` -> a column name; the same source twice must agree."""
    file, _, column = source.partition(":")
    file, column = file.strip(), column.strip()
    if not file or not column:
        out.problems.append(Problem(name, line, "source", f"column source {source!r} must be <file>:<column>, "
                                                          "e.g. users.csv:parentSourcedId", value=source))
        return
    for before in out.column:
        if before.file == file and before.source == column and before.target != target:
            out.problems.append(Problem(name, line, "target", f"column {file}:{column} is mapped twice: to {before.target!r} "
                                                              f"({before.entry}) and to {target!r}", value=target))
            return
        if before.file == file and before.source == column:
            return
    out.column.append(ColumnRename(file, column, target, name, line))


def apply_ids(result: LoadResult, ids: Mapping[str, str], map_file: str = "--map") -> None:
    """Rename source ids to the node ids `ids` maps them to, everywhere in `result` (in place).

    A record read with a mapped id is loaded under the target id (so it merges with the node
    the store holds, docs/identity.md); every edge endpoint, store reference and end naming it
    follows; an edge id is rewritten segment by segment (``:``-separated), so derived ids stay
    stable across loads. A mapping that matches nothing read is a warning (a typo would
    otherwise be silent); a target that is also an id read from the files is a Problem.
    """
    if not ids:
        return
    read_ids = {n.id for n in result.nodes}
    used: set[str] = set()
    for source, target in ids.items():
        if target in read_ids and source in read_ids:
            result.problems.append(
                Problem(map_file, None, "target", f"id {source} is mapped to {target!r}, which the files read also hold; "
                                                  "two records would become one", value=target)
            )

    def rename(node_id: str) -> str:
        target = ids.get(node_id)
        if target is None:
            return node_id
        used.add(node_id)
        return target

    def rename_edge_id(edge_id: str) -> str:
        parts = edge_id.split(":")
        return ":".join(ids.get(p, p) for p in parts) if any(p in ids for p in parts) else edge_id

    result.nodes = [n if n.id not in ids else dataclasses.replace(n, id=rename(n.id)) for n in result.nodes]
    result.edges = [
        e if e.from_id not in ids and e.to_id not in ids
        else dataclasses.replace(e, id=rename_edge_id(e.id), from_id=rename(e.from_id), to_id=rename(e.to_id))
        for e in result.edges
    ]
    result.origin = {rename_edge_id(rename(k)): v for k, v in result.origin.items()}
    result.soft_starts = {rename_edge_id(i) for i in result.soft_starts}
    result.store_refs = [r if r.node_id not in ids else dataclasses.replace(
        r, node_id=rename(r.node_id), edge_ids=tuple(rename_edge_id(i) for i in r.edge_ids)) for r in result.store_refs]
    result.ends = [e if e.node_id not in ids and e.other not in ids else dataclasses.replace(
        e, node_id=rename(e.node_id), other=None if e.other is None else rename(e.other)) for e in result.ends]
    unused = sorted(set(ids) - used)
    if unused:
        shown = ", ".join(unused[:10]) + (f" and {len(unused) - 10} more" if len(unused) > 10 else "")
        result.warnings.append(Problem(map_file, None, "source", f"{len(unused)} id mapping(s) matched nothing read: {shown}"))
