"""Helpers for the output tests: read every format back into one shape.

A *figure* is ``(series, table, group_id, measure) -> (value, suppressed)``; ``series`` is
"" for a report. Each reader is independent of the writer it checks.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl

from graph.analytics.compare import CoverageComparison
from graph.analytics.coverage import CoverageReport
from graph.analytics.table import PublishedTable

Key = tuple[str, str, str, str]
Figures = dict[Key, tuple[float | None, bool]]


def _table_figures(t: PublishedTable, series: str) -> Figures:
    out: Figures = {}
    for row in t.all_rows():
        for col, cell in zip(t.columns, row.cells, strict=True):
            out[(series, t.name, row.id, col.name)] = (cell.value, cell.suppressed)
        for q, r in zip(t.ratios, row.ratios, strict=True):
            out[(series, t.name, row.id, q.name)] = (r.value, r.suppressed)
    return out


def object_figures(result: CoverageReport | CoverageComparison) -> Figures:
    """Figures of the published objects themselves."""
    out: Figures = {}
    if isinstance(result, CoverageComparison):
        for series, tables in (("before", result.before.tables), ("after", result.after.tables), ("change", result.change)):
            for t in tables:
                out |= _table_figures(t, series)
    else:
        for t in result.tables:
            out |= _table_figures(t, "")
    return out


def _num(text: str) -> float | None:
    return None if text == "" else float(text)


def csv_figures(text: str) -> Figures:
    out: Figures = {}
    for row in csv.DictReader(io.StringIO(text)):
        key = (row.get("series", ""), row["table"], row["group_id"], row["measure"])
        assert key not in out, key
        assert row["suppressed"] in ("true", "false")
        out[key] = (_num(row["value"]), row["suppressed"] == "true")
    return out


def json_figures(text: str) -> Figures:
    out: Figures = {}
    for rec in json.loads(text)["records"]:
        out[(rec.get("series") or "", rec["table"], rec["group_id"], rec["measure"])] = (rec["value"], rec["suppressed"])
    return out


def xlsx_long_figures(data: bytes) -> Figures:
    """The workbook's long-form sheet."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    rows = list(book["Long form"].iter_rows(values_only=True))
    head = list(rows[0])
    out: Figures = {}
    for values in rows[1:]:
        rec: dict[str, Any] = dict(zip(head, values, strict=True))
        out[(rec.get("series") or "", rec["table"], rec["group_id"], rec["measure"])] = (rec["value"], bool(rec["suppressed"]))
    return out


def same(a: Figures, b: Figures) -> bool:
    """Equal keys, suppression and values (numbers compared as floats)."""
    if a.keys() != b.keys():
        return False
    for k, (va, sa) in a.items():
        vb, sb = b[k]
        if sa != sb or (va is None) != (vb is None) or (va is not None and vb is not None and float(va) != float(vb)):
            return False
    return True
