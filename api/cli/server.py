"""Server commands: ``serve``, ``token create|list|revoke``, ``schema export``.

`serve(settings, host, port, workers)` is what ``needtoknow serve`` and the demo call.
With one worker the app object is passed to uvicorn; with more, the graph is loaded once
and the workers are forked from it (`api.prefork`). `settings_env` gives the ``NTK_*``
variables for running the factory ``api.app:app_from_env`` under another server.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from api.cli import render
from api.cli.app import BackendOption, DbOption, Neo4jDatabaseOption, Neo4jUriOption, Neo4jUserOption, app, settings_for
from api.config import ApiSettings
from api.roles import Role
from api.tokens import AnyTokenStore, open_tokens
from graph import commands
from graph.errors import NeedToKnowError
from graph.open import open_store
from graph.settings import Settings

__all__ = ["multiprocess_metrics", "serve", "settings_env"]

token_app = typer.Typer(help="Bearer tokens (stored hashed in the database).", no_args_is_help=True)
schema_app = typer.Typer(help="The GraphQL schema.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(schema_app, name="schema")


def settings_env(settings: ApiSettings) -> dict[str, str]:
    """The ``NTK_*`` variables that recreate `settings` in a worker process."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, dict | list):
            env[f"NTK_{name.upper()}"] = json.dumps(value)  # pydantic-settings reads complex values as JSON
        else:
            env[f"NTK_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def serve(settings: ApiSettings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the GraphQL server until interrupted.

    Parameters
    ----------
    settings : ApiSettings
    host, port : where to listen (loopback by default).
    workers : int
        Worker processes. With more than one, the graph is loaded once and the workers are
        forked from it, sharing its memory (`api.prefork`); each catches up from the shared
        SQLite journal before every read.
    """
    import uvicorn

    if workers <= 1:
        from api.app import create_app

        uvicorn.run(create_app(settings, freeze_heap=True), host=host, port=port, log_level="warning", access_log=False)
        return
    multiprocess_metrics(settings)
    from api.prefork import serve_forked  # imports the app: after the metrics directory is set

    sock = uvicorn.Config("api.app:app_from_env", host=host, port=port).bind_socket()
    # Why: in multi-process mode the workers' connections are left with Nagle's algorithm on,
    # and a response written as headers then body waits for the client's delayed ACK: a
    # steady ~44 ms per request (measured: 44 ms -> 0.9 ms for /healthz). Accepted sockets
    # inherit TCP_NODELAY from the listening socket on Linux.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        serve_forked(settings, sock, workers)
    finally:
        sock.close()


def multiprocess_metrics(settings: ApiSettings) -> None:
    """Point prometheus-client at a directory the workers share (before it is first imported:
    it picks its multiprocess mode then). Emptied first: files of an earlier run would be counted again."""
    metrics_dir = settings.metrics_dir or Path(tempfile.mkdtemp(prefix="ntk-metrics-"))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


@app.command("serve")
def serve_command(
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    graphiql: Annotated[bool, typer.Option("--graphiql", help="Serve GraphiQL (and allow introspection).")] = False,
) -> None:
    """Serve the GraphQL API (POST /graphql, /healthz, /readyz)."""
    base = settings_for(db, backend, neo4j_uri, neo4j_user, neo4j_database)
    settings = ApiSettings(**{**base.model_dump(), **({"graphiql": True} if graphiql else {})})
    if workers > 1:
        multiprocess_metrics(settings)
    from api.app import check_settings

    try:
        check_settings(settings)
    except ValueError as err:
        render.error(str(err))
        raise typer.Exit(2) from err
    render.console.print(f"needtoknow: serving {settings.db} on http://{host}:{port}/graphql with {workers} worker(s)")
    serve(settings, host, port, workers)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(r.value for r in Role)}.")],
    subject: Annotated[str | None, typer.Option("--subject", help="Provider or guardian id, or the application's name.")] = None,
    partner: Annotated[list[str] | None, typer.Option("--partner", help="Partner id an app acts for (repeatable).")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A note for `token list`.")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="90d, 12h, 30m, 2w or an ISO 8601 time (default 90 days).")] = None,
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """Create a token and print its secret once (only its SHA-256 is stored).

    The subject of a provider or guardian token, and an app's partners, must exist in the store.
    With the Neo4j backend the token lives in Neo4j and works on every API instance.
    """
    from api.cli.tokens import parse_expires

    settings = settings_for(db, backend, neo4j_uri, neo4j_user, neo4j_database)
    graph_store = None
    try:
        expires_at, lifetime = parse_expires(expires, settings.policy().default_time_zone)
        graph_store = open_store(settings)
        store = open_tokens(settings, graph_store)
        cmd = commands.CreateToken(role, subject, tuple(partner or ()), label, expires_at, lifetime)
        info, secret = commands.create_token(store, graph_store, cmd)
        store.close()
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        if graph_store is not None:
            graph_store.close()
    render.err_console.print(f"created {info.id} ({info.role}, expires {info.expires_at}); the secret is shown once:")
    print(secret)


def _token_store(settings: Settings) -> AnyTokenStore:
    """The token store the settings name; exit 2 with the reason when it cannot be opened."""
    try:
        return open_tokens(settings)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err


@token_app.command("list")
def token_list(
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """List tokens (never their secrets)."""
    store = _token_store(settings_for(db, backend, neo4j_uri, neo4j_user, neo4j_database))
    try:
        for t in store.list():
            state = f"revoked {t.revoked_at}" if t.revoked_at else f"expires {t.expires_at}" if t.expires_at else "active"
            state += f" (rotated to {t.replaced_by})" if t.replaced_by else ""
            partners = ",".join(t.partner_ids) or "-"
            render.console.print(f"{t.id}  {t.role:<8} subject={t.subject or '-'} partners={partners} {state}  {t.label or ''}")
    finally:
        store.close()


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="Token id (tok_...).")],
    db: DbOption = None,
    backend: BackendOption = None,
    neo4j_uri: Neo4jUriOption = None,
    neo4j_user: Neo4jUserOption = None,
    neo4j_database: Neo4jDatabaseOption = None,
) -> None:
    """Revoke a token: it stops working at once in every worker (every instance, with Neo4j)."""
    store = _token_store(settings_for(db, backend, neo4j_uri, neo4j_user, neo4j_database))
    try:
        commands.revoke_token(store, token_id)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    finally:
        store.close()
    render.console.print(f"revoked {token_id}")


@schema_app.command("export")
def schema_export(
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default: schema.graphql at the repo root).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 when the file differs.")] = False,
) -> None:
    """Write the SDL of the GraphQL schema."""
    from api.schema.__main__ import main

    raise typer.Exit(main([*([str(out)] if out else []), *(["--check"] if check else [])]))
