"""``needtoknow snapshot``: write the embedded graph's snapshot so a restart replays only the journal's tail."""

from __future__ import annotations

import time

import typer

from api.cli import render
from api.cli.app import DbOption, app, settings_for
from graph.errors import NeedToKnowError
from graph.stores.memory import MemoryStore

__all__ = ["snapshot"]


@app.command()
def snapshot(db: DbOption = None) -> None:
    """Write ``<db>.snapshot``: the graph as of the journal's head, signed with the journal's key.

    Safe while servers run (it reads the journal like any worker). A server or command that opens
    the store later loads it and replays only what the journal holds after it; a snapshot that
    does not check out against the journal is ignored with a log line (docs/operations.md).
    Exit 2 on failure.
    """
    settings = settings_for(db)
    if settings.backend == "neo4j":
        render.error("the Neo4j backend keeps its graph in Neo4j: there is nothing to snapshot")
        raise typer.Exit(2)
    started = time.perf_counter()
    try:
        store = MemoryStore(settings.db)
        try:
            token, size = store.write_snapshot()
        finally:
            store.close()
    except (NeedToKnowError, OSError) as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    render.console.print(
        f"snapshot of {settings.db} at consistency token {token}: {store.snapshot_path}, {size:,} bytes, "
        f"{time.perf_counter() - started:.1f} s"
    )
