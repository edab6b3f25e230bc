"""`needtoknow demo`: build the demo store from real sample data, show decisions, serve the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.cli import render
from api.cli.app import app
from api.demo.build import DEMO_AT, EXAMPLES, build, default_samples_dir
from graph.audit import Caller, SqliteAuditLog
from graph.engine import Engine
from graph.errors import LoadError
from graph.stores.memory import MemoryStore
from graph.timeutil import to_iso
from loaders.importer import ImportSummary


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Demo store file (rebuilt each run).")] = Path("demo-data/needtoknow-demo.db"),
    samples: Annotated[Path | None, typer.Option("--samples", help="Folder of the public sample data sets.")] = None,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the GraphQL API after building.")] = True,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
) -> None:
    """Load real public samples (Grand Bend rosters, HSDS, FHIR Consent) plus a labelled demo bundle;
    print example decisions that allow and deny, with reasons and paths; then serve the API."""
    samples = samples or default_samples_dir()
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = MemoryStore(db)

    def progress(name: str, s: ImportSummary) -> None:
        render.console.print(f"  loaded {name}: {s.rows_read:,} rows read, {s.created:,} records created, {s.updated:,} merged")

    render.console.print(f"[bold]Building the demo store[/] {db} from {samples}")
    try:
        build(store, samples, progress)
    except LoadError as err:
        render.err_console.print("[red]demo data did not load:[/] " + escape(str(err)))
        raise typer.Exit(2) from err
    engine = Engine(store, audit=SqliteAuditLog(db))
    render.console.print(f"\n[bold]Example decisions at {to_iso(DEMO_AT)}[/] (api/demo/README.md tells the story)\n")
    for req in EXAMPLES:
        d = engine.check(req, caller=Caller("operator", "demo"))
        render.decision(d, as_json=False)
    render.explanation(engine.check(EXAMPLES[3], caller=Caller("operator", "demo")), as_json=False)
    store.close()
    if not serve:
        return
    from api.cli.server import serve as run_server
    from api.config import ApiSettings
    from api.tokens import TokenStore

    tokens = TokenStore(db)
    _, admin = tokens.create("admin", "demo-admin", label="demo")
    _, provider = tokens.create("provider", "demo-prv-rosa", label="demo")
    tokens.close()
    query = (
        '{"query":"query($r: CheckInput!){ check(request: $r){ allowed outcome releasedCategories reasons { code message } } }",'
        f'"variables":{{"r":{{"providerId":"demo-prv-rosa","studentId":"604938","purpose":"academic_support","at":"{to_iso(DEMO_AT)}"}}}}}}'
    )
    render.console.print(
        f"\n[bold]Serving[/] http://{host}:{port}/graphql  (Ctrl-C to stop)\n"
        f"  admin token:    {admin}\n  provider token: {provider}   (demo-prv-rosa)\n\n"
        "  try:\n"
        f"  curl -s http://{host}:{port}/graphql -H 'Authorization: Bearer {provider}' "
        f"-H 'Content-Type: application/json' -d '{query}'\n",
        soft_wrap=True,
    )
    run_server(ApiSettings(db=db), host, port, 1)
