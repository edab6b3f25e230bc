"""Published coverage in long ("tidy") form: one record per group, measure and time.

What CSV, JSON and the spreadsheet's long-form sheet hold, and what the web page charts.
A record has a numeric ``value`` (None, written empty, when suppressed or undefined), a
``suppressed`` flag, a ``kind`` (``count`` or ``percent``, whole percent 0..100), the
row's ``row_kind`` (``group``, ``no_group`` for units in no group, ``total``) and an
``is_total`` flag, so that a pivot over ``row_kind == "group"`` never double-counts.
Program rows carry their partners (``partner_id`` / ``partner``, several joined by
``;``). Only published values are read: nothing here can show a suppressed count.

A comparison adds ``series`` (``before``, ``after`` or ``change``) and ``since`` (on
change records, the earlier time; ``at`` is then the later one). Change values are the
later count minus the earlier (percentages: points).

`Tidy.to_json()` is lossless: `from_json` rebuilds the report or comparison (the CLI does
this with a server's answer, ``needtoknow coverage --url``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from graph.analytics.compare import CoverageComparison
from graph.analytics.coverage import NONE_ID, CoverageReport, GroupBy
from graph.analytics.table import TOTAL_ID, Column, PublishedCell, PublishedRatio, PublishedRow, PublishedTable, Ratio, RowKey
from graph.timeutil import parse_datetime, to_iso

__all__ = ["COLUMNS", "COMPARISON_COLUMNS", "Tidy", "from_json", "tidy"]

COLUMNS: Final = (
    "at",
    "group_by",
    "table",
    "group_id",
    "group",
    "partner_id",
    "partner",
    "row_kind",
    "is_total",
    "measure",
    "measure_title",
    "kind",
    "value",
    "suppressed",
)
"""Columns of a report's records, in order."""

COMPARISON_COLUMNS: Final = ("series", "since", *COLUMNS)
"""Columns of a comparison's records: ``series`` and ``since`` first."""

SERIES: Final = ("before", "after", "change")


@dataclass(frozen=True, slots=True)
class Tidy:
    """Long-form records plus what a reader needs to interpret them.

    ``meta``: at, by, expiring_days, k, k_inclusive, comparison (bool), since (comparison
    only), partners (program id -> [[partner id, name], ...]; a comparison also has
    partners_before, at the earlier time). ``tables``: per table its
    name, title, group, columns, ratios and notes, in order. ``columns``: the record keys.
    """

    meta: dict[str, Any]
    tables: list[dict[str, Any]]
    columns: tuple[str, ...]
    records: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: ``{"meta", "tables", "columns", "records"}``."""
        return {"meta": self.meta, "tables": self.tables, "columns": list(self.columns), "records": self.records}

    def to_csv(self) -> str:
        """CSV text: a header, then one line per record; empty value when suppressed or undefined.

        ``is_total`` and ``suppressed`` are ``true``/``false``; numbers are plain (no ``%``,
        no marks), so every numeric column reads as a number in pandas, R or a spreadsheet.
        """
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.columns)
        for rec in self.records:
            w.writerow([_csv_value(rec[c]) for c in self.columns])
        return buf.getvalue()


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _number(v: float | int | None) -> float | int | None:
    """Whole numbers as int (``42``, not ``42.0``)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _row_kind(row_id: str) -> str:
    return "total" if row_id == TOTAL_ID else ("no_group" if row_id == NONE_ID else "group")


def _table_meta(t: PublishedTable) -> dict[str, Any]:
    return {
        "name": t.name,
        "title": t.title,
        "group": t.group,
        "columns": [{"name": c.name, "title": c.title} for c in t.columns],
        "ratios": [{"name": q.name, "title": q.title, "numerator": q.numerator, "denominator": q.denominator} for q in t.ratios],
        "notes": list(t.notes),
        "has_total": t.total is not None,
    }


