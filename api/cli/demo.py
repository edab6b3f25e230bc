"""`needtoknow demo`: build the demo store from real sample data, show decisions, serve the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.cli import render
from api.cli.app import app
from api.demo.build import DemoCalendar, build, default_samples_dir, examples
from graph.audit import Caller, SqliteAuditLog
from graph.engine import Engine
from graph.errors import InputError, LoadError
from graph.stores.memory import MemoryStore
from graph.timeutil import parse_datetime, to_iso, utcnow
from loaders.importer import ImportSummary


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Demo store file (rebuilt each run).")] = Path("demo-data/needtoknow-demo.db"),
    samples: Annotated[Path | None, typer.Option("--samples", help="Folder of the public sample data sets.")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the GraphQL API after building.")] = True,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    at: Annotated[str | None, typer.Option("--at", help="Build the story as of this instant (ISO 8601 with offset; default: now).")] = None,
) -> None:
    """Load real public samples (Grand Bend rosters, HSDS, FHIR Consent) plus a labelled demo bundle
    dated relative to today; print example decisions that allow and deny, with reasons and paths;
    then serve the API and GraphiQL."""
    samples = samples or default_samples_dir()
    try:
        calendar = DemoCalendar.of(parse_datetime(at) if at else utcnow())
    except InputError as err:
        render.error(f"--at: {err}")
        raise typer.Exit(2) from err
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = MemoryStore(db)

    def progress(name: str, s: ImportSummary) -> None:
        render.console.print(f"  loaded {name}: {s.rows_read:,} rows read, {s.created:,} records created, {s.updated:,} merged")

    render.console.print(f"[bold]Building the demo store[/] {db} from {samples}")
    try:
        build(store, samples, progress, calendar=calendar, bundle_dir=db.parent / "demo-bundle")
    except LoadError as err:
        render.err_console.print("[red]demo data did not load:[/] " + escape(str(err)))
        raise typer.Exit(2) from err
    engine = Engine(store, audit=SqliteAuditLog(db))
    asked = examples(calendar.now)
    render.console.print(
        f"\n[bold]Example decisions at {to_iso(calendar.now)}[/] (the {calendar.school_year} school year; "
        "api/demo/README.md tells the story)\n"
    )
    for req in asked:
        d = engine.check(req, caller=Caller("operator", "demo"))
        render.decision(d, as_json=False)
    render.explanation(engine.check(asked[3], caller=Caller("operator", "demo")), as_json=False)
    store.close()
    if not serve:
        return
    from api.cli.server import serve as run_server
    from api.config import ApiSettings
    from api.tokens import TokenStore

    tokens = TokenStore(db)
    _, admin = tokens.create("admin", "demo-admin", label="demo")
    _, provider = tokens.create("provider", "demo-prv-rosa", label="demo")
    _, staff = tokens.create("staff", "demo-staff", label="demo")
    tokens.close()
    query = (
        '{"query":"query($r: CheckInput!){ check(request: $r){ allowed outcome releasedCategories reasons { code message } } }",'
        '"variables":{"r":{"providerId":"demo-prv-rosa","studentId":"604938","purpose":"academic_support"}}}'
    )
    base = f"http://{host}:{port}"
    render.console.print(
        f"\n[bold]Serving[/] {base}/graphql  (Ctrl-C to stop)\n"
        f"  GraphiQL:       {base}/graphql  (open it in a browser; paste the admin token)\n"
        f"  partner network: {base}/network  (staff token)\n"
        f"  admin token:    {admin}\n  staff token:    {staff}\n  provider token: {provider}   (demo-prv-rosa)\n\n"
        "  try (asked now, as the examples above):\n"
        f"  curl -s {base}/graphql -H 'Authorization: Bearer {provider}' "
        f"-H 'Content-Type: application/json' -d '{query}'\n"
        f"  the CLI on this store (another terminal): NTK_DB={db} .venv/bin/needtoknow explain "
        "--provider demo-prv-rosa --student 604938\n",
        soft_wrap=True,
    )
    run_server(ApiSettings(db=db, graphiql=True), host, port, 1)
