"""Core commands: init, load, check, explain, accessible, who-can-access, generate."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from api.cli import render
from api.cli.app import AT_HELP, BackendOption, DbOption, Neo4jDatabaseOption, Neo4jUriOption, Neo4jUserOption, app, parse_at, settings_for
from api.cli.loading import (
    SUMMARY_LEGEND,
    AllowEmptyOption,
    AllowMassEndOption,
    MapOption,
    ReportOption,
    SourceOption,
    StrictOption,
    ValidFromOption,
    column_warnings,
    id_map_for,
    more_hint,
    reader_options,
    refuse_if_empty,
    report_to,
)
from graph.decision import CheckRequest
from graph.engine import Engine
from graph.errors import InputError, LoadError, NeedToKnowError, UnknownNode
from graph.open import open_engine
from graph.timeutil import utcnow
from graph.trusted import bulk_allocation
from loaders.base import LoadResult
from loaders.importer import import_result
from loaders.mapping import apply_ids

FORMATS: dict[str, str] = {
    "bundle": "loaders.bundle",
    "oneroster": "loaders.oneroster",
    "edfi": "loaders.edfi",
    "sds": "loaders.sds",
    "hsds": "loaders.hsds",
    "fhir-consent": "loaders.fhir_consent",
}

AtOption = Annotated[str | None, typer.Option("--at", help=AT_HELP)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def engine_for(
    db: Path | None,
    backend: str | None = None,
    neo4j: tuple[str | None, str | None, str | None] = (None, None, None),
    *,
    must_exist: bool = True,
    as_json: bool = False,
) -> Iterator[Engine]:
    """Open the engine; map domain errors to exit code 2 with a clear message.

    Read-only commands (`must_exist`) refuse a store file that does not exist, rather than
    create an empty one and answer "unknown id" for everything.
    """
    try:
        settings = settings_for(db, backend, *neo4j)
    except ValidationError as err:  # an NTK_* variable that is not a valid setting
        render.error(f"settings: {_first_problem(err)}", as_json=as_json)
        raise typer.Exit(2) from err
    if must_exist and settings.backend == "networkx" and not settings.db.exists():
        render.error(f"no store at {settings.db}: give --db (or NTK_DB), or create one with `needtoknow init` / `needtoknow load`")
        raise typer.Exit(2)
    try:
        engine = open_engine(settings)
    except NeedToKnowError as err:
        render.error(f"{err}", as_json=as_json)
        raise typer.Exit(2) from err
    except ValidationError as err:  # the policy file (NTK_POLICY_FILE) breaks a rule
        render.error(f"policy file {settings.policy_file}: {_first_problem(err)}", as_json=as_json)
        raise typer.Exit(2) from err
    except OSError as err:  # the policy file cannot be read
        render.error(f"{err.strerror or err}: {err.filename}", as_json=as_json)
        raise typer.Exit(2) from err
    try:
        yield engine
    except UnknownNode as err:  # the API's NOT_FOUND; the write verbs' not_found (docs/writes.md)
        render.error(f"{err}", as_json=as_json, code="not_found")
        raise typer.Exit(2) from err
    except InputError as err:
        render.error(f"{err}", as_json=as_json)
        raise typer.Exit(2) from err
    except NeedToKnowError as err:  # a team depth limit, a stale read, an unavailable store: an error, never a deny
        render.error(f"{err}", as_json=as_json, code=type(err).__name__)
        raise typer.Exit(2) from err
    finally:
        engine.store.close()


def _first_problem(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg')}" + (f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else "")


def _at(at: str | None, as_json: bool = False) -> datetime:
    return parse_at(at, as_json=as_json)


@app.command()
def init(db: DbOption = None) -> None:
    """Create an empty store (the SQLite journal and record of decisions)."""
    settings = settings_for(db)
    with engine_for(db, must_exist=False):
        pass
    render.console.print(f"initialised {settings.db}")


@app.command()
def load(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=f"One of: {', '.join(FORMATS)}.")],
    paths: Annotated[list[Path], typer.Argument(help="Files or directories of that format.")],
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    valid_from: ValidFromOption = None,
    report: ReportOption = None,
    allow_empty: AllowEmptyOption = False,
    maps: MapOption = None,
    strict: StrictOption = False,
    allow_mass_end: AllowMassEndOption = False,
    source: SourceOption = None,
) -> None:
    """Load source files; all or nothing (a failed load leaves the store as it was).

    The summary counts source rows read, then graph records created, updated (changed),
    unchanged (already identical) and rejected; the token is the consistency token of the
    write (pass it to a query to read at least this state). Exit 0 loaded, 2 refused or
    nothing read.
    """
    if fmt not in FORMATS:
        render.error(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    for p in paths:
        if not p.exists():
            render.error(f"{p}: no such file or directory")
            raise typer.Exit(2)
    module = importlib.import_module(FORMATS[fmt])
    reader: Callable[..., LoadResult] = module.read
    # No hidden default (issue 11): an edge the source does not date needs --valid-from, or the load says so.
    start = _at(valid_from) if valid_from else None
    settings = settings_for(db, backend)
    options = reader_options(fmt, settings.policy(), maps, strict, report)
    if source is not None:
        options["source"] = source
    # Millions of acyclic records read, checked and written, kept until the command exits: no
    # collection walks them, and what is left at the end of each step is frozen (graph.trusted).
    with render.console.status(f"reading {fmt} ..."), bulk_allocation(freeze=True):
        result = reader(paths, default_valid_from=start, recorded_at=utcnow(), include_names=settings.include_names, **options)
    apply_ids(result, id_map_for(fmt, settings.policy(), maps, report), ", ".join(m.name for m in maps or []))
    column_warnings(options, result)
    refuse_if_empty(fmt, paths, result, allow_empty, report)
    with engine_for(db, backend, (neo4j_uri, neo4j_user, neo4j_database), must_exist=False) as engine:
        try:
            records = len(result.nodes) + len(result.edges)
            with render.console.status(f"validating and writing {records:,} records ..."), bulk_allocation(freeze=True):
                summary = import_result(engine.store, result, dry_run=dry_run, allow_mass_end=allow_mass_end)
        except LoadError as err:
            report_to(report, err.problems, result.warnings)
            render.err_console.print(f"[red]load refused; nothing was written.[/] {len(err.problems)} problem(s):")
            for problem in err.problems[:50]:
                render.err_console.print(escape(f"  {problem}"))
            if len(err.problems) > 50:
                render.err_console.print(escape(f"  ... and {len(err.problems) - 50} more; {more_hint(report)}"))
            raise typer.Exit(2) from err
    report_to(report, [], summary.warnings)
    verb = "would create" if dry_run else "created"
    render.console.print(
        f"{fmt}: read {summary.rows_read:,} rows; {verb} {summary.created:,}, updated {summary.updated:,}, "
        f"unchanged {summary.unchanged:,}, rejected {summary.rejected:,}, {'would end' if dry_run else 'ended'} {summary.ended:,}"
        + (f"; token {summary.token}" if summary.token else "")
    )
    for kind, n in summary.by_kind.items():
        render.console.print(f"  {kind}: {n:,}")
    for w in summary.warnings[:20]:
        render.console.print("  [yellow]warning[/] " + escape(str(w)))
    if len(summary.warnings) > 20:
        render.console.print(f"  [yellow]... and {len(summary.warnings) - 20} more warnings;[/] " + escape(more_hint(report)))
    render.console.print(SUMMARY_LEGEND, style="dim")


def _request(
    provider: str, student: str, at: str | None, purpose: str | None, category: list[str] | None, as_json: bool = False
) -> CheckRequest:
    return CheckRequest(provider, student, _at(at, as_json), purpose, frozenset(category) if category else None)


ProviderOpt = Annotated[str, typer.Option("--provider", help="Provider id.")]
StudentOpt = Annotated[str, typer.Option("--student", help="Student id.")]
PurposeOpt = Annotated[str | None, typer.Option("--purpose", help="Purpose of the disclosure, e.g. academic_support.")]
CategoryOpt = Annotated[list[str] | None, typer.Option("--category", help="Data category asked for (repeatable).")]


@app.command()
def check(
    provider: ProviderOpt,
    student: StudentOpt,
    at: AtOption = None,
    purpose: PurposeOpt = None,
    category: CategoryOpt = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """May PROVIDER see STUDENT's record? Exit 0 allow, 1 deny, 2 bad input."""
    with engine_for(db, backend, (neo4j_uri, neo4j_user, neo4j_database), as_json=as_json) as engine:
        d = engine.check(_request(provider, student, at, purpose, category, as_json))
    render.decision(d, as_json=as_json)
    raise typer.Exit(0 if d.allowed else 1)


