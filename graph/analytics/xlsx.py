"""Published coverage as an Excel workbook (openpyxl): a sheet per table, a long-form sheet, notes.

- One sheet per table (``Students``, ``Blocking reasons``, ...): a header row, then one
  row per group in the report's order (by name, never by value), the ``(in no group)``
  row, and the total row last in bold. Columns: group id, group, partner (program rows),
  then each measure; a comparison has three columns per measure (earlier, later, change).
- A suppressed cell holds ``*`` on a grey fill (never 0, never blank); an undefined
  percentage (denominator 0) is blank. Counts are numbers; percentages are fractions
  formatted ``0%``; changes of percentages are points.
- ``Long form``: exactly the CSV records (`graph.analytics.tidy`), for pivot tables.
- ``Notes``: what the figures are, the suppression rule, and each table's definitions.

Only published values are read, so the workbook can show nothing the CSV does not.
"""

from __future__ import annotations

import io
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from graph.analytics.tidy import Tidy

__all__ = ["MARK", "sheet_title", "to_xlsx"]

MARK: Final = "*"
"""What a suppressed cell holds."""

_GREY: Final = PatternFill("solid", start_color="FFD9D9D9", end_color="FFD9D9D9")
_BOLD: Final = Font(bold=True)
_SERIES_TITLE: Final = {"before": "earlier", "after": "later", "change": "change"}


def sheet_title(table: str) -> str:
    """The sheet of a table: ``blocking_reasons`` -> ``Blocking reasons``."""
    return table.replace("_", " ").capitalize()[:31]


def to_xlsx(data: Tidy) -> bytes:
    """The workbook for `data` (a report's or a comparison's long form), as xlsx bytes."""
    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    comparison = bool(data.meta.get("comparison"))
    series = ["before", "after", "change"] if comparison else [""]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for rec in data.records:
        by_table.setdefault(rec["table"], []).append(rec)
    for meta in data.tables:
        _table_sheet(wb.create_sheet(sheet_title(meta["name"])), meta, by_table.get(meta["name"], []), series, data.meta)
    _long_sheet(wb.create_sheet("Long form"), data)
    _notes_sheet(wb.create_sheet("Notes"), data)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _header(meta: dict[str, Any], series: list[str], when: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, kind, series) per value column, in order."""
    measures = [(c["name"], "count", c["title"]) for c in meta["columns"]] + [(q["name"], "percent", q["title"]) for q in meta["ratios"]]
    return [(name, kind, s) for name, kind, _ in measures for s in series]


def _column_title(title: str, s: str, when: dict[str, Any]) -> str:
    if not s:
        return title
    stamp = {"before": when.get("since"), "after": when.get("at"), "change": None}[s]
    return f"{title} ({_SERIES_TITLE[s]}{', ' + str(stamp)[:10] if stamp else ''})"


def _table_sheet(ws: Worksheet, meta: dict[str, Any], records: list[dict[str, Any]], series: list[str], when: dict[str, Any]) -> None:
    titles = {c["name"]: c["title"] for c in meta["columns"]} | {q["name"]: q["title"] for q in meta["ratios"]}
    value_cols = _header(meta, series, when)
    programs = meta.get("group") == "program"
    lead = ["Group id", "Group", *(["Partner"] if programs else [])]
    ws.append(lead + [_column_title(titles[m], s, when) for m, _, s in value_cols])
    for cell in ws[1]:
        cell.font = _BOLD
    rows: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    info: dict[str, dict[str, Any]] = {}
    for rec in records:
        rows.setdefault(rec["group_id"], {})[(rec["measure"], rec.get("series") or "")] = rec
        info.setdefault(rec["group_id"], rec)
    for gid, cells in rows.items():
        head = info[gid]
        line: list[Any] = [gid, head["group"], *([head.get("partner") or ""] if programs else [])]
        ws.append(line + [None] * len(value_cols))
        r = ws.max_row
        for j, (measure, kind, s) in enumerate(value_cols, start=len(lead) + 1):
            found = cells.get((measure, s))
            if found is None:
                continue
            rec = found
            cell = ws.cell(row=r, column=j)
            if rec["suppressed"]:
                cell.value = MARK
                cell.fill = _GREY
            elif rec["value"] is not None:
                if kind == "percent" and s != "change":
                    cell.value = rec["value"] / 100
                    cell.number_format = "0%"
                elif kind == "percent":
                    cell.value = rec["value"]
                    cell.number_format = '+0" pts";-0" pts";0" pts"'
                else:
                    cell.value = rec["value"]
                    cell.number_format = "+0;-0;0" if s == "change" else "0"
        if head["is_total"]:
            for bold in ws[r]:
                bold.font = _BOLD
    ws.freeze_panes = f"{get_column_letter(len(lead) + 1)}2"
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 28
    if programs:
        ws.column_dimensions["C"].width = 28
    for j in range(len(lead) + 1, len(lead) + len(value_cols) + 1):
        ws.column_dimensions[get_column_letter(j)].width = 14


def _long_sheet(ws: Worksheet, data: Tidy) -> None:
    ws.append(list(data.columns))
    for cell in ws[1]:
        cell.font = _BOLD
    for rec in data.records:
        ws.append([rec[c] for c in data.columns])
    ws.freeze_panes = "A2"


def _notes_sheet(ws: Worksheet, data: Tidy) -> None:
    m = data.meta
    op = "1 to k" if m.get("k_inclusive") else "1 to k-1"
    lines: list[list[Any]] = [
        ["Coverage, needtoknow"],
        ["As of", m.get("at")],
        *([["Compared with", m.get("since")]] if m.get("comparison") else []),
        ["Rows", m.get("by")],
        ["Expiring window (days)", m.get("expiring_days")],
        ["Suppression threshold k", m.get("k")],
        [],
        ["Suppression"],
        [f"A count of {op} students (k = {m.get('k')}) is suppressed: its cell shows {MARK} on a grey fill. Zero is shown."],
        [f"Other cells are suppressed too ({MARK}, the same mark) so that no suppressed count can be worked out from totals"],
        ["or from the other measures of its row (complementary suppression). Suppressed cells are not zero and not missing."],
        ["A percentage is suppressed when its numerator or denominator is, or its denominator is small; blank when undefined (0/0)."],
        *(
            [
                ["In a comparison, a change of 1 to k-1 students is suppressed too, and the earlier, later and change figures"],
                ["are suppressed together so that no small change can be worked out from them."],
            ]
            if m.get("comparison")
            else []
        ),
        ["Groups overlap (a student may be in several), so rows do not add up to the total row; filter row_kind = group in pivots."],
        ["Rows are in name order; figures never rank organisations."],
        [],
        ["Table", "Definitions"],
    ]
    for t in data.tables:
        for note in t["notes"]:
            lines.append([sheet_title(t["name"]), note])
    lines += [[], ["Table", "Column", "Code", "Kind"]]
    for t in data.tables:
        for c in t["columns"]:
            lines.append([sheet_title(t["name"]), c["title"], c["name"], "count"])
        for q in t["ratios"]:
            lines.append([sheet_title(t["name"]), q["title"], q["name"], f"percent: {q['numerator']} / {q['denominator']}"])
    for line in lines:
        ws.append(line)
    ws["A1"].font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 60
