"""What `needtoknow load` adds around a loader (issue 9 item 4, issue 11), kept apart from the command.

Options (`--report`, `--allow-empty`, `--map`, `--strict`, `--valid-from` help), the
per-format reader options (the partnership's time zone and exit-date policy, mappings),
the refusal of a load that read nothing, the CSV report, and the legend of the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.markup import escape

from api.cli import render
from graph.errors import Problem
from graph.policy import Policy
from loaders.base import LoadResult
from loaders.column_map import ColumnMap, check
from loaders.mapping import Mappings, read_mappings
from loaders.report import write_report

__all__ = [
    "SUMMARY_LEGEND",
    "AllowEmptyOption",
    "AllowMassEndOption",
    "MapOption",
    "ReportOption",
    "SourceOption",
    "StrictOption",
    "ValidFromOption",
    "ID_MAPPED",
    "column_warnings",
    "id_map_for",
    "more_hint",
    "reader_options",
    "refuse_if_empty",
    "report_to",
]

ValidFromOption = Annotated[
    str | None,
    typer.Option(
        "--valid-from",
        help="Start of relationships whose source gives no date (ISO 8601, or a date: local midnight). "
        "Without it such a relationship is a problem, never an invented start.",
    ),
]
ReportOption = Annotated[
    Path | None,
    typer.Option("--report", help="Write every problem and warning (kind, file, line, field, value, message) to this CSV file."),
]
AllowEmptyOption = Annotated[bool, typer.Option("--allow-empty", help="Succeed even when nothing was read.")]
MapOption = Annotated[
    list[Path] | None,
    typer.Option("--map", help="Mapping file (CSV kind,source,target): source ids -> node ids (oneroster, sds, edfi, hsds, "
                               "fhir-consent); purpose/category codes (fhir-consent); column FILE:THEIRS -> the format's "
                               "column name (oneroster, sds, hsds). Repeatable."),
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Unmapped codes and references are problems, not warnings (fhir-consent).")
]

AllowMassEndOption = Annotated[
    bool,
    typer.Option("--allow-mass-end", help="Let a bulk reload end more than 5% of a source's current relationships "
                                          "(docs/loaders/incremental.md)."),
]
SourceOption = Annotated[
    str | None,
    typer.Option("--source", help="Name of the sending system, kept on every relationship (default: the format). "
                                  "A bulk reload ends only what the same source no longer sends: give each system its own."),
]

ID_MAPPED: Final = frozenset({"oneroster", "sds", "edfi", "hsds"})
"""Formats whose foreign ids `--map` id rows rename (`loaders.mapping.apply_ids`)."""

SUMMARY_LEGEND: Final = (
    "  (rows: source rows read; created/updated/unchanged: graph records new, changed, already identical; "
    "rejected: records refused; ended: relationships closed (tobedeleted rows, or a bulk file no longer sending them; "
    "history kept); token: the consistency token of this write, to read at least this state)"
)


def report_to(report: Path | None, problems: Sequence[Problem], warnings: Sequence[Problem]) -> None:
    """`load --report FILE`: every problem and warning as CSV (loaders/report.py); exit 2 if unwritable."""
    if report is None:
        return
    try:
        n = write_report(report, problems, warnings)
    except OSError as err:
        render.error(f"--report: cannot write {report}: {err.strerror or err}")
        raise typer.Exit(2) from err
    render.err_console.print(escape(f"report: {n} problem(s) and warning(s) written to {report}"))


def more_hint(report: Path | None) -> str:
    """Where the items not printed are."""
    return f"all of them are in {report}" if report else "`--report FILE` writes all of them as CSV"


def reader_options(fmt: str, policy: Policy, maps: list[Path] | None, strict: bool, report: Path | None) -> dict[str, Any]:
    """Keyword arguments for the format's `read`: time zone and exit policy (docs/dates.md), mappings.

    Exits 2 when `--map`/`--strict` are given for a format that reads no codes, or a mapping
    file has problems (a ``column`` row for a format without CSV columns, a file the format
    does not read, a column it does not define: each names its map entry).
    """
    options: dict[str, Any] = {"time_zone": policy.default_time_zone}
    if fmt == "edfi":
        options["inclusive_exit_date"] = policy.inclusive_exit_date
    if strict and fmt != "fhir-consent":
        render.error("--strict is read by fhir-consent (the loader that reads code systems)")
        raise typer.Exit(2)
    if maps and fmt not in ID_MAPPED and fmt != "fhir-consent":
        render.error(f"--map is read by fhir-consent and {', '.join(sorted(ID_MAPPED))} ({fmt} is our own format: ids are ours)")
        raise typer.Exit(2)
    mapped = _mappings(maps or [], policy, report)
    if mapped.column:
        problems = check(fmt, mapped.column)
        if problems:
            _refuse(report, problems)
        options["column_map"] = ColumnMap(mapped.column)
    if fmt == "fhir-consent":
        options |= {"id_map": mapped.id, "purpose_map": mapped.purpose, "category_map": mapped.category, "strict": strict}
    return options


def column_warnings(options: dict[str, Any], result: LoadResult) -> None:
    """A ``column`` row of `--map` that renamed nothing read is a warning naming its entry."""
    column_map = options.get("column_map")
    if isinstance(column_map, ColumnMap):
        result.warnings.extend(column_map.unused())


def id_map_for(fmt: str, policy: Policy, maps: list[Path] | None, report: Path | None) -> dict[str, str]:
    """`--map` for a roster or directory format: its ``id`` rows (source id -> node id), applied
    with `loaders.mapping.apply_ids`. Code rows are refused (these formats carry no codes of ours)."""
    if not maps or fmt not in ID_MAPPED:
        return {}
    mapped = _mappings(maps, policy, report)
    if mapped.purpose or mapped.category:
        _refuse(report, [Problem(maps[0].name, None, "kind", f"{fmt} reads no purpose or category codes: only id rows apply")])
    return mapped.id


def _mappings(maps: list[Path], policy: Policy, report: Path | None) -> Mappings:
    mapped = read_mappings(maps, policy.categories)
    if mapped.problems:
        _refuse(report, mapped.problems)
    return mapped


def _refuse(report: Path | None, problems: list[Problem]) -> None:
    report_to(report, problems, [])
    render.err_console.print(f"[red]load refused; nothing was written.[/] {len(problems)} problem(s) in --map:")
    for problem in problems[:50]:
        render.err_console.print(escape(f"  {problem}"))
    raise typer.Exit(2)


def refuse_if_empty(fmt: str, paths: Sequence[Path], result: LoadResult, allow_empty: bool, report: Path | None) -> None:
    """A load that read nothing (and found no problem to say why) is not a success: exit 2."""
    if result.rows_read or result.problems or allow_empty:
        return
    report_to(report, [], result.warnings)
    render.error(
        f"{fmt}: read nothing from {', '.join(str(p) for p in paths)} (no records found); nothing was written. "
        "Check the paths and the format, or pass --allow-empty if an empty load is intended."
    )
    raise typer.Exit(2)