def _records(
    tables: Iterable[PublishedTable], at: datetime, partners: Mapping[str, tuple[RowKey, ...]], extra: Mapping[str, Any]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    when = to_iso(at)
    for t in tables:
        for row in t.all_rows():
            ptns = partners.get(row.id, ()) if t.group == GroupBy.PROGRAM else ()
            base = {
                **extra,
                "at": when,
                "group_by": t.group,
                "table": t.name,
                "group_id": row.id,
                "group": row.label,
                "partner_id": ";".join(p.id for p in ptns) or None,
                "partner": "; ".join(p.label for p in ptns) or None,
                "row_kind": _row_kind(row.id),
                "is_total": row.id == TOTAL_ID,
            }
            for col, cell in zip(t.columns, row.cells, strict=True):
                out.append({**base, "measure": col.name, "measure_title": col.title, "kind": "count", "value": cell.value,
                            "suppressed": cell.suppressed})
            for q, r in zip(t.ratios, row.ratios, strict=True):
                out.append({**base, "measure": q.name, "measure_title": q.title, "kind": "percent", "value": _number(r.value),
                            "suppressed": r.suppressed})
    return out


def _partners_meta(partners: Mapping[str, tuple[RowKey, ...]]) -> dict[str, list[list[str]]]:
    return {prog: [[p.id, p.label] for p in ptns] for prog, ptns in partners.items()}


def tidy(result: CoverageReport | CoverageComparison) -> Tidy:
    """The long form of a published report or comparison (see the module docstring)."""
    if isinstance(result, CoverageComparison):
        before, after = result.before, result.after
        first = after.tables[0] if after.tables else None
        meta = {
            "at": to_iso(after.at),
            "since": to_iso(before.at),
            "by": str(after.by),
            "expiring_days": after.expiring_days,
            "k": first.k if first else None,
            "k_inclusive": first.k_inclusive if first else None,
            "comparison": True,
            "partners": _partners_meta(after.partners),
            "partners_before": _partners_meta(before.partners),
        }
        records = (
            _records(before.tables, before.at, before.partners, {"series": "before", "since": None})
            + _records(after.tables, after.at, after.partners, {"series": "after", "since": None})
            + _records(result.change, after.at, after.partners, {"series": "change", "since": to_iso(before.at)})
        )
        records = [{c: r[c] for c in COMPARISON_COLUMNS} for r in records]
        return Tidy(meta, [_table_meta(t) for t in after.tables], COMPARISON_COLUMNS, records)
    first = result.tables[0] if result.tables else None
    meta = {
        "at": to_iso(result.at),
        "by": str(result.by),
        "expiring_days": result.expiring_days,
        "k": first.k if first else None,
        "k_inclusive": first.k_inclusive if first else None,
        "comparison": False,
        "partners": _partners_meta(result.partners),
    }
    return Tidy(meta, [_table_meta(t) for t in result.tables], COLUMNS, _records(result.tables, result.at, result.partners, {}))


def from_json(data: Mapping[str, Any]) -> CoverageReport | CoverageComparison:
    """Rebuild the report (or comparison) whose `Tidy.to_json()` is `data`.

    Raises
    ------
    ValueError
        `data` is not such a document (a key or table is missing, a value has the wrong type).
    """
    try:
        meta = data["meta"]
        metas = list(data["tables"])
        records = list(data["records"])
        k, k_inclusive = int(meta["k"]), bool(meta["k_inclusive"])
        partners = _partners(meta.get("partners", {}))
        by = GroupBy(meta["by"])
        days = int(meta["expiring_days"])
        at = parse_datetime(meta["at"])
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for rec in records:
            groups.setdefault((rec.get("series") or "", rec["table"]), []).append(rec)

        def tables(series: str, change: bool = False) -> tuple[PublishedTable, ...]:
            return tuple(_table(m, groups.get((series, m["name"]), []), k, k_inclusive, change) for m in metas)

        if meta.get("comparison"):
            since = parse_datetime(meta["since"])
            return CoverageComparison(
                CoverageReport(since, by, days, tables("before"), _partners(meta.get("partners_before", meta.get("partners", {})))),
                CoverageReport(at, by, days, tables("after"), partners),
                tables("change", change=True),
            )
        return CoverageReport(at, by, days, tables(""), partners)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"not a tidy coverage document: {err}") from err


def _partners(data: Mapping[str, Any]) -> dict[str, tuple[RowKey, ...]]:
    return {prog: tuple(RowKey(str(i), str(n)) for i, n in ptns) for prog, ptns in data.items()}


def _table(meta: Mapping[str, Any], records: list[dict[str, Any]], k: int, k_inclusive: bool, change: bool) -> PublishedTable:
    columns = tuple(Column(c["name"], c["title"]) for c in meta["columns"])
    ratios = tuple(Ratio(q["name"], q["title"], q["numerator"], q["denominator"]) for q in meta["ratios"])
    by_row: dict[str, dict[str, dict[str, Any]]] = {}
    labels: dict[str, str] = {}
    for rec in records:
        by_row.setdefault(rec["group_id"], {})[rec["measure"]] = rec
        labels[rec["group_id"]] = rec["group"]

    def row(rid: str) -> PublishedRow:
        cells = by_row[rid]
        counts = tuple(PublishedCell(_int(cells[c.name]["value"]), bool(cells[c.name]["suppressed"])) for c in columns)
        pcts = tuple(PublishedRatio(_float(cells[q.name]["value"]), bool(cells[q.name]["suppressed"])) for q in ratios)
        return PublishedRow(rid, labels[rid], counts, pcts)

    rows = tuple(row(rid) for rid in by_row if rid != TOTAL_ID)
    total = row(TOTAL_ID) if TOTAL_ID in by_row else None
    title = f"Change: {meta['title']}" if change else meta["title"]
    notes = tuple(meta["notes"])
    if change:
        notes = (*notes, "Change: the later count minus the earlier; percentages change in points.")
    return PublishedTable(meta["name"], title, columns, ratios, rows, total, k, k_inclusive, notes, meta.get("group", ""))


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)
