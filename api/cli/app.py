"""The typer application and the options every command shares."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli import render
from graph.errors import InputError, NeedToKnowError
from graph.settings import Settings
from graph.timeutil import check_instant, parse_instant, utcnow

__all__ = ["AT_HELP", "DbOption", "app", "parse_at", "settings_for"]

app = typer.Typer(
    name="needtoknow",
    help="Who may see a student's record, for what purpose, now — and why.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite journal file (env NTK_DB; default ./needtoknow.db).", show_default=False)
]
BackendOption = Annotated[str | None, typer.Option("--backend", help="networkx (default) or neo4j (env NTK_BACKEND).")]
Neo4jUriOption = Annotated[
    str | None, typer.Option("--neo4j-uri", help="bolt://host:7687 or neo4j://host:7687 for a cluster (env NTK_NEO4J_URI).")
]
Neo4jUserOption = Annotated[
    str | None,
    typer.Option(
        "--neo4j-user", help="Neo4j user (env NTK_NEO4J_USER); the password comes from NTK_NEO4J_PASSWORD or NTK_NEO4J_PASSWORD_FILE."
    ),
]
Neo4jDatabaseOption = Annotated[str | None, typer.Option("--neo4j-database", help="Neo4j database (env NTK_NEO4J_DATABASE).")]


def settings_for(
    db: Path | None = None,
    backend: str | None = None,
    neo4j_uri: str | None = None,
    neo4j_user: str | None = None,
    neo4j_database: str | None = None,
) -> Settings:
    """Settings from the environment, overridden by the command's options."""
    given = {"db": db, "backend": backend, "neo4j_uri": neo4j_uri, "neo4j_user": neo4j_user, "neo4j_database": neo4j_database}
    return Settings(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]


AT_HELP = (
    "ISO 8601 time with an offset (2026-01-20T09:00:00-07:00), or a date (2026-01-20) meaning local 00:00 "
    "of that day in the partnership's time zone (policy default_time_zone); default: now."
)


def parse_at(at: str | None, *, as_json: bool = False, option: str = "--at") -> datetime:
    """Every command's ``--at``: aware UTC; a bare date is local midnight in the policy's zone.

    The one place the CLI reads a time (docs/dates.md). Exits 2 with a message (JSON with
    ``as_json``) on a time without an offset, text that is not ISO 8601, an instant outside
    the range the engine answers about, or an unreadable policy file.
    """
    if not at:
        return utcnow()
    try:
        zone = settings_for().policy().default_time_zone
        return check_instant(parse_instant(at, zone))
    except (InputError, NeedToKnowError, ValueError, OSError) as err:
        render.error(f"{option}: {err}", as_json=as_json)
        raise typer.Exit(2) from err