@app.command()
def explain(
    provider: ProviderOpt,
    student: StudentOpt,
    at: AtOption = None,
    purpose: PurposeOpt = None,
    category: CategoryOpt = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """The same decision as `check`, rendered for a person: every reason and the path."""
    with engine_for(db, backend, (neo4j_uri, neo4j_user, neo4j_database), as_json=as_json) as engine:
        d = engine.check(_request(provider, student, at, purpose, category, as_json))
    render.explanation(d, as_json=as_json)
    raise typer.Exit(0 if d.allowed else 1)


@app.command()
def accessible(
    provider: ProviderOpt,
    at: AtOption = None,
    purpose: PurposeOpt = None,
    first: Annotated[int, typer.Option("--first", help="Page size (1..1000).")] = 100,
    after: Annotated[str | None, typer.Option("--after", help="Cursor from the previous page.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """Students PROVIDER may see, with released categories (one page)."""
    with engine_for(db, backend, (neo4j_uri, neo4j_user, neo4j_database), as_json=as_json) as engine:
        p = engine.accessible_students(provider, _at(at, as_json), purpose=purpose, first=first, after=after)
    render.page(p, other="student_id", as_json=as_json)


@app.command("who-can-access")
def who_can_access(
    student: StudentOpt,
    at: AtOption = None,
    purpose: PurposeOpt = None,
    first: Annotated[int, typer.Option("--first", help="Page size (1..1000).")] = 100,
    after: Annotated[str | None, typer.Option("--after", help="Cursor from the previous page.")] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """Providers who may see STUDENT's record, and why (the transparency report)."""
    with engine_for(db, backend, (neo4j_uri, neo4j_user, neo4j_database), as_json=as_json) as engine:
        p = engine.providers_with_access(student, _at(at, as_json), purpose=purpose, first=first, after=after)
    render.page(p, other="provider_id", as_json=as_json)


@app.command()
def generate(
    students: Annotated[int, typer.Option("--students", help="Number of students.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bundle).")] = 1,
    out: Annotated[Path, typer.Option("--out", help="Output bundle directory.")] = Path("generated-bundle"),
) -> None:
    """Write a synthetic bundle with realistic proportions (docs/bundle.md)."""
    from loaders.synthetic import generate as gen

    stats: dict[str, Any] = gen(out, students=students, seed=seed)
    render.console.print(f"wrote {out}")
    for k, v in stats.items():
        render.console.print(f"  {k}: {v:,}" if isinstance(v, int) else f"  {k}: {v}")


@app.command()
def bench(
    students: Annotated[list[int] | None, typer.Option("--students", help="Scales to run (repeatable).")] = None,
    checks: Annotated[int, typer.Option("--checks", help="Checks timed per mix.")] = 20_000,
    out: Annotated[Path | None, typer.Option("--out", help="Append the Markdown tables to this file.")] = None,
) -> None:
    """Benchmark load, restart, memory, check and lookup latency (benchmarks/core_bench.py; from a checkout)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "core_bench.py").exists():
        render.err_console.print("[red]error:[/] the benchmarks/ folder of a source checkout is needed")
        raise typer.Exit(2)
    cmd = [sys.executable, "-m", "benchmarks.core_bench", "--checks", str(checks), "--students", *[str(n) for n in students or [170_000]]]
    if out is not None:
        cmd += ["--out", str(out.resolve())]
    raise typer.Exit(subprocess.run(cmd, cwd=root, check=False).returncode)
