"""Coverage tables for a terminal: every line fits the width (default 100 columns).

A table whose columns do not fit side by side is split into several narrow tables, each
repeating the group column; columns that are zero in every row are left out (and named
in a note). The blocking-reasons table is shown as the top reasons of each group, in
plain words. A comparison shows each measure as ``earlier → later (change)``.

Only published values are shown; ``*`` marks a suppressed cell, ``-`` an undefined
percentage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from graph.analytics.compare import CoverageComparison
from graph.analytics.coverage import CoverageReport
from graph.analytics.table import PublishedCell, PublishedRatio, PublishedTable

__all__ = ["DEFAULT_WIDTH", "MARK", "print_coverage"]

DEFAULT_WIDTH: Final = 100
MARK: Final = "*"
TOP_REASONS: Final = 3
_GROUP_MAX: Final = 30
_VALUE_MAX: Final = 16


@dataclass(frozen=True, slots=True)
class _Measure:
    title: str
    cells: tuple[str, ...]  # one per row, total last
    zero: bool  # zero in every row


def _count(c: PublishedCell, *, signed: bool = False) -> str:
    if c.value is None:
        return MARK
    return f"{c.value:+d}" if signed and c.value else str(c.value)


def _pct(r: PublishedRatio, *, signed: bool = False) -> str:
    if r.suppressed:
        return MARK
    if r.value is None:
        return "-"
    return f"{r.value:+g} pts" if signed else f"{r.value:g}%"


def _measures(t: PublishedTable, before: PublishedTable | None = None, change: PublishedTable | None = None) -> list[_Measure]:
    rows = t.all_rows()
    out: list[_Measure] = []
    for j, col in enumerate(t.columns):
        cells = [r.cells[j] for r in rows]
        if before is not None and change is not None:
            old = [r.cells[j] for r in before.all_rows()]
            dif = [r.cells[j] for r in change.all_rows()]
            text = tuple(f"{_count(a)} → {_count(b)} ({_count(d, signed=True)})" for a, b, d in zip(old, cells, dif, strict=True))
            zero = all(c.value == 0 for c in (*old, *cells))
        else:
            text = tuple(_count(c) for c in cells)
            zero = all(c.value == 0 for c in cells)
        out.append(_Measure(col.title, text, zero))
    for j, q in enumerate(t.ratios):
        ratios = [r.ratios[j] for r in rows]
        if before is not None and change is not None:
            old_r = [r.ratios[j] for r in before.all_rows()]
            dif_r = [r.ratios[j] for r in change.all_rows()]
            text = tuple(f"{_pct(a)} → {_pct(b)} ({_pct(d, signed=True)})" for a, b, d in zip(old_r, ratios, dif_r, strict=True))
        else:
            text = tuple(_pct(r) for r in ratios)
        out.append(_Measure(q.title, text, False))
    return out


def _table(title: str, labels: Sequence[str], measures: Sequence[_Measure], total: bool) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("Group", max_width=_GROUP_MAX, overflow="fold")
    for m in measures:
        table.add_column(m.title, justify="right", max_width=max(_VALUE_MAX, max((len(c) for c in m.cells), default=0)), overflow="fold")
    n = len(labels)
    for i, label in enumerate(labels):
        last = total and i == n - 1
        table.add_row(label, *(m.cells[i] for m in measures), end_section=total and i == n - 2, style="bold" if last else None)
    return table


def _width_of(console: Console, table: Table) -> int:
    return Measurement.get(console, console.options.update_width(10_000), table).maximum


def _chunks(console: Console, title: str, labels: Sequence[str], measures: list[_Measure], total: bool, width: int) -> list[Table]:
    """Tables of consecutive measures, each as wide as fits in `width`."""
    out: list[Table] = []
    start = 0
    while start < len(measures):
        end = start + 1
        while end < len(measures) and _width_of(console, _table("", labels, measures[start : end + 1], total)) <= width:
            end += 1
        part = f" ({len(out) + 1})" if start > 0 or end < len(measures) else ""
        out.append(_table(title + part, labels, measures[start:end], total))
        start = end
    return out


def _print_table(console: Console, t: PublishedTable, width: int, before: PublishedTable | None, change: PublishedTable | None) -> None:
    labels = [r.label for r in t.all_rows()]
    measures = _measures(t, before, change)
    shown = [m for m in measures if not m.zero]
    for table in _chunks(console, t.title, labels, shown or measures[:1], t.total is not None, width):
        console.print(table)
    left_out = [m.title for m in measures if m.zero and shown]
    if left_out:
        console.print("  [dim]Zero in every row, not shown: " + escape(", ".join(left_out)) + "[/]")


def _top_reasons(t: PublishedTable, row_index: int, change: PublishedTable | None) -> str:
    row = t.all_rows()[row_index]
    dif = change.all_rows()[row_index] if change is not None else None
    reasons = [(c.value, j) for j, c in enumerate(row.cells) if j > 0 and c.value]
    reasons.sort(key=lambda p: (-(p[0] or 0), p[1]))
    parts = []
    for value, j in reasons[:TOP_REASONS]:
        extra = f" ({_count(dif.cells[j], signed=True)})" if dif is not None else ""
        parts.append(f"{t.columns[j].title} {value}{extra}")
    hidden = sum(1 for j, c in enumerate(row.cells) if j > 0 and c.suppressed)
    if hidden:
        parts.append(f"{hidden} more {MARK}")
    if len(reasons) > TOP_REASONS:
        parts.append(f"{len(reasons) - TOP_REASONS} more")
    return "; ".join(parts) or "-"


def _print_reasons(console: Console, t: PublishedTable, before: PublishedTable | None, change: PublishedTable | None) -> None:
    table = Table(title=t.title, title_justify="left")
    table.add_column("Group", max_width=_GROUP_MAX, overflow="fold")
    table.add_column("Students blocked" if before is None else "Students blocked, earlier → later (change)", justify="right", max_width=24)
    table.add_column(f"Top {TOP_REASONS} reasons (students)", overflow="fold")
    rows = t.all_rows()
    old = before.all_rows() if before is not None else None
    dif = change.all_rows() if change is not None else None
    for i, row in enumerate(rows):
        blocked = _count(row.cells[0])
        if old is not None and dif is not None:
            blocked = f"{_count(old[i].cells[0])} → {blocked} ({_count(dif[i].cells[0], signed=True)})"
        is_total = t.total is not None and i == len(rows) - 1
        table.add_row(row.label, blocked, _top_reasons(t, i, change), end_section=t.total is not None and i == len(rows) - 2,
                      style="bold" if is_total else None)
    console.print(table)


def print_coverage(result: CoverageReport | CoverageComparison, console: Console) -> None:
    """Print every table of `result` to `console`, no line wider than ``console.width``."""
    width = console.width
    if isinstance(result, CoverageComparison):
        report = result.after
        befores: Sequence[PublishedTable | None] = result.before.tables
        changes: Sequence[PublishedTable | None] = result.change
        console.print(f"Coverage by {report.by}: {result.before.at:%Y-%m-%d %H:%M}Z → {report.at:%Y-%m-%d %H:%M}Z (change)")
    else:
        report = result
        befores = changes = [None] * len(report.tables)
        console.print(f"Coverage by {report.by} at {report.at:%Y-%m-%d %H:%M}Z")
    for t, before, change in zip(report.tables, befores, changes, strict=True):
        console.print()
        if t.name == "blocking_reasons":
            _print_reasons(console, t, before, change)
        else:
            _print_table(console, t, width, before, change)
        for note in t.notes:
            console.print("  [dim]" + escape(note) + "[/]")
    k = report.tables[0].k if report.tables else 0
    op = "<=" if report.tables and report.tables[0].k_inclusive else "<"
    console.print()
    console.print(
        f"{MARK} suppressed: a count {op} {k} (zero is shown), or another count hidden so that it cannot be recovered."
        + (" In a comparison, a change of fewer than k students is suppressed too." if isinstance(result, CoverageComparison) else "")
    )
    console.print("Every figure, as data: --format csv | json | xlsx.")
