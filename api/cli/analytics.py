"""Aggregate commands: ``coverage`` and ``export`` (suppressed counts only; no student data).

Thin: parse, call `graph.analytics` (or, with ``--url``, a running server's
``/coverage/data``), render (`api.cli.coverage_view` for terminals; `graph.analytics.tidy`
and `graph.analytics.xlsx` for files). Coverage is not a disclosure about a student, so
nothing is written to the record of decisions.
"""

from __future__ import annotations

import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Final

import typer
from rich.console import Console

from api.cli import render
from api.cli.app import AT_HELP, BackendOption, DbOption, app, parse_at
from api.cli.core import engine_for
from api.cli.coverage_view import DEFAULT_WIDTH, print_coverage
from api.schema.analytics import MAX_EXPIRING_DAYS
from graph.analytics.cache import Question
from graph.analytics.compare import CoverageComparison, compare
from graph.analytics.coverage import CoverageReport, GroupBy, coverage
from graph.analytics.network import ExportFormat, partner_network, write_network
from graph.analytics.tidy import from_json, tidy
from graph.timeutil import to_iso

__all__ = ["coverage_command", "export_command", "fetch_coverage"]


class CoverageFormat(StrEnum):
    """Output formats of `needtoknow coverage`."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"


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


def _parse_at(at: str | None, option: str = "--at") -> datetime:
    """The one CLI time parser (`parse_at`: a bare date is local midnight), for --at and --compare."""
    return parse_at(at, option=option)

AtOption = Annotated[str | None, typer.Option("--at", help=AT_HELP)]


@app.command("coverage")
def coverage_command(
    by: Annotated[GroupBy, typer.Option("--by", help="Rows: community, school, program or partner.")] = GroupBy.COMMUNITY,
    at: AtOption = None,
    compare_at: Annotated[
        str | None, typer.Option("--compare", help="A second time (ISO 8601 with offset): both reports and the change between them.")
    ] = None,
    expiring_days: Annotated[
        int, typer.Option("--expiring-days", min=0, max=MAX_EXPIRING_DAYS, help="Window for the expiring measures (days).")
    ] = 30,
    fmt: Annotated[CoverageFormat, typer.Option("--format", help="table, csv, json or xlsx (xlsx needs --out).")] = CoverageFormat.TABLE,
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of standard output.")] = None,
    width: Annotated[
        int | None, typer.Option("--width", min=40, help="Table width in columns (default: the terminal's, else 100).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="Read from a running server (base URL, as `needtoknow serve` prints it) and its cache; needs a token."),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="NTK_TOKEN", help="Bearer token for --url (env NTK_TOKEN; staff, analyst or admin).")
    ] = None,
    db: DbOption = None,
    backend: BackendOption = None,
) -> None:
    """Coverage and gaps per group, with small-cell suppression ("*" = suppressed)."""
    when = _parse_at(at)
    other = _parse_at(compare_at, "--compare") if compare_at else None
    if fmt is CoverageFormat.XLSX and out is None:
        render.error("--format xlsx writes a file: give --out PATH")
        raise typer.Exit(2)
    result: CoverageReport | CoverageComparison
    if url is not None:
        result = fetch_coverage(url, token, Question(when, by, expiring_days, other))
    else:
        with engine_for(db, backend) as engine:
            if other is not None:
                result = compare(engine.store, when, other, by, engine.policy, expiring_days=expiring_days)
            else:
                result = coverage(engine.store, when, by, engine.policy, expiring_days=expiring_days)
    if fmt is CoverageFormat.TABLE:
        console = _console(width, out)
        print_coverage(result, console)
        if out is not None:
            out.write_text(console.export_text(), encoding="utf-8")
        return
    data = tidy(result)
    payload: bytes
    if fmt is CoverageFormat.JSON:
        payload = (json.dumps(data.to_json(), indent=1) + "\n").encode()
    elif fmt is CoverageFormat.CSV:
        payload = data.to_csv().encode()
    else:
        from graph.analytics.xlsx import to_xlsx  # openpyxl: imported only when a workbook is asked for

        payload = to_xlsx(data)
    if out is not None:
        out.write_bytes(payload)
        render.err_console.print(f"wrote {out} ({len(data.records)} records)")
    else:
        sys.stdout.write(payload.decode())


def _console(width: int | None, out: Path | None) -> Console:
    if out is not None:
        return Console(width=width or DEFAULT_WIDTH, record=True, file=io.StringIO())
    if width is None:
        probe = Console()
        width = probe.width if probe.is_terminal else DEFAULT_WIDTH
    return Console(width=width, soft_wrap=False)


def fetch_coverage(url: str, token: str | None, q: Question) -> CoverageReport | CoverageComparison:
    """The published result of `q` from a running server's ``/coverage/data`` (its cache).

    Exits 2 with a message when no token is given, the server cannot be reached, or it
    refuses the request.
    """
    if not token:
        render.error("--url needs a bearer token: --token or NTK_TOKEN (staff, analyst or admin)")
        raise typer.Exit(2)
    params = {"format": "json", "by": str(q.by), "at": to_iso(q.at) or "", "expiring_days": str(q.expiring_days)}
    if q.compare is not None:
        params["compare"] = to_iso(q.compare) or ""
    target = url.rstrip("/") + "/coverage/data?" + urllib.parse.urlencode(params)
    if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
        render.error(f"--url: {url!r} is not an http(s) URL")
        raise typer.Exit(2)
    request = urllib.request.Request(target, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        message = _server_message(err)
        render.error(f"{url} refused the request (HTTP {err.code}): {message}")
        raise typer.Exit(2) from err
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as err:
        render.error(f"could not read coverage from {url}: {err}")
        raise typer.Exit(2) from err
    try:
        return from_json(body)
    except ValueError as err:
        render.error(f"{url}: {err}")
        raise typer.Exit(2) from err


def _server_message(err: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(err.read())
        return str(body["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return err.reason if isinstance(err.reason, str) else "error"


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
