"""``needtoknow backup OUT``: an online copy of the embedded store (docs/operations.md, "Backup and restore")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli import render
from api.cli.app import DbOption, app, settings_for
from graph.errors import NeedToKnowError
from graph.stores.backup import online_backup

__all__ = ["backup"]


@app.command()
def backup(
    out: Annotated[Path, typer.Argument(help="The backup file to write (replaced atomically when it exists).")],
    db: DbOption = None,
) -> None:
    """Copy the SQLite store while servers keep running (SQLite's online backup); exit 2 on failure.

    Prints the copy's journal head (its consistency token) and the decisions it holds. With
    the Neo4j backend back up Neo4j with ``neo4j-admin database dump`` instead (docs/operations.md).
    """
    settings = settings_for(db)
    if settings.backend == "neo4j":
        render.error("the Neo4j backend keeps its data in Neo4j: use `neo4j-admin database dump` (docs/operations.md)")
        raise typer.Exit(2)
    try:
        report = online_backup(settings.db, out)
    except NeedToKnowError as err:
        render.error(f"{err}")
        raise typer.Exit(2) from err
    render.console.print(
        f"backed up {settings.db} to {report.path}: {report.bytes:,} bytes, journal head {report.journal_head} "
        f"(consistency token), {report.decisions:,} decisions"
    )
