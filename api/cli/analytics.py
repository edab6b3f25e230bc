"""Aggregate commands: ``coverage`` and ``export`` (suppressed counts only; no student data).

Thin: parse, call `graph.analytics`, render. Coverage is not a disclosure about a student,
so nothing is written to the record of decisions.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from api.cli import render
from api.cli.app import AT_HELP, BackendOption, DbOption, app, parse_at
from api.cli.core import engine_for
from api.schema.analytics import MAX_EXPIRING_DAYS
from graph.analytics.coverage import CoverageReport, GroupBy, coverage
from graph.analytics.network import ExportFormat, partner_network, write_network
from graph.analytics.table import PublishedTable

__all__ = ["coverage_command", "export_command"]

MARK = "*"
"""How a suppressed cell is shown in tables and CSV (JSON: null with "suppressed": true)."""


class CoverageFormat(StrEnum):
    """Output formats of `needtoknow coverage`."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class NetworkFormat(StrEnum):
    """Output formats of `needtoknow export`."""

    GRAPHML = "graphml"
    GEXF = "gexf"
    CSV = "csv"
    NODE_LINK = "node-link"


_EXPORT: Final[dict[NetworkFormat, ExportFormat]] = {
    NetworkFormat.GRAPHML: "graphml",
    NetworkFormat.GEXF: "gexf",
    NetworkFormat.CSV: "csv",
    NetworkFormat.NODE_LINK: "node-link",
}


_parse_at = parse_at

AtOption = Annotated[str | None, typer.Option("--at", help=AT_HELP)]


@app.command("coverage")
def coverage_command(
    by: Annotated[GroupBy, typer.Option("--by", help="Rows: community, school, program or partner.")] = GroupBy.COMMUNITY,
    at: AtOption = None,
    expiring_days: Annotated[
        int, typer.Option("--expiring-days", min=0, max=MAX_EXPIRING_DAYS, help="Window for the expiring measures (days).")
    ] = 30,
    fmt: Annotated[CoverageFormat, typer.Option("--format", help="table, csv or json.")] = CoverageFormat.TABLE,
    db: DbOption = None,
    backend: BackendOption = None,
) -> None:
    """Coverage and gaps per group, with small-cell suppression ("*" = suppressed)."""
    when = _parse_at(at)
    with engine_for(db, backend) as engine:
        report = coverage(engine.store, when, by, engine.policy, expiring_days=expiring_days)
    if fmt is CoverageFormat.JSON:
        render.print_json(report.to_dict())
    elif fmt is CoverageFormat.CSV:
        print(coverage_csv(report), end="")
    else:
        _print_tables(report)


def coverage_csv(report: CoverageReport) -> str:
    """Every table as long CSV rows: table, group id, group, measure, value (``*`` when suppressed)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "group_id", "group", "measure", "value", "suppressed"])
    for t in report.tables:
        for row in t.all_rows():
            for col, cell in zip(t.columns, row.cells, strict=True):
                w.writerow([t.name, row.id, row.label, col.name, cell.display(MARK), int(cell.suppressed)])
            for q, v in zip(t.ratios, row.ratios, strict=True):
                w.writerow([t.name, row.id, row.label, q.name, v.display(MARK), int(v.suppressed)])
    return buf.getvalue()


def _print_tables(report: CoverageReport) -> None:
    for t in report.tables:
        table = _rich_table(t)
        # As wide as the table needs (a pipe or a narrow terminal would squeeze its columns to nothing).
        natural = Measurement.get(render.console, render.console.options.update_width(400), table).maximum
        Console(width=max(render.console.width, natural)).print(table)
        for note in t.notes:
            render.console.print("  [dim]" + escape(note) + "[/]")
    k = report.tables[0].k if report.tables else 0
    op = "<=" if report.tables and report.tables[0].k_inclusive else "<"
    render.console.print(f"{MARK} suppressed: a count {op} {k} (zero is shown), or another count hidden so that it cannot be recovered.")


def _rich_table(t: PublishedTable) -> Table:
    table = Table(title=t.title)
    table.add_column("group")
    for c in t.columns:
        table.add_column(c.title, justify="right")
    for q in t.ratios:
        table.add_column(q.title, justify="right")
    for row in t.all_rows():
        table.add_row(row.label, *(c.display(MARK) for c in row.cells), *(r.display(MARK) for r in row.ratios))
    return table


@app.command("export")
def export_command(
    fmt: Annotated[NetworkFormat, typer.Option("--format", help="graphml, gexf, csv (a directory) or node-link (JSON).")],
    out: Annotated[Path, typer.Option("--out", help="File to write (for csv: a directory for nodes.csv and edges.csv).")],
    at: AtOption = None,
    db: DbOption = None,
    backend: BackendOption = None,
) -> None:
    """Export the aggregated partner network (partners, programs, communities, schools; suppressed counts)."""
    when = _parse_at(at)
    with engine_for(db, backend) as engine:
        G = partner_network(engine.store, when, engine.policy)
    written = write_network(G, _EXPORT[fmt], out)
    render.console.print(json.dumps({"nodes": G.number_of_nodes(), "edges": G.number_of_edges(), "files": [str(p) for p in written]}))
