"""``--map`` column rows: a source's own column names onto the format's (issue 11, "Mappings").

A mapping file row ``column,users.csv:parentSourcedId,agentSourcedIds`` says: in the file
named ``users.csv``, the column the exporting system calls ``parentSourcedId`` is the
format's ``agentSourcedIds``. The CSV loaders (OneRoster, SDS, HSDS) rename the header before
anything else reads it, so required columns, near-miss checks, line numbers and every Problem
behave as for a file that used the format's name.

Checked before reading (`check`): the file must be one the format reads and the target a
column the format defines for it; two source columns onto one target of a file is a
Problem. While reading (`ColumnMap.header`): a header holding both the source column and
the target is a Problem (which one is meant?). After reading (`ColumnMap.unused`): a row
that matched no header read is a warning (a typo would otherwise be silent). Every Problem
and warning names the map entry (mapping file, line, row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from graph.errors import Problem
from loaders.columns import ONEROSTER, SDS, Columns, near_miss
from loaders.sds_classic import _V1_COLUMNS, V2_0_USERS  # the classic SDS layouts' own columns

__all__ = ["FORMAT_COLUMNS", "ColumnMap", "ColumnRename", "check"]


@dataclass(frozen=True, slots=True)
class ColumnRename:
    """One ``column`` row of a mapping file: in `file`, column `source` is the format's `target`."""

    file: str
    source: str
    target: str
    map_file: str
    line: int

    @property
    def entry(self) -> str:
        """The row as written, with where it is: ``ids.csv:3 (column,users.csv:parentSourcedId,agentSourcedIds)``."""
        return f"{self.map_file}:{self.line} (column,{self.file}:{self.source},{self.target})"


def _names(columns: Columns, *extra: str) -> frozenset[str]:
    return columns.known | columns.relations | frozenset(extra)


def _sds_classic() -> dict[str, frozenset[str]]:
    out = {name: _names(cols) for name, cols in _V1_COLUMNS.items()}
    out["users.csv"] = _names(V2_0_USERS)
    return out


_HSDS: Final[dict[str, frozenset[str]]] = {
    "organizations.csv": frozenset({"id", "name"}),
    "services.csv": frozenset({"id", "organization_id", "location_id", "name", "status", "service_areas"}),
    "service_areas.csv": frozenset({"id", "service_id", "name", "extent", "service_area"}),
    "locations.csv": frozenset({"id", "organization_id"}),
    "programs.csv": frozenset({"id"}),
}
"""HSDS: the columns this loader reads per table (`loaders.hsds`); others are never held."""


def _format_columns() -> dict[str, dict[str, frozenset[str]]]:
    sds = {name: _names(cols) for name, cols in SDS.items()}
    for name, cols in _sds_classic().items():
        sds[name] = sds.get(name, frozenset()) | cols
    return {
        "oneroster": {name: _names(cols) for name, cols in ONEROSTER.items() if name != "manifest.csv"},
        "sds": sds,
        "hsds": _HSDS,
    }


FORMAT_COLUMNS: Final = _format_columns()
"""Per format that reads CSV: file name -> the column names a ``column`` row may map onto."""


def check(fmt: str, renames: Sequence[ColumnRename]) -> list[Problem]:
    """Problems of `renames` for format `fmt`, each naming its map entry (empty: all fine).

    A format without CSV columns (Ed-Fi, FHIR, our bundle) takes no column rows; the file
    must be one the format reads, the target one of its columns there, and a file's target
    is mapped from one source column only.
    """
    by_name = FORMAT_COLUMNS.get(fmt)
    if by_name is None:
        return [Problem(r.map_file, r.line, "kind", f"{r.entry}: {fmt} has no CSV columns to rename (column rows apply to "
                                                    f"{', '.join(sorted(FORMAT_COLUMNS))})", value=r.source) for r in renames]
    files = {name.lower(): cols for name, cols in by_name.items()}  # SDS v1 file names match in any case
    out: list[Problem] = []
    seen: dict[tuple[str, str], ColumnRename] = {}
    for r in renames:
        known = files.get(r.file.lower())
        if known is None:
            out.append(Problem(r.map_file, r.line, "source", f"{r.entry}: {r.file} is not a file {fmt} reads "
                                                              f"(one of: {', '.join(sorted(by_name))})", value=r.file))
            continue
        if r.target not in known:
            alt = near_miss(r.target, known)
            hint = f"did you mean {alt}? " if alt else ""
            out.append(Problem(r.map_file, r.line, "target", f"{r.entry}: {r.target!r} is not a column of {fmt} {r.file} "
                                                              f"({hint}one of: {', '.join(sorted(known))})", value=r.target))
            continue
        first = seen.setdefault((r.file.lower(), r.target), r)
        if first is not r:
            out.append(Problem(r.map_file, r.line, "target", f"{r.entry}: {r.file} {r.target} is already mapped from "
                                                              f"{first.source!r} by {first.entry}", value=r.target))
    return out


class ColumnMap:
    """The column rows of one load, applied to each header read; remembers which rows matched."""

    def __init__(self, renames: Iterable[ColumnRename]) -> None:
        self._by_file: dict[str, dict[str, ColumnRename]] = {}
        for r in renames:
            self._by_file.setdefault(r.file.lower(), {})[r.source] = r
        self._used: set[ColumnRename] = set()

    def __bool__(self) -> bool:
        return bool(self._by_file)

    def header(self, file: str, names: Sequence[str]) -> tuple[list[str], list[Problem]]:
        """`names` (a stripped header of `file`) with mapped columns renamed, and the Problems found.

        File names match without regard to case (SDS v1 files are matched so). A header
        holding both a mapped column and its target is a Problem at line 1 naming the map
        entry; the names are returned unchanged then.
        """
        mapped: Mapping[str, ColumnRename] = self._by_file.get(file.lower(), {})
        if not mapped:
            return list(names), []
        present = set(names)
        problems = [
            Problem(file, 1, r.target, f"the header has both {r.source} and {r.target}; {r.entry} would make them one "
                                       "column: remove the row or the column", value=r.source)
            for r in mapped.values() if r.source in present and r.target in present
        ]
        if problems:
            return list(names), problems
        out = []
        for name in names:
            r = mapped.get(name)
            if r is not None:
                self._used.add(r)
                name = r.target
            out.append(name)
        return out, []

    def unused(self) -> list[Problem]:
        """One warning per row that renamed no column of any file read."""
        return [
            Problem(r.map_file, r.line, "source", f"{r.entry} matched no column read: no file {r.file} with a column "
                                                  f"{r.source} was read", value=r.source)
            for rows in self._by_file.values() for r in rows.values() if r not in self._used
        ]
